//! The `autotask-sim` binary driven from outside, as a benchmark or a person would: every `/__sim`
//! hook over HTTP, command-line fault and latency flags, and concurrency figures of a known load.

use autotask_sim::hooks::HOOK_ROUTES;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "acronis-api@example.com";
const SECRET: &str = "api-secret-1";
const CODE: &str = "ACRONISSIMINTEGRATIONCODE01";
const CUSTOM_USER: &str = "custom-api@example.com";
const CUSTOM_SECRET: &str = "api-secret-2";
const CUSTOM_CODE: &str = "CUSTOMINTERNALINTEGRATION02";
const RECURRING_CONTRACT: i64 = 29682600;
const STORAGE_SERVICE: i64 = 29682401;

/// The running binary; killed when dropped, whatever the test's outcome.
struct SimProcess {
    child: Child,
    /// Kept open so the child never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// `http://127.0.0.1:PORT` (the `/__sim` root and the host of the REST root).
    root: String,
    /// `http://127.0.0.1:PORT/ATServicesRest/`.
    base_url: String,
    http: Client,
    /// Hooks called so far, as (method, path below `/__sim`).
    hooks_called: BTreeSet<(String, String)>,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(extra: &[&str]) -> SimProcess {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_autotask-sim"))
        .args(["--host", "127.0.0.1", "--port", "0", "--seed", seed])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("autotask-sim starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    // The guard exists before the first read, so a failed start still kills the child.
    let mut process = SimProcess {
        child,
        _stdout: BufReader::new(stdout),
        root: String::new(),
        base_url: String::new(),
        http: Client::new(),
        hooks_called: BTreeSet::new(),
    };
    let mut line = String::new();
    process
        ._stdout
        .read_line(&mut line)
        .expect("the listening line");
    let base_url = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("base_url="))
        .unwrap_or_else(|| panic!("no base_url in {line:?}"))
        .to_string();
    process.root = base_url
        .strip_suffix("/ATServicesRest/")
        .unwrap_or_else(|| panic!("unexpected base_url {base_url}"))
        .to_string();
    process.base_url = base_url;
    process
}

impl SimProcess {
    /// Calls a hook (`path` below `/__sim`, may carry a query) and records that it was called.
    async fn hook(&mut self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let bare = path.split('?').next().unwrap_or(path);
        self.hooks_called
            .insert((method.to_string(), bare.to_string()));
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}/__sim{path}", self.root));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("hook call");
        let status = response.status();
        let text = response.text().await.expect("hook body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn api_as(
        &self,
        (user, secret, code): (&str, &str, &str),
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url)
        };
        let mut request = self
            .http
            .request(method, url)
            .header("ApiIntegrationCode", code)
            .header("UserName", user)
            .header("Secret", secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api call");
        let status = response.status();
        let text = response.text().await.expect("api body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.api_as((USER, SECRET, CODE), method, path, body).await
    }
}

fn company_query(name: &str) -> Value {
    json!({"filter": [{"op": "eq", "field": "companyName", "value": name}]})
}

#[tokio::test]
async fn every_sim_hook_works_over_http_against_the_binary() {
    let mut sim = spawn(&[]);

    // Knobs: defaults, replaced by PUT, bad values refused.
    let (status, knobs) = sim.hook("GET", "/knobs", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(knobs["latency_ms"], 0);
    assert_eq!(knobs["rate_limit_probability"], 0.0);
    for bad in [
        json!({"rate_limit_probability": 1.5}),
        json!({"random_429_probability": 0.5}),
        json!({"timeout_after_apply_probability": -0.1}),
    ] {
        assert_eq!(
            sim.hook("PUT", "/knobs", Some(bad.clone())).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let wanted = json!({"latency_ms": 0, "rate_limit_probability": 1.0, "server_error_probability": 0.0,
        "timeout_probability": 0.0, "timeout_after_apply_probability": 0.0, "timeout_ms": 5, "random_seed": 11});
    assert_eq!(
        sim.hook("PUT", "/knobs", Some(wanted.clone())).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(sim.hook("GET", "/knobs", None).await.1, wanted);
    // Every API call is throttled now, but hooks are never faulted.
    assert_eq!(
        sim.api(Method::GET, "V1.0/Companies/0", None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..20 {
        assert_eq!(sim.hook("GET", "/threshold", None).await.0, StatusCode::OK);
    }
    assert_eq!(
        sim.hook("PUT", "/knobs", Some(json!({}))).await.0,
        StatusCode::NO_CONTENT,
        "an empty body restores the defaults"
    );

    // Request log: API calls only, with counts per method and entity; DELETE clears it.
    assert_eq!(
        sim.hook("DELETE", "/requests", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.api(Method::GET, "V1.0/Companies/0", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        sim.api(Method::GET, "V1.0/Contracts/29682600", None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = sim
        .api(
            Method::POST,
            "V1.0/Companies/query",
            Some(company_query("Contoso Ltd")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, log) = sim.hook("GET", "/requests", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log["counts"]["total"], 3, "{log:#}");
    assert_eq!(log["counts"]["by_method"], json!({"GET": 2, "POST": 1}));
    assert_eq!(
        log["counts"]["by_entity"],
        json!({"Companies": 2, "Contracts": 1})
    );
    assert_eq!(log["counts"]["by_status"], json!({"200": 3}));
    assert_eq!(
        log["items"][2],
        json!({"method": "POST", "path": "/ATServicesRest/V1.0/Companies/query", "entity": "Companies",
            "endpoint": "POST /V1.0/Companies/query", "status": 200, "fault": null})
    );
    assert_eq!(
        sim.hook("DELETE", "/requests", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.hook("GET", "/requests", None).await.1["items"],
        json!([])
    );

    // Threshold: hooks are never counted; PUT lowers the threshold and the next call gets 429.
    let (status, threshold) = sim.hook("GET", "/threshold", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        threshold,
        json!({"hourly_threshold": 10000, "requests_this_hour": 4})
    );
    let (status, threshold) = sim
        .hook("PUT", "/threshold", Some(json!({"hourly_threshold": 5})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        threshold,
        json!({"hourly_threshold": 5, "requests_this_hour": 4})
    );
    assert_eq!(
        sim.api(Method::GET, "V1.0/Companies/0", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        sim.api(Method::GET, "V1.0/Companies/0", None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sim.api(Method::GET, "V1.0/ThresholdInformation", None)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS,
        "the real API's own threshold report is an API call"
    );
    assert_eq!(
        sim.hook("GET", "/threshold", None).await.1,
        json!({"hourly_threshold": 5, "requests_this_hour": 5})
    );
    assert_eq!(
        sim.hook(
            "PUT",
            "/threshold",
            Some(json!({"hourly_threshold": "lots"}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    sim.hook(
        "PUT",
        "/threshold",
        Some(json!({"hourly_threshold": 10000})),
    )
    .await;

    // Seed at run time: a user, a company and a contract line; a bad seed changes nothing.
    let seed = json!({
        "users": [{"userName": "late-api@example.com", "secret": "late-secret", "kind": "api",
                   "integrationCode": "LATEINTEGRATIONCODE03"}],
        "entities": {"Companies": [{"companyName": "Seeded At Run Time", "companyType": 1}]},
        "contractServices": [{"contractID": RECURRING_CONTRACT, "serviceID": STORAGE_SERVICE, "units": 7}]
    });
    assert_eq!(
        sim.hook("POST", "/seed", Some(seed)).await.0,
        StatusCode::NO_CONTENT
    );
    let late = (
        "late-api@example.com",
        "late-secret",
        "LATEINTEGRATIONCODE03",
    );
    let (status, found) = sim
        .api_as(
            late,
            Method::POST,
            "V1.0/Companies/query",
            Some(company_query("Seeded At Run Time")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    let (_, lines) = sim
        .api(
            Method::POST,
            "V1.0/ContractServices/query",
            Some(json!({"filter": [{"op": "eq", "field": "serviceID", "value": STORAGE_SERVICE}]})),
        )
        .await;
    assert_eq!(lines["items"][0]["contractID"], RECURRING_CONTRACT);
    let half_bad = json!({"entities": {"Companies": [{"companyName": "Half Seeded", "companyType": 1},
        {"companyName": "Broken", "noSuchField": 1}]}});
    assert_eq!(
        sim.hook("POST", "/seed", Some(half_bad)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sim.hook("POST", "/seed", Some(json!({"colour": "blue"})))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let (_, none) = sim
        .api(
            Method::POST,
            "V1.0/Companies/query",
            Some(company_query("Half Seeded")),
        )
        .await;
    assert_eq!(none["items"], json!([]), "seeding is all or nothing");

    // Concurrency, hold and in_flight (a known load is in its own test below).
    let (status, figures) = sim.hook("GET", "/concurrency", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(figures["thread_limit"], 3);
    assert_eq!(
        figures["max_concurrent"], 1,
        "sequential calls: {figures:#}"
    );
    assert_eq!(figures["refused"], 0);
    assert_eq!(
        sim.hook("DELETE", "/concurrency", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.hook("GET", "/concurrency", None).await.1["items"],
        json!([])
    );
    assert_eq!(
        sim.hook("PUT", "/hold", Some(json!({"hold": false})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, in_flight) = sim.hook("GET", "/in_flight", None).await;
    assert_eq!(
        (status, in_flight),
        (StatusCode::OK, json!({"entity": null, "in_flight": 0}))
    );
    let (status, _) = sim
        .hook(
            "GET",
            "/in_flight?entity=Companies&at_least=1&timeout_ms=50",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);

    // Unknown hooks, wrong verbs, and no way in through the real API's paths.
    assert_eq!(
        sim.hook("GET", "/nothing", None).await.0,
        StatusCode::NOT_FOUND
    );
    sim.hooks_called.remove(&("GET".into(), "/nothing".into()));
    assert_eq!(
        sim.hook("POST", "/knobs", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    sim.hooks_called.remove(&("POST".into(), "/knobs".into()));
    for path in [
        "__sim/knobs",
        "V1.0/__sim/knobs",
        "V1.0/__sim/requests",
        "V1.0/Companies/__sim",
    ] {
        let (status, _) = sim.api(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(
        autotask_sim::served_routes()
            .iter()
            .all(|r| !r.template.to_ascii_lowercase().contains("__sim"))
    );

    let expected: BTreeSet<(String, String)> = HOOK_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        sim.hooks_called, expected,
        "every hook was driven over HTTP"
    );
}

#[tokio::test]
async fn command_line_faults_are_observed_at_their_rate_over_1000_requests() {
    let mut sim = spawn(&["--faults", "0.1", "--fault-seed", "7", "--timeout-ms", "1"]);
    let (_, knobs) = sim.hook("GET", "/knobs", None).await;
    assert_eq!(
        knobs,
        json!({"latency_ms": 0, "rate_limit_probability": 0.1, "server_error_probability": 0.1,
            "timeout_probability": 0.1, "timeout_after_apply_probability": 0.0, "timeout_ms": 1, "random_seed": 7})
    );
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    let mut sequence = Vec::new();
    for _ in 0..1000 {
        let (status, _) = sim.api(Method::GET, "V1.0/Companies/0", None).await;
        *seen.entry(status.as_u16()).or_default() += 1;
        sequence.push(status);
    }
    let (_, log) = sim.hook("GET", "/requests", None).await;
    let items = log["items"].as_array().expect("items");
    let faults = |name: &str| items.iter().filter(|r| r["fault"] == name).count();
    let within = |observed: usize| (60..=140).contains(&observed);
    eprintln!(
        "statuses over 1,000 requests: {seen:?}; held (timeout): {}",
        faults("timeout")
    );
    // 10 % each: binomial sd ≈ 9.5, so ±40 is over four sd (and the seed makes it repeatable).
    assert!(within(seen[&429]), "{seen:?}");
    assert!(within(seen[&500]), "{seen:?}");
    assert!(within(faults("timeout")), "{} timeouts", faults("timeout"));
    assert_eq!(faults("429"), seen[&429]);
    assert_eq!(faults("5xx"), seen[&500]);
    assert_eq!(seen[&200], 1000 - seen[&429] - seen[&500]);
    assert_eq!(
        log["counts"]["by_status"]["429"].as_u64(),
        Some(seen[&429] as u64)
    );

    // The same seed gives the same faults again.
    let again = json!({"rate_limit_probability": 0.1, "server_error_probability": 0.1,
        "timeout_probability": 0.1, "timeout_ms": 1, "random_seed": 7});
    sim.hook("PUT", "/knobs", Some(again)).await;
    for expected in sequence.iter().take(200) {
        let (status, _) = sim.api(Method::GET, "V1.0/Companies/0", None).await;
        assert_eq!(status, *expected);
    }
}

#[tokio::test]
async fn command_line_latency_delays_api_calls_but_not_hooks() {
    let mut sim = spawn(&["--latency-ms", "60"]);
    assert_eq!(sim.hook("GET", "/knobs", None).await.1["latency_ms"], 60);
    let started = Instant::now();
    assert_eq!(
        sim.api(Method::GET, "V1.0/Companies/0", None).await.0,
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(60));
    // A latency far beyond any scheduling noise: hooks answer without it.
    sim.hook("PUT", "/knobs", Some(json!({"latency_ms": 30_000})))
        .await;
    let started = Instant::now();
    assert_eq!(
        sim.hook("GET", "/concurrency", None).await.0,
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn concurrency_figures_match_a_known_load() {
    let mut sim = spawn(&[]);
    let acronis = (USER, SECRET, CODE);
    let custom = (CUSTOM_USER, CUSTOM_SECRET, CUSTOM_CODE);
    assert_eq!(
        sim.hook("PUT", "/hold", Some(json!({"hold": true})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    // Held: 3 Companies calls with one code, 1 with another, 2 Contracts calls.
    let load = [
        (acronis, "V1.0/Companies/0"),
        (acronis, "V1.0/Companies/0"),
        (acronis, "V1.0/Companies/0"),
        (custom, "V1.0/Companies/0"),
        (acronis, "V1.0/Contracts/29682600"),
        (acronis, "V1.0/Contracts/29682600"),
    ];
    let mut held = Vec::new();
    for (caller, path) in load {
        let (url, http) = (format!("{}{path}", sim.base_url), sim.http.clone());
        held.push(tokio::spawn(async move {
            http.get(url)
                .header("ApiIntegrationCode", caller.2)
                .header("UserName", caller.0)
                .header("Secret", caller.1)
                .send()
                .await
                .expect("held call")
                .status()
        }));
    }
    let (status, in_flight) = sim
        .hook("GET", "/in_flight?at_least=6&timeout_ms=60000", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{in_flight}");
    let (status, companies) = sim
        .hook("GET", "/in_flight?entity=companies&at_least=4", None)
        .await;
    assert_eq!(
        (status, companies["in_flight"].clone()),
        (StatusCode::OK, json!(4))
    );
    // A fourth Companies call of the first code is refused at once.
    let (status, body) = sim.api(Method::GET, "V1.0/Companies/0", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|m| m.starts_with("Itgenatr005"))
    );
    let (_, figures) = sim.hook("GET", "/concurrency", None).await;
    assert_eq!(figures["items"][0]["in_flight"], 3, "{figures:#}");
    sim.hook("PUT", "/hold", Some(json!({"hold": false}))).await;
    for call in held {
        assert_eq!(call.await.expect("task"), StatusCode::OK);
    }

    let (status, figures) = sim.hook("GET", "/concurrency", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        figures,
        json!({
            "thread_limit": 3, "max_concurrent": 3, "refused": 1,
            "max_by_entity": {"Companies": 3, "Contracts": 2},
            "items": [
                {"integration_code": CODE, "entity": "Companies", "max_concurrent": 3, "refused": 1, "in_flight": 0},
                {"integration_code": CODE, "entity": "Contracts", "max_concurrent": 2, "refused": 0, "in_flight": 0},
                {"integration_code": CUSTOM_CODE, "entity": "Companies", "max_concurrent": 1, "refused": 0, "in_flight": 0},
            ]
        })
    );

    // A new measuring period: one call at a time is a concurrency of 1.
    assert_eq!(
        sim.hook("DELETE", "/concurrency", None).await.0,
        StatusCode::NO_CONTENT
    );
    for _ in 0..3 {
        sim.api(Method::GET, "V1.0/Companies/0", None).await;
    }
    let (_, figures) = sim.hook("GET", "/concurrency", None).await;
    assert_eq!(figures["max_by_entity"], json!({"Companies": 1}));
    assert_eq!(figures["refused"], 0);
}

#[tokio::test]
async fn command_line_faults_after_apply_time_out_writes_that_happened() {
    let mut sim = spawn(&["--faults-after-apply", "1", "--timeout-ms", "3000"]);
    let (_, knobs) = sim.hook("GET", "/knobs", None).await;
    assert_eq!(knobs["timeout_after_apply_probability"], 1.0);
    assert_eq!(knobs["timeout_probability"], 0.0);
    assert_eq!(knobs["timeout_ms"], 3000);
    let impatient = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let outcome = impatient
        .post(format!("{}V1.0/ContractServiceAdjustments", sim.base_url))
        .header("ApiIntegrationCode", CODE)
        .header("UserName", USER)
        .header("Secret", SECRET)
        .json(
            &json!({"contractID": RECURRING_CONTRACT, "serviceID": STORAGE_SERVICE,
            "effectiveDate": "2026-05-01", "unitChange": 120}),
        )
        .send()
        .await;
    assert!(outcome.expect_err("the client times out").is_timeout());
    let (_, log) = sim.hook("GET", "/requests", None).await;
    assert_eq!(log["items"][0]["fault"], "timeout_after_apply");
    assert_eq!(log["items"][0]["status"], 200);
    assert_eq!(
        sim.hook("PUT", "/knobs", Some(json!({}))).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, units) = sim
        .api(
            Method::POST,
            "V1.0/ContractServiceUnits/query",
            Some(json!({"filter": [
                {"op": "in", "field": "contractID", "value": [RECURRING_CONTRACT]},
                {"op": "in", "field": "serviceID", "value": [STORAGE_SERVICE]},
                {"op": "lte", "field": "startDate", "value": "2026-05-01"},
                {"op": "gte", "field": "endDate", "value": "2026-05-01"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(units["items"][0]["units"], 120, "{units}");

    // The fault outcomes are disjoint: 3 × 0.3 + 0.2 > 1 is refused at start.
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let refused = Command::new(env!("CARGO_BIN_EXE_autotask-sim"))
        .args(["--port", "0", "--seed", seed])
        .args(["--faults", "0.3", "--faults-after-apply", "0.2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runs");
    assert_eq!(refused.code(), Some(2));
}
