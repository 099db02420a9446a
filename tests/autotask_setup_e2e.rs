//! The setup job's Autotask half end to end: scheduler → FIFO queue → the real setup function →
//! the Autotask simulator → status (F2–F5, G1).

#[path = "acronis_support.rs"]
mod acronis_support;

use autotask_sim::{AutotaskSim, Seed, SimConfig, SimUser};
use chrono::{DateTime, TimeZone, Utc};
use e2e::deployment;
use local_runner::{LocalDeployment, put_secret};
use serde_json::{Value, json};
use sync_shared::Job;
use sync_shared::status::{IntegrationHealth, IntegrationStatus};

const API_USER: &str = "sync-api@example.com";
const API_SECRET: &str = "Sync-Api-Secret-77aa";
const API_CODE: &str = "SYNCINTEGRATIONCODE00000001";
const REGULAR_USER: &str = "jane.admin@example.com";
const BILLING_CODE: &str = "Acronis Recurring Services";
const F3_MESSAGE: &str = "Please create an API user with the integration name \"Contoso Sync\" and update current user credentials, according to the Autotask PSA API version 1.6 requirements.";
const SERVICES: [&str; 3] = [
    "Acronis Workstations",
    "Acronis Storage free",
    "Acronis Storage billed",
];

async fn simulator() -> AutotaskSim {
    let mut seed = Seed::default();
    seed.users
        .push(SimUser::api(API_USER, API_SECRET, API_CODE));
    seed.users
        .push(SimUser::regular(REGULAR_USER, "ui-password"));
    let sim = AutotaskSim::start(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    sim.with_db(|db| {
        db.insert(
            "BillingCodes",
            json!({"name": BILLING_CODE, "useType": 6, "isActive": true}),
        )
        .expect("billing code");
        // Exists already: mapped by name, never created again.
        db.insert(
            "Services",
            json!({"name": "Acronis Servers", "periodType": 1, "unitPrice": 5.0, "billingCodeID": 1, "isActive": true}),
        )
        .expect("service");
    });
    sim
}

/// The Acronis half of setup needs its data center too.
async fn acronis() -> acronis_sim::AcronisSim {
    acronis_support::start_sim(acronis_sim::SimConfig::example()).await
}

async fn integration(
    d: &LocalDeployment,
    sim: &AutotaskSim,
    acronis: &acronis_sim::AcronisSim,
    id: &str,
    user: &str,
    dry_run: bool,
) {
    d.put_json_item(json!({
        "pk": format!("INTEGRATION#{id}"),
        "sk": "SETTINGS",
        "integration_state": "enabled",
        "autotask_secret_name": format!("acronis-autotask-sync/{id}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{id}/acronis"),
        "autotask_integration_name": "Contoso Sync",
        "autotask_zone_lookup_url": sim.base_url(),
        "dry_run": dry_run,
        "features": {"default_allocation_code": BILLING_CODE, "default_period_type": "Quarterly"}
    }))
    .await
    .expect("settings");
    for item in [
        json!({"pk": format!("INTEGRATION#{id}"), "sk": "SERVICE#pw_base_workstations", "service": SERVICES[0]}),
        json!({"pk": format!("INTEGRATION#{id}"), "sk": "SERVICE#pw_base_servers", "service": "acronis servers"}),
        json!({"pk": format!("INTEGRATION#{id}"), "sk": "SERVICE#pw_base_storage#infra-1",
               "service": SERVICES[0],
               "storage_roles": {"class1_free": SERVICES[1], "class2_billed": SERVICES[2]}}),
    ] {
        d.put_json_item(item).await.expect("service mapping");
    }
    let secret = if user == API_USER {
        API_SECRET
    } else {
        "ui-password"
    };
    let code = if user == API_USER { API_CODE } else { "NOCODE" };
    put_secret(
        &d.clients.secrets,
        &format!("acronis-autotask-sync/{id}/autotask"),
        &json!({"username": user, "secret": secret, "api_integration_code": code}).to_string(),
    )
    .await
    .expect("autotask secret");
    put_secret(
        &d.clients.secrets,
        &format!("acronis-autotask-sync/{id}/acronis"),
        &json!({"client_id": acronis_support::CLIENT_ID, "client_secret": acronis_support::CLIENT_SECRET,
                "datacenter_url": acronis.base_url()}).to_string(),
    )
    .await
    .expect("acronis secret");
}

fn slot(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, minute, 0)
        .single()
        .expect("time")
}

