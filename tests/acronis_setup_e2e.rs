//! Setup's Acronis connection check end to end on the local stack (scheduler → FIFO queue →
//! worker → status), with the Acronis and Autotask simulators standing in for the services.

#[path = "acronis_support.rs"]
mod acronis_support;

use acronis_sim::SimConfig;
use acronis_support::*;
use chrono::{TimeZone, Utc};
use e2e::{CapturedLogs, deployment};
use local_runner::{LocalDeployment, put_secret};
use serde_json::json;
use sync_shared::Job;
use sync_shared::status::IntegrationHealth;

const WRONG_SECRET: &str = "Wrong-Acronis-Secret-77";

async fn add_integration(
    d: &LocalDeployment,
    id: &str,
    zone_lookup_url: &str,
    acronis_secret: &str,
    datacenter_url: &str,
) {
    d.put_json_item(json!({
        "pk": format!("INTEGRATION#{id}"),
        "sk": "SETTINGS",
        "integration_state": "enabled",
        "autotask_secret_name": format!("acronis-autotask-sync/{id}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{id}/acronis"),
        "autotask_zone_lookup_url": zone_lookup_url,
    }))
    .await
    .expect("settings");
    let autotask = json!({"username": "acronis-api@example.com", "secret": "api-secret-1",
        "api_integration_code": "ACRONISSIMINTEGRATIONCODE01"});
    let acronis = json!({"client_id": CLIENT_ID, "client_secret": acronis_secret,
        "datacenter_url": datacenter_url});
    for (kind, value) in [("autotask", autotask), ("acronis", acronis)] {
        put_secret(
            &d.clients.secrets,
            &format!("acronis-autotask-sync/{id}/{kind}"),
            &value.to_string(),
        )
        .await
        .expect("secret");
    }
}

#[tokio::test]
async fn setup_shows_the_partner_tenant_a_wrong_secret_and_an_unreachable_data_center() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let acronis = start_sim(SimConfig::example()).await;
    let autotask = autotask_sim::AutotaskSim::start(autotask_sim::SimConfig {
        seed: autotask_sim::Seed::example().expect("autotask seed"),
        ..autotask_sim::SimConfig::default()
    })
    .await
    .expect("autotask-sim");
    let zone = autotask.zone_lookup_url();
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };

    let d = deployment("acsetup").await;
    add_integration(&d, "good", &zone, CLIENT_SECRET, &acronis.base_url()).await;
    add_integration(&d, "wrongsecret", &zone, WRONG_SECRET, &acronis.base_url()).await;
    let nowhere = format!("http://127.0.0.1:{closed_port}");
    add_integration(&d, "unreachable", &zone, CLIENT_SECRET, &nowhere).await;

    let slot = Utc
        .with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
        .single()
        .expect("time");
    let fan_out = d.tick(Job::Setup, slot).await.expect("tick");
    assert_eq!(fan_out.messages_sent, 3);
    let drained = d.drain(Job::Setup, 20).await.expect("drain");
    assert_eq!(drained.messages_failed, 0, "no run is left for retry");

    let status = |id: &'static str| {
        let d = &d;
        async move {
            d.store
                .status(id)
                .await
                .expect("status")
                .unwrap_or_else(|| panic!("{id} has no status"))
        }
    };
    let good = status("good").await;
    assert_eq!(good.state, IntegrationHealth::Connected, "{}", good.message);
    assert!(
        good.message.contains(&format!(
            "Acronis partner tenant \"Example MSP\" ({PARTNER})"
        )),
        "{}",
        good.message
    );
    let requests = good.jobs["setup"].counts["acronis_requests"];
    assert_eq!(requests, 3, "token, clients/{{id}}, tenants/{{id}}");

    let wrong = status("wrongsecret").await;
    assert_eq!(wrong.state, IntegrationHealth::Error);
    assert!(
        wrong.message.contains(
            "Acronis rejected the API client of secret `acronis-autotask-sync/wrongsecret/acronis`"
        ) && wrong
            .message
            .contains("check its client_id and client_secret"),
        "{}",
        wrong.message
    );
    assert_eq!(wrong.jobs["setup"].consecutive_failures, 1);

    let unreachable = status("unreachable").await;
    assert_eq!(unreachable.state, IntegrationHealth::Error);
    assert!(
        unreachable.message.contains(&format!(
            "Acronis data center {nowhere} is unreachable; check `datacenter_url` in secret `acronis-autotask-sync/unreachable/acronis`"
        )),
        "{}",
        unreachable.message
    );

    // F1: neither the Acronis client id nor a secret reaches the logs or the table.
    let logs = logs.text();
    let dump = format!(
        "{:?}",
        d.store
            .client()
            .scan()
            .table_name(d.store.table())
            .send()
            .await
            .expect("scan")
            .items()
    );
    for value in [CLIENT_ID, CLIENT_SECRET, WRONG_SECRET, "api-secret-1"] {
        assert!(!logs.contains(value), "{value} reached the logs");
        assert!(!dump.contains(value), "{value} reached the table");
    }
    acronis.shutdown().await;
    autotask.shutdown().await;
}
