//! The setup job end to end on the local stack: scheduler → FIFO queue → worker → status.

use chrono::{TimeZone, Utc};
use e2e::{CapturedLogs, deployment};
use local_runner::{LocalDeployment, put_secret};
use serde_json::{Value, json};
use sync_shared::status::{IntegrationHealth, RunState};
use sync_shared::{Job, JobMessage};

/// The simulators' example API user and API client: the credentials that connect.
const AUTOTASK_SECRET_VALUES: [&str; 3] = [
    "acronis-api@example.com",
    "api-secret-1",
    "ACRONISSIMINTEGRATIONCODE01",
];
const ACRONIS_SECRET_VALUES: [&str; 2] = ["3f9d2b7e-0000-4000-8000-0000000000c1", "example-secret"];

/// Both services, played by their simulators.
struct Services {
    autotask: autotask_sim::AutotaskSim,
    acronis: acronis_sim::AcronisSim,
}

impl Services {
    async fn start() -> Self {
        let autotask = autotask_sim::AutotaskSim::start(autotask_sim::SimConfig {
            seed: autotask_sim::Seed::example().expect("autotask seed"),
            ..autotask_sim::SimConfig::default()
        })
        .await
        .expect("autotask-sim");
        let acronis = acronis_sim::AcronisSim::start(acronis_sim::SimConfig::example())
            .await
            .expect("acronis-sim");
        Services { autotask, acronis }
    }
}

fn settings(id: &str, services: &Services) -> Value {
    json!({
        "pk": format!("INTEGRATION#{id}"),
        "sk": "SETTINGS",
        "integration_state": "enabled",
        "autotask_secret_name": format!("acronis-autotask-sync/{id}/autotask"),
        "acronis_secret_name": format!("acronis-autotask-sync/{id}/acronis"),
        "autotask_zone_lookup_url": services.autotask.zone_lookup_url(),
        "usage_reporting": {"period": "custom_billing_month", "billing_day": 15}
    })
}

async fn create_secrets(d: &LocalDeployment, id: &str, services: &Services) {
    let [username, secret, code] = AUTOTASK_SECRET_VALUES;
    let autotask = json!({"username": username, "secret": secret, "api_integration_code": code});
    let [client_id, client_secret] = ACRONIS_SECRET_VALUES;
    let acronis = json!({"client_id": client_id, "client_secret": client_secret, "datacenter_url": services.acronis.base_url()});
    put_secret(
        &d.clients.secrets,
        &format!("acronis-autotask-sync/{id}/autotask"),
        &autotask.to_string(),
    )
    .await
    .expect("autotask secret");
    put_secret(
        &d.clients.secrets,
        &format!("acronis-autotask-sync/{id}/acronis"),
        &acronis.to_string(),
    )
    .await
    .expect("acronis secret");
}

/// Every status and run report of the table, for before/after comparisons.
async fn snapshot(d: &LocalDeployment, ids: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        out.push(format!("{:?}", d.store.status(id).await.expect("status")));
        out.push(format!("{:?}", d.store.runs(id).await.expect("runs")));
    }
    out
}

async fn table_dump(d: &LocalDeployment) -> String {
    let scan = d
        .store
        .client()
        .scan()
        .table_name(d.store.table())
        .send()
        .await
        .expect("scan");
    format!("{:?}", scan.items())
}