/// One scheduled setup run of every enabled integration, as the deployed functions would do it.
async fn run_setup(d: &LocalDeployment, minute: u32) {
    d.tick(Job::Setup, slot(minute)).await.expect("tick");
    let drained = d.drain(Job::Setup, 10).await.expect("drain");
    assert_eq!(drained.messages_failed, 0, "{drained:?}");
}

async fn status(d: &LocalDeployment, id: &str) -> IntegrationStatus {
    d.store
        .status(id)
        .await
        .expect("status")
        .expect("a status item")
}

fn rows_named(sim: &AutotaskSim, entity: &str, name: &str) -> Vec<Value> {
    sim.with_db(|db| {
        db.rows(entity)
            .into_iter()
            .filter(|r| r.get("name").and_then(Value::as_str) == Some(name))
            .collect()
    })
}

#[tokio::test]
async fn setup_creates_the_payg_udf_and_the_named_services_once_over_two_runs() {
    let sim = simulator().await;
    let acronis = acronis().await;
    let d = deployment("atsetup").await;
    integration(&d, &sim, &acronis, "contoso", API_USER, false).await;

    run_setup(&d, 0).await;
    let first = status(&d, "contoso").await;
    assert_eq!(first.state, IntegrationHealth::Connected, "{first:?}");
    let counts = &first.jobs["setup"].counts;
    assert_eq!(counts["autotask_udfs_created"], 1, "{counts:?}");
    assert_eq!(counts["autotask_services_created"], 3, "{counts:?}");
    assert!(counts["autotask_requests"] > 0);
    assert_eq!(
        counts["autotask_slowed_calls"], 0,
        "well under the budget share"
    );
    assert!(
        first.message.contains("Autotask connected"),
        "{}",
        first.message
    );

    let udfs = rows_named(&sim, "UserDefinedFieldDefinitions", "Acronis PAYG");
    assert_eq!(udfs.len(), 1);
    assert_eq!(
        udfs[0]["udfType"],
        json!(autotask_sim::entities::UDF_TYPE_CONTRACT)
    );
    for name in SERVICES {
        let rows = rows_named(&sim, "Services", name);
        assert_eq!(rows.len(), 1, "{name} created once");
        assert_eq!(rows[0]["periodType"], json!(2), "Quarterly, read by label");
    }
    assert_eq!(rows_named(&sim, "Services", "Acronis Servers").len(), 1);

    sim.reset_request_log();
    run_setup(&d, 1).await;
    let second = status(&d, "contoso").await;
    assert_eq!(second.state, IntegrationHealth::Connected, "{second:?}");
    let counts = &second.jobs["setup"].counts;
    assert_eq!(counts["autotask_udfs_created"], 0);
    assert_eq!(counts["autotask_services_created"], 0);
    assert_eq!(
        rows_named(&sim, "UserDefinedFieldDefinitions", "Acronis PAYG").len(),
        1
    );
    for name in SERVICES {
        assert_eq!(rows_named(&sim, "Services", name).len(), 1, "{name}");
    }
    let log = sim.request_log();
    assert!(
        log.records
            .iter()
            .all(|r| r.method != "POST" || r.path.contains("/query")),
        "the second run only reads: {:?}",
        log.count_by_endpoint()
    );
    assert_eq!(
        log.records.len() as u64,
        counts["autotask_requests"],
        "every request is counted (the recorded zone spares the lookup)"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn dry_run_reports_what_setup_would_create_and_creates_nothing() {
    let sim = simulator().await;
    let acronis = acronis().await;
    let d = deployment("atdry").await;
    integration(&d, &sim, &acronis, "planned", API_USER, true).await;
    run_setup(&d, 0).await;
    let planned = status(&d, "planned").await;
    assert_eq!(planned.state, IntegrationHealth::Connected, "{planned:?}");
    let counts = &planned.jobs["setup"].counts;
    assert_eq!(counts["autotask_udfs_to_create"], 1);
    assert_eq!(counts["autotask_services_to_create"], 3);
    assert!(
        planned.message.contains("would create"),
        "{}",
        planned.message
    );
    assert!(rows_named(&sim, "UserDefinedFieldDefinitions", "Acronis PAYG").is_empty());
    assert!(rows_named(&sim, "Services", SERVICES[0]).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_regular_users_credentials_stop_the_integration_with_f3s_message() {
    let sim = simulator().await;
    let acronis = acronis().await;
    let d = deployment("atregular").await;
    integration(&d, &sim, &acronis, "regular", REGULAR_USER, false).await;
    run_setup(&d, 0).await;
    let stopped = status(&d, "regular").await;
    assert_eq!(stopped.state, IntegrationHealth::Stopped, "{stopped:?}");
    assert_eq!(stopped.message, F3_MESSAGE);
    assert!(rows_named(&sim, "UserDefinedFieldDefinitions", "Acronis PAYG").is_empty());

    // The MSP puts an API user's credentials in the secret. The refused secret was dropped from
    // the warm container's cache (its TTL is minutes), so the next run reads the new one.
    put_secret(
        &d.clients.secrets,
        "acronis-autotask-sync/regular/autotask",
        &json!({"username": API_USER, "secret": API_SECRET, "api_integration_code": API_CODE})
            .to_string(),
    )
    .await
    .expect("corrected secret");
    run_setup(&d, 1).await;
    let connected = status(&d, "regular").await;
    assert_eq!(
        connected.state,
        IntegrationHealth::Connected,
        "{connected:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_zone_change_stops_the_integration_until_the_zone_item_is_deleted() {
    let sim = simulator().await;
    let acronis = acronis().await;
    let d = deployment("atzone").await;
    integration(&d, &sim, &acronis, "moved", API_USER, false).await;
    run_setup(&d, 0).await;
    assert_eq!(
        status(&d, "moved").await.state,
        IntegrationHealth::Connected
    );
    let zone = d
        .store
        .get_item("INTEGRATION#moved", setup::autotask_setup::ZONE_SK)
        .await
        .expect("zone item")
        .expect("the zone is recorded");
    assert_eq!(
        zone.get("zone_url").and_then(|v| v.as_s().ok()),
        Some(&sim.base_url())
    );

    // The database moves: the old zone answers 401 and ZoneInformation names another zone.
    let new_zone = "https://webservices29.autotask.net/ATServicesRest/";
    sim.move_user_to_zone(API_USER, new_zone);
    run_setup(&d, 1).await;
    let stopped = status(&d, "moved").await;
    assert_eq!(stopped.state, IntegrationHealth::Stopped, "{stopped:?}");
    assert!(
        stopped.message.contains("migration is not supported")
            && stopped
                .message
                .contains("disable and re-enable the integration")
            && stopped.message.contains(new_zone),
        "{}",
        stopped.message
    );
    assert!(!stopped.message.contains(API_SECRET) && !stopped.message.contains(API_CODE));

    // Still stopped on the next run: the recorded zone is not silently replaced.
    run_setup(&d, 2).await;
    assert_eq!(status(&d, "moved").await.state, IntegrationHealth::Stopped);

    // Recovery: the database is reachable again and the person deletes the ZONE item.
    sim.move_user_to_zone(API_USER, &sim.base_url());
    d.store
        .client()
        .delete_item()
        .table_name(d.store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("INTEGRATION#moved".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ZONE".into()),
        )
        .send()
        .await
        .expect("delete the zone item");
    run_setup(&d, 3).await;
    assert_eq!(
        status(&d, "moved").await.state,
        IntegrationHealth::Connected
    );
    sim.shutdown().await;
}
