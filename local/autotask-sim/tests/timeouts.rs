//! The two timeout knobs: `timeout_probability` holds a request *before* it is processed;
//! `timeout_after_apply_probability` processes it and then holds the answer, so a client that
//! gives up sees a timeout although its write happened (the risk of non-idempotent writes).

use autotask_sim::{AutotaskSim, Knobs, Seed, SimConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const USER: &str = "acronis-api@example.com";
const SECRET: &str = "api-secret-1";
const CODE: &str = "ACRONISSIMINTEGRATIONCODE01";
const CONTOSO: i64 = 29682200;
const RECURRING_CONTRACT: i64 = 29682600;
const WORKSTATION_SERVICE: i64 = 29682400;

async fn start() -> AutotaskSim {
    let config = SimConfig {
        seed: Seed::example().expect("example seed parses"),
        ..SimConfig::default()
    };
    AutotaskSim::start(config).await.expect("simulator starts")
}

/// Sends a request with a client-side timeout; `Err` when the client gave up.
async fn send(
    sim: &AutotaskSim,
    timeout: Duration,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let client = Client::builder().timeout(timeout).build()?;
    let mut request = client
        .request(method, format!("{}{path}", sim.base_url()))
        .header("ApiIntegrationCode", CODE)
        .header("UserName", USER)
        .header("Secret", SECRET);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Units of the workstation line on `date`, by the query a usage job makes.
async fn units_on(sim: &AutotaskSim, date: &str) -> Vec<i64> {
    let query = json!({"filter": [
        {"op": "in", "field": "contractID", "value": [RECURRING_CONTRACT]},
        {"op": "in", "field": "serviceID", "value": [WORKSTATION_SERVICE]},
        {"op": "lte", "field": "startDate", "value": date},
        {"op": "gte", "field": "endDate", "value": date}]});
    let (status, body) = send(
        sim,
        Duration::from_secs(10),
        Method::POST,
        "V1.0/ContractServiceUnits/query",
        Some(query),
    )
    .await
    .expect("units query");
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["units"].as_i64().expect("units"))
        .collect()
}

#[tokio::test]
async fn timeout_after_apply_the_write_happened_although_the_client_timed_out() {
    let sim = start().await;
    assert_eq!(units_on(&sim, "2026-05-10").await, [5]);
    let hold = Duration::from_secs(3);
    sim.set_knobs(Knobs {
        timeout_after_apply_probability: 1.0,
        timeout_hold: hold,
        ..Knobs::default()
    });
    sim.reset_request_log();

    // The client gives up long before the answer comes.
    let started = Instant::now();
    let adjustment = json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE,
        "effectiveDate": "2026-05-10", "unitChange": 2});
    let outcome = send(
        &sim,
        Duration::from_millis(300),
        Method::POST,
        "V1.0/ContractServiceAdjustments",
        Some(adjustment),
    )
    .await;
    let error = outcome.expect_err("the client times out");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < hold);

    // Still within the hold: the adjustment is applied, logged with its real outcome, and its
    // thread slot is free.
    assert_eq!(sim.with_db(|db| db.adjustments().len()), 1);
    let log = sim.request_log();
    assert_eq!(log.records.len(), 1);
    let record = &log.records[0];
    assert_eq!(record.endpoint, "POST /V1.0/ContractServiceAdjustments");
    assert_eq!(record.status, 200);
    assert_eq!(record.fault.as_deref(), Some("timeout_after_apply"));
    assert_eq!(sim.in_flight("ContractServiceAdjustments"), 0);

    // A ticket POSTed under the same knob exists too.
    let ticket = json!({"companyID": CONTOSO, "title": "Backup failed: CONTOSO-DC01",
        "status": 1, "priority": 2, "externalID": "alert-1"});
    let outcome = send(
        &sim,
        Duration::from_millis(300),
        Method::POST,
        "V1.0/Tickets",
        Some(ticket),
    )
    .await;
    assert!(outcome.expect_err("times out").is_timeout());

    // Afterwards, without faults, the units show the adjustment from its date on.
    sim.set_knobs(Knobs::default());
    assert_eq!(units_on(&sim, "2026-05-09").await, [5]);
    assert_eq!(units_on(&sim, "2026-05-10").await, [7]);
    assert_eq!(units_on(&sim, "2026-06-15").await, [7]);
    let (status, tickets) = send(
        &sim,
        Duration::from_secs(10),
        Method::POST,
        "V1.0/Tickets/query",
        Some(json!({"filter": [{"op": "eq", "field": "externalID", "value": "alert-1"}]})),
    )
    .await
    .expect("ticket query");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tickets["items"].as_array().expect("items").len(), 1);
    // A retry of the same adjustment is not idempotent: it adds again.
    let (status, _) = send(
        &sim,
        Duration::from_secs(10),
        Method::POST,
        "V1.0/ContractServiceAdjustments",
        Some(
            json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE,
            "effectiveDate": "2026-05-10", "unitChange": 2}),
        ),
    )
    .await
    .expect("retry");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(units_on(&sim, "2026-05-10").await, [9]);
}

#[tokio::test]
async fn timeout_after_apply_answers_normally_to_a_patient_client() {
    let sim = start().await;
    let hold = Duration::from_millis(800);
    sim.set_knobs(Knobs {
        timeout_after_apply_probability: 1.0,
        timeout_hold: hold,
        ..Knobs::default()
    });
    let started = Instant::now();
    let (status, body) = send(
        &sim,
        Duration::from_secs(10),
        Method::POST,
        "V1.0/ContractServiceAdjustments",
        Some(
            json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE,
            "effectiveDate": "2026-03-01", "unitChange": 1}),
        ),
    )
    .await
    .expect("answered");
    assert!(started.elapsed() >= hold);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["itemId"].is_i64());
    // A refused write is refused the same way, just late.
    let (status, body) = send(
        &sim,
        Duration::from_secs(10),
        Method::POST,
        "V1.0/ContractServiceAdjustments",
        Some(
            json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE,
            "effectiveDate": "2026-03-01", "unitChange": -100}),
        ),
    )
    .await
    .expect("answered");
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(sim.with_db(|db| db.adjustments().len()), 1);
}

#[tokio::test]
async fn timeout_before_apply_does_nothing_for_a_client_that_gives_up() {
    let sim = start().await;
    let hold = Duration::from_millis(700);
    sim.set_knobs(Knobs {
        timeout_probability: 1.0,
        timeout_hold: hold,
        ..Knobs::default()
    });
    let outcome = send(
        &sim,
        Duration::from_millis(200),
        Method::POST,
        "V1.0/ContractServiceAdjustments",
        Some(
            json!({"contractID": RECURRING_CONTRACT, "serviceID": WORKSTATION_SERVICE,
            "effectiveDate": "2026-05-10", "unitChange": 2}),
        ),
    )
    .await;
    assert!(outcome.expect_err("times out").is_timeout());
    // Well past the hold: the request was dropped with the connection, never processed.
    tokio::time::sleep(hold * 2).await;
    sim.set_knobs(Knobs::default());
    assert_eq!(sim.with_db(|db| db.adjustments().len()), 0);
    assert_eq!(units_on(&sim, "2026-05-10").await, [5]);
}