#[tokio::test]
async fn valid_malformed_and_secretless_integrations_get_their_statuses_and_duplicates_change_nothing()
 {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let services = Services::start().await;
    let d = deployment("setup3").await;

    d.put_json_item(settings("valid", &services))
        .await
        .expect("valid settings");
    create_secrets(&d, "valid", &services).await;

    let mut malformed = settings("malformed", &services);
    malformed["usage_reporting"]["billing_day"] = json!(31);
    d.put_json_item(malformed)
        .await
        .expect("malformed settings");
    create_secrets(&d, "malformed", &services).await;

    // Its secret is never created.
    d.put_json_item(settings("secretless", &services))
        .await
        .expect("secretless settings");

    let slot = Utc
        .with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .expect("time");
    let fan_out = d.tick(Job::Setup, slot).await.expect("tick");
    assert_eq!(fan_out.messages_sent, 3);

    let batch = d.receive_batch(Job::Setup).await.expect("receive");
    assert_eq!(batch.len(), 3, "one message per integration");

    let first = d.invoke(Job::Setup, batch.clone()).await;
    assert!(
        first.batch_item_failures.is_empty(),
        "permanent errors are not retried: {first:?}"
    );
    let ids = ["valid", "malformed", "secretless"];
    let after_first = snapshot(&d, &ids).await;

    // At-least-once delivery: every message again, before and after it was deleted.
    let second = d.invoke(Job::Setup, batch.clone()).await;
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(
        snapshot(&d, &ids).await,
        after_first,
        "a second delivery changed something"
    );
    d.settle_batch(Job::Setup, &batch, &second)
        .await
        .expect("settle");
    // A repeated schedule tick for the same slot: SQS deduplicates within 5 minutes (moto only
    // while the first copy is queued); past that, the run records make the copies no-ops.
    d.tick(Job::Setup, slot).await.expect("second tick");
    let drained = d.drain(Job::Setup, 10).await.expect("drain");
    assert_eq!(drained.messages_failed, 0);
    assert_eq!(
        snapshot(&d, &ids).await,
        after_first,
        "a repeated tick changed something"
    );

    let valid = d
        .store
        .status("valid")
        .await
        .expect("status")
        .expect("valid has a status");
    assert_eq!(valid.state, IntegrationHealth::Connected, "{valid:?}");
    assert_eq!(valid.jobs["setup"].consecutive_failures, 0);
    assert!(valid.jobs["setup"].last_success_at.is_some());

    let malformed = d
        .store
        .status("malformed")
        .await
        .expect("status")
        .expect("malformed has a status");
    assert_eq!(malformed.state, IntegrationHealth::Error);
    for needle in [
        "INTEGRATION#malformed / SETTINGS",
        "usage_reporting.billing_day",
        "31",
        "1 to 28",
    ] {
        assert!(
            malformed.message.contains(needle),
            "`{needle}` not in: {}",
            malformed.message
        );
    }

    let secretless = d
        .store
        .status("secretless")
        .await
        .expect("status")
        .expect("secretless has a status");
    assert_eq!(secretless.state, IntegrationHealth::Error);
    assert!(
        secretless
            .message
            .contains("acronis-autotask-sync/secretless/autotask")
            && secretless.message.contains("does not exist"),
        "{}",
        secretless.message
    );
    assert_eq!(secretless.jobs["setup"].consecutive_failures, 1);

    let runs = d.store.runs("valid").await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_state, RunState::Succeeded);
    assert_eq!(
        d.store.runs("malformed").await.expect("runs")[0].run_state,
        RunState::Failed
    );

    // F1: no secret value in logs, statuses or run reports.
    let logs = logs.text();
    assert!(logs.contains("run succeeded"), "logs were not captured");
    let dump = table_dump(&d).await;
    for value in AUTOTASK_SECRET_VALUES.iter().chain(&ACRONIS_SECRET_VALUES) {
        assert!(!logs.contains(value), "a secret value reached the logs");
        assert!(!dump.contains(value), "a secret value reached the table");
    }
}

