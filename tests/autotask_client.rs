//! The Autotask client against the simulator: paging, throttling, concurrency, conformance of
//! every body it sends, and secrets kept out of errors. No AWS stack needed.

use std::collections::BTreeSet;

use autotask_sim::{AutotaskSim, Knobs, Seed, SimConfig, SimUser};
use secrecy::SecretString;
use serde_json::{Value, json};
use sync_shared::autotask::{
    AutotaskClient, AutotaskError, ClientOptions, Company, ContractService, Filter, Paging, Query,
    SentRequest, Service, UserDefinedFieldDefinition,
};
use sync_shared::secrets::AutotaskCredentials;

const USER: &str = "client-test-api@example.com";
const SECRET: &str = "Client-Test-Secret-5d4c";
const CODE: &str = "CLIENTTESTINTEGRATIONCODE01";
const ROWS: usize = 1_234;

fn credentials(user: &str, secret: &str, code: &str) -> AutotaskCredentials {
    AutotaskCredentials {
        username: SecretString::from(user.to_string()),
        secret: SecretString::from(secret.to_string()),
        api_integration_code: SecretString::from(code.to_string()),
    }
}

async fn sim_with_companies(rows: usize) -> AutotaskSim {
    let mut seed = Seed::default();
    seed.users.push(SimUser {
        resource_id: Some(29_682_001),
        ..SimUser::api(USER, SECRET, CODE)
    });
    let sim = AutotaskSim::start(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    // A fresh database already has the root company (id 0): top up to exactly `rows`.
    sim.with_db(|db| {
        let existing = db.rows("Companies").len();
        db.insert(
            "UserDefinedFieldDefinitions",
            json!({"name": "Customer Ranking", "udfType": 1, "dataType": 1, "isActive": true}),
        )
        .expect("company udf");
        for n in existing..rows {
            db.insert(
                "Companies",
                json!({"companyName": format!("Company {n:05}"), "companyType": 1, "isActive": true}),
            )
            .expect("company row");
        }
    });
    sim
}

fn options(sim: &AutotaskSim) -> ClientOptions {
    let mut options =
        ClientOptions::new(sim.base_url(), "acronis-autotask-sync").with_fast_retries();
    options.record_requests = true;
    options
}

async fn connect(options: ClientOptions) -> AutotaskClient {
    AutotaskClient::connect(options, credentials(USER, SECRET, CODE), None)
        .await
        .expect("client connects")
}

fn thread_limit_rejections(sim: &AutotaskSim) -> usize {
    // The simulator answers a 4th concurrent call per endpoint with 500 Itgenatr005.
    sim.request_log()
        .records
        .iter()
        .filter(|r| r.status == 500)
        .count()
}

#[tokio::test]
async fn paging_returns_each_of_1234_rows_exactly_once_with_both_methods() {
    let sim = sim_with_companies(ROWS).await;
    let client = connect(options(&sim)).await;
    let expected: BTreeSet<i64> = sim.with_db(|db| {
        db.rows("Companies")
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_i64))
            .collect()
    });
    assert_eq!(expected.len(), ROWS);

    for paging in [Paging::NextPageUrl, Paging::IdGreaterThanLast] {
        sim.reset_request_log();
        let companies: Vec<Company> = client
            .query_all(&Query::all().fields(&["companyName"]), paging)
            .await
            .unwrap_or_else(|e| panic!("{paging:?}: {e}"));
        let ids: Vec<i64> = companies.iter().filter_map(|c| c.id).collect();
        let unique: BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(ids.len(), ROWS, "{paging:?}: every row once");
        assert_eq!(unique, expected, "{paging:?}: the same rows");
        assert_eq!(
            sim.request_log().records.len(),
            ROWS.div_ceil(500),
            "{paging:?}: one call per 500-row page: {:?}",
            sim.request_log().count_by_endpoint()
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_storm_ends_in_success_without_more_than_3_concurrent_calls() {
    let sim = sim_with_companies(ROWS).await;
    let client = connect(options(&sim)).await;
    // Nearly a third of all calls throttled; retries must carry every reader through. (At 0.5,
    // twelve 429s in a row for one of ~50 calls is a few-percent event: a flaky test.)
    sim.set_knobs(Knobs {
        random_429_probability: 0.3,
        rng_seed: 42,
        ..Knobs::default()
    });
    // Eight readers of one endpoint at once: the client must queue them, 3 at a time.
    let readers: Vec<_> = (0..8)
        .map(|n| {
            let client = client.clone();
            let paging = if n % 2 == 0 {
                Paging::NextPageUrl
            } else {
                Paging::IdGreaterThanLast
            };
            tokio::spawn(async move {
                client
                    .query_all::<Company>(&Query::all().fields(&["companyName"]), paging)
                    .await
            })
        })
        .collect();
    for reader in readers {
        let rows = reader
            .await
            .expect("task")
            .expect("query survives the storm");
        assert_eq!(rows.len(), ROWS);
    }
    let throttled = sim
        .request_log()
        .records
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert!(throttled > 5, "the storm happened: {throttled} answers 429");
    assert_eq!(
        thread_limit_rejections(&sim),
        0,
        "the client never had a 4th call in flight on Companies"
    );
    assert!(client.request_count() as usize >= 8 * 3 + throttled);

    // While the simulator holds requests, exactly 3 are in flight and the rest wait in the client.
    sim.set_knobs(Knobs::default());
    sim.hold_requests();
    let held: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.count("Companies", &Query::all()).await })
        })
        .collect();
    sim.wait_for_in_flight("Companies", 3).await;
    assert_eq!(sim.in_flight("Companies"), 3);
    sim.release_requests();
    for task in held {
        assert_eq!(task.await.expect("task").expect("count"), ROWS as u64);
    }
    assert_eq!(thread_limit_rejections(&sim), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_thread_limit_burst_from_another_process_ends_in_success() {
    let sim = sim_with_companies(10).await;
    let mut opts = options(&sim);
    opts.max_attempts = 200;
    let client = connect(opts).await;

    // Another process with the same tracking identifier holds all 3 threads of Companies.
    sim.hold_requests();
    let other = reqwest::Client::new();
    let url = format!("{}V1.0/Companies/query", sim.base_url());
    let foreign: Vec<_> = (0..3)
        .map(|_| {
            let request = other
                .post(&url)
                .header("ApiIntegrationCode", CODE)
                .header("UserName", USER)
                .header("Secret", SECRET)
                .json(&json!({"filter": [{"op": "exist", "field": "id"}]}));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    sim.wait_for_in_flight("Companies", 3).await;

    let ours = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .query_all::<Company>(&Query::all(), Paging::NextPageUrl)
                .await
        })
    };
    // Wait (bounded) until our client has been turned away a few times, then free the threads.
    let waited = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while thread_limit_rejections(&sim) < 3 {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the client was never turned away");
    sim.release_requests();
    for f in foreign {
        assert_eq!(f.await.expect("task").expect("foreign call"), 200);
    }
    let rows = ours
        .await
        .expect("task")
        .expect("our query succeeds after the burst");
    assert_eq!(rows.len(), 10);
    sim.shutdown().await;
}

/// The swagger template a sent path belongs to (a next page is the query's body again).
fn template_path(sent: &SentRequest) -> String {
    let path = sent.path.split('?').next().unwrap_or_default();
    path.strip_suffix("/next").unwrap_or(path).to_string()
}

#[tokio::test]
async fn every_body_the_client_sends_fits_the_swagger_model() {
    let sim = sim_with_companies(600).await;
    let client = connect(options(&sim)).await;
    let contract_id = sim.with_db(|db| {
        db.insert(
            "Contracts",
            json!({"companyID": 1, "contractName": "Recurring", "contractType": 7, "status": 1,
                   "startDate": "2026-01-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z"}),
        )
        .expect("contract")
    });
    let billing_code = sim.with_db(|db| {
        db.insert(
            "BillingCodes",
            json!({"name": "Recurring", "useType": 6, "isActive": true}),
        )
        .expect("billing code")
    });

    // Queries (both paging methods, a UDF filter, count), creates, a PATCH and a child create.
    client
        .query_all::<Company>(
            &Query::new(Filter::eq("isActive", true)).fields(&["companyName"]),
            Paging::NextPageUrl,
        )
        .await
        .expect("query");
    client
        .query_all::<Company>(&Query::all(), Paging::IdGreaterThanLast)
        .await
        .expect("query by id");
    client
        .query_all::<Company>(
            &Query::new(Filter::or(vec![
                Filter::begins_with("companyName", "Company 0001"),
                Filter::eq("Customer Ranking", "Gold").udf(),
            ])),
            Paging::NextPageUrl,
        )
        .await
        .expect("udf query");
    client
        .count("Companies", &Query::all())
        .await
        .expect("count");
    let udf_type = client
        .picklist_value("UserDefinedFieldDefinitions", "udfType", "Contract")
        .await
        .expect("udf type");
    let data_type = client
        .picklist_value("UserDefinedFieldDefinitions", "dataType", "String")
        .await
        .expect("data type");
    client
        .create(&UserDefinedFieldDefinition {
            name: Some("Acronis PAYG".into()),
            description: Some("Yes or No".into()),
            udf_type: Some(udf_type),
            data_type: Some(data_type),
            is_active: Some(true),
            ..Default::default()
        })
        .await
        .expect("udf create");
    let period = client
        .picklist_value("Services", "periodType", "Monthly")
        .await
        .expect("period type");
    let service_id = client
        .create(&Service {
            name: Some("Acronis Workstations".into()),
            period_type: Some(period),
            billing_code_id: Some(billing_code),
            unit_price: Some(0.0),
            is_active: Some(true),
            ..Default::default()
        })
        .await
        .expect("service create");
    client
        .patch(&Service {
            id: Some(service_id),
            unit_price: Some(12.5),
            ..Default::default()
        })
        .await
        .expect("service patch");
    client
        .create_child(
            "Contracts",
            contract_id,
            "Services",
            &ContractService {
                contract_id: Some(contract_id),
                service_id: Some(service_id),
                unit_price: Some(12.5),
                ..Default::default()
            },
        )
        .await
        .expect("child create");
    let unknown = client
        .picklist_value("Services", "periodType", "Fortnightly")
        .await
        .expect_err("unknown label");
    assert!(
        unknown.to_string().contains("Fortnightly") && unknown.to_string().contains("Monthly"),
        "the error names the label and the known ones: {unknown}"
    );

    let sent = client.sent_requests();
    let with_body: Vec<&SentRequest> = sent.iter().filter(|s| s.body.is_some()).collect();
    assert!(
        with_body.len() >= 10,
        "bodies recorded: {}",
        with_body.len()
    );
    for request in &with_body {
        let body = request.body.as_ref().expect("body");
        if let Err(problems) = autotask_sim::conformance::validate_request_body(
            &request.method,
            &template_path(request),
            body,
        ) {
            panic!(
                "{} {} sent {body}: {problems:?}",
                request.method, request.path
            );
        }
    }
    // The check has teeth: a property the swagger lacks is refused.
    let mut extra = with_body
        .iter()
        .find(|r| r.path.eq_ignore_ascii_case("V1.0/Services") && r.method == "POST")
        .and_then(|r| r.body.clone())
        .expect("a service create was sent");
    extra["acronisOfferingItem"] = json!("pw_base_workstations");
    assert!(
        autotask_sim::conformance::validate_request_body("POST", "V1.0/Services", &extra).is_err()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_name_no_secret_and_say_whether_to_retry() {
    let sim = sim_with_companies(1).await;
    let bad_secret = AutotaskClient::connect(
        options(&sim),
        credentials(USER, "Wrong-Secret-8e7f", CODE),
        None,
    )
    .await
    .expect("zone lookup needs no secret");
    let error = bad_secret
        .query_all::<Company>(&Query::all(), Paging::NextPageUrl)
        .await
        .expect_err("wrong secret");
    assert!(
        matches!(error, AutotaskError::Unauthorized { .. }),
        "{error:?}"
    );
    let text = format!(
        "{error} {error:?} {}",
        sync_shared::error::error_chain(&error)
    );
    for secret in [USER, "Wrong-Secret-8e7f", CODE] {
        assert!(!text.contains(secret), "`{secret}` leaked into: {text}");
    }
    assert!(!sync_shared::Classify::is_retryable(&error));

    let unknown_user = AutotaskClient::connect(
        options(&sim),
        credentials("nobody@example.com", SECRET, CODE),
        None,
    )
    .await
    .err()
    .expect("unknown user");
    assert!(!unknown_user.to_string().contains("nobody@example.com"));

    let wrong_code =
        AutotaskClient::connect(options(&sim), credentials(USER, SECRET, "OTHERCODE"), None)
            .await
            .expect("zone");
    let f3 = wrong_code.threshold().await.expect_err("wrong code");
    assert_eq!(
        f3.to_string(),
        "Please create an API user with the integration name \"acronis-autotask-sync\" and update current user credentials, according to the Autotask PSA API version 1.6 requirements."
    );
    let job_error: sync_shared::worker::JobError = f3.into();
    assert!(!sync_shared::Classify::is_retryable(&job_error));
    sim.shutdown().await;
}

/// G5: once `ThresholdInformation` shows more than the budget share used, background calls are
/// held back (counted for the run report); a foreground client and a higher share are not.
#[tokio::test]
async fn background_calls_slow_down_above_the_budget_share() {
    let sim = sim_with_companies(10).await;
    // Every authenticated call counts against this database's hour, ours and others'.
    sim.set_hourly_threshold(100);
    let budgeted = |background: bool, share: f64| {
        let mut options = options(&sim);
        options.background = background;
        options.slow_down_above_share = share;
        options.budget_check_every = 5;
        options
    };
    let background = connect(budgeted(true, 0.5)).await;
    let foreground = connect(budgeted(false, 0.5)).await;
    let generous = connect(budgeted(true, 0.9)).await;
    let read = |client: AutotaskClient| async move {
        client
            .query_all::<Company>(&Query::all().fields(&["companyName"]), Paging::NextPageUrl)
            .await
            .expect("companies are read");
    };

    // Under half the threshold: nobody is held back.
    for _ in 0..10 {
        read(background.clone()).await;
    }
    assert!(
        sim.requests_this_hour() < 50,
        "{}",
        sim.requests_this_hour()
    );
    assert!(!background.is_slowed_down());
    assert_eq!(background.slowed_call_count(), 0);

    // Another tool spends the budget past half; the next check sees it.
    for _ in 0..45 {
        read(foreground.clone()).await;
    }
    let used = sim.requests_this_hour();
    assert!((50..90).contains(&used), "between the two shares: {used}");
    for _ in 0..10 {
        read(background.clone()).await;
        read(generous.clone()).await;
    }
    assert!(background.is_slowed_down(), "at {used} of 100 used");
    assert!(
        background.slowed_call_count() >= 5,
        "{}",
        background.slowed_call_count()
    );
    assert!(!foreground.is_slowed_down() && foreground.slowed_call_count() == 0);
    assert_eq!(generous.slowed_call_count(), 0, "its share is 90%");
    assert!(sim.requests_this_hour() < 100, "no call was refused");
    sim.shutdown().await;
}