#[tokio::test]
async fn a_malformed_secret_and_a_bad_mapping_are_named() {
    let services = Services::start().await;
    let d = deployment("setupbad").await;
    d.put_json_item(settings("badsecret", &services))
        .await
        .expect("settings");
    create_secrets(&d, "badsecret", &services).await;
    // The Acronis secret loses a field, and holds a value that must not be quoted back.
    put_secret(
        &d.clients.secrets,
        "acronis-autotask-sync/badsecret/acronis",
        &json!({"client_id": 12345, "client_secret": "example-secret", "datacenter_url": "https://x.invalid"}).to_string(),
    )
    .await
    .expect("secret");

    d.put_json_item(settings("badmapping", &services))
        .await
        .expect("settings");
    create_secrets(&d, "badmapping", &services).await;
    d.put_json_item(
        json!({"pk": "INTEGRATION#badmapping", "sk": "CUSTOMER#1234", "company_name": "No tenant"}),
    )
    .await
    .expect("mapping");
    d.put_json_item(json!({"pk": "INTEGRATION#badmapping", "sk": "SERVICE#pw_base_servers", "service": "Servers", "servce_bundle": "typo"}))
        .await
        .expect("mapping");

    let slot = Utc
        .with_ymd_and_hms(2026, 11, 24, 13, 0, 0)
        .single()
        .expect("time");
    d.tick(Job::Setup, slot).await.expect("tick");
    d.drain(Job::Setup, 10).await.expect("drain");

    let bad_secret = d
        .store
        .status("badsecret")
        .await
        .expect("status")
        .expect("status");
    assert_eq!(bad_secret.state, IntegrationHealth::Error);
    assert!(bad_secret.message.contains("secret `acronis-autotask-sync/badsecret/acronis` is malformed: field `client_id` is not a string"), "{}", bad_secret.message);
    assert!(!bad_secret.message.contains("example-secret"));

    let bad_mapping = d
        .store
        .status("badmapping")
        .await
        .expect("status")
        .expect("status");
    let message = &bad_mapping.message;
    assert!(
        message.contains("INTEGRATION#badmapping / CUSTOMER#1234: field `tenant`: is missing"),
        "{message}"
    );
    assert!(
        message.contains(
            "INTEGRATION#badmapping / SERVICE#pw_base_servers: field `servce_bundle`: unknown field"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn only_enabled_integrations_are_scheduled_and_a_job_without_queue_is_refused() {
    let services = Services::start().await;
    let d = deployment("sched").await;
    d.put_json_item(settings("on", &services))
        .await
        .expect("settings");
    let mut off = settings("off", &services);
    off["integration_state"] = json!("disabled");
    d.put_json_item(off).await.expect("settings");
    // Only SETTINGS items name integrations, whatever else carries the index attribute.
    d.put_json_item(json!({"pk": "INTEGRATION#on", "sk": "NOTE", "integration_state": "enabled"}))
        .await
        .expect("other item");

    let slot = Utc
        .with_ymd_and_hms(2026, 11, 24, 14, 0, 0)
        .single()
        .expect("time");
    let fan_out = d.tick(Job::Setup, slot).await.expect("tick");
    assert_eq!(
        (
            fan_out.integrations,
            fan_out.messages_sent,
            fan_out.sqs_calls
        ),
        (1, 1, 1)
    );
    let batch = d.receive_batch(Job::Setup).await.expect("receive");
    let bodies: Vec<JobMessage> = batch
        .iter()
        .map(|m| serde_json::from_str(m.body.as_deref().unwrap_or_default()).expect("body"))
        .collect();
    assert_eq!(
        bodies
            .iter()
            .map(|m| m.integration_id.as_str())
            .collect::<Vec<_>>(),
        ["on"]
    );
    assert_eq!(
        batch[0]
            .attributes
            .get("MessageGroupId")
            .map(String::as_str),
        Some("on")
    );

    let mut scheduler = d.scheduler();
    scheduler.queues.0.clear();
    let refused = scheduler
        .fan_out(&scheduler::ScheduleInput {
            job: Job::Setup,
            scheduled_time: slot,
        })
        .await
        .expect_err("no queue");
    assert_eq!(
        refused.to_string(),
        "no queue is configured for job setup (set SETUP_QUEUE_URL)"
    );
}
