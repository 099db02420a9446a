//! The `acronis-sim` binary driven from outside, as a benchmark or a person would: every `/__sim`
//! hook over HTTP, command-line fault and latency flags, and concurrency figures of a known load.

use acronis_sim::routes::{HOOK_PREFIX, SERVED_ROUTES, hook_routes};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const PARTNER: &str = "7c2e4a10-0000-4000-8000-000000000001";
const CONTOSO: &str = "7c2e4a10-0000-4000-8000-000000000002";
const CLIENT_ID: &str = "3f9d2b7e-0000-4000-8000-0000000000c1";
const CLIENT_SECRET: &str = "example-secret";

/// The running binary; killed when dropped, whatever the test's outcome.
struct SimProcess {
    child: Child,
    /// Kept open so the child never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// The data-center URL, `http://127.0.0.1:PORT`.
    url: String,
    http: Client,
    /// Hooks called so far, as (method, path template below `/__sim`).
    hooks_called: BTreeSet<(String, String)>,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(extra: &[&str]) -> SimProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acronis-sim"))
        .args(["--host", "127.0.0.1", "--port", "0", "--example-seed"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("acronis-sim starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    // The guard exists before the first read, so a failed start still kills the child.
    let mut process = SimProcess {
        child,
        _stdout: BufReader::new(stdout),
        url: String::new(),
        http: Client::new(),
        hooks_called: BTreeSet::new(),
    };
    let mut line = String::new();
    process
        ._stdout
        .read_line(&mut line)
        .expect("the listening line");
    process.url = line
        .trim()
        .strip_prefix("acronis-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    process
}

/// The hook template a concrete hook path is served by (`/alerts/ABC/resolve` → `/alerts/{id}/resolve`).
fn hook_template(method: &str, path: &str) -> Option<&'static str> {
    let wanted: Vec<&str> = path.split('/').collect();
    hook_routes()
        .into_iter()
        .filter(|(m, _)| *m == method)
        .map(|(_, template)| template)
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == wanted.len()
                && parts
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| t.starts_with('{') || t == w)
        })
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl SimProcess {
    /// Calls a hook (`path` below `/__sim`, may carry a query) and records which hook it was.
    async fn hook(&mut self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let bare = path.split('?').next().unwrap_or(path);
        if let Some(template) = hook_template(method, bare) {
            self.hooks_called
                .insert((method.to_string(), template.to_string()));
        }
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{HOOK_PREFIX}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    async fn token(&self) -> (StatusCode, String) {
        let (status, body) = send(
            self.http
                .post(format!("{}/api/2/idp/token", self.url))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
        (
            status,
            body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }

    async fn api(&self, token: &str, method: Method, path: &str) -> (StatusCode, Value) {
        send(
            self.http
                .request(method, format!("{}{path}", self.url))
                .bearer_auth(token),
        )
        .await
    }
}

#[tokio::test]
async fn every_sim_hook_works_over_http_against_the_binary() {
    let mut sim = spawn(&[]);
    let (status, token) = sim.token().await;
    assert_eq!(status, StatusCode::OK);
    let tenant_path = format!("/api/2/tenants/{PARTNER}");

    // Knobs: defaults, replaced by PUT, bad values refused; hooks are never faulted.
    let (status, knobs) = sim.hook("GET", "/knobs", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(knobs["rate_limit_probability"], 0.0);
    for bad in [
        json!({"rate_limit_probability": 1.5}),
        json!({"random_429_probability": 0.5}),
    ] {
        assert_eq!(
            sim.hook("PUT", "/knobs", Some(bad.clone())).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let wanted = json!({"latency_ms": 0, "rate_limit_probability": 1.0, "server_error_probability": 0.0,
        "timeout_probability": 0.0, "timeout_ms": 5, "random_seed": 11});
    assert_eq!(
        sim.hook("PUT", "/knobs", Some(wanted.clone())).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(sim.hook("GET", "/knobs", None).await.1, wanted);
    assert_eq!(
        sim.api(&token, Method::GET, &tenant_path).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..20 {
        assert_eq!(sim.hook("GET", "/state", None).await.0, StatusCode::OK);
    }
    assert_eq!(
        sim.hook("PUT", "/knobs", Some(json!({}))).await.0,
        StatusCode::NO_CONTENT
    );

    // Request log: API calls only, with counts; DELETE clears it.
    assert_eq!(
        sim.hook("DELETE", "/requests", None).await.0,
        StatusCode::NO_CONTENT
    );
    sim.api(&token, Method::GET, &tenant_path).await;
    sim.api(&token, Method::GET, &format!("/api/2/tenants/{CONTOSO}"))
        .await;
    sim.api(&token, Method::GET, "/api/alert_manager/v1/alerts")
        .await;
    let (status, log) = sim.hook("GET", "/requests", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        log["counts"],
        json!({"total": 3, "by_method": {"GET": 3}, "by_status": {"200": 3},
            "by_route": {"GET /api/2/tenants/{tenant_id}": 2, "GET /api/alert_manager/v1/alerts": 1}})
    );
    assert_eq!(log["items"][0]["fault"], Value::Null);
    sim.hook("DELETE", "/requests", None).await;
    assert_eq!(
        sim.hook("GET", "/requests", None).await.1["items"],
        json!([])
    );

    // Alerts raised, re-raised and resolved by "the platform".
    let (status, raised) = sim
        .hook(
            "POST",
            "/alerts",
            Some(
                json!({"tenant_id": CONTOSO, "type": "BackupFailed", "context": {"planId": "p-1"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let alert = raised["id"].as_str().expect("id").to_string();
    let alert_path = format!("/api/alert_manager/v1/alerts/{alert}");
    assert_eq!(
        sim.hook(
            "POST",
            &format!("/alerts/{alert}/reraise"),
            Some(json!({"details": {"n": 2}}))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.api(&token, Method::GET, &alert_path).await.1["details"],
        json!({"n": 2, "planId": "p-1"}),
        "the context is merged into details"
    );
    assert_eq!(
        sim.hook("POST", &format!("/alerts/{alert}/resolve"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.api(&token, Method::GET, &alert_path).await.0,
        StatusCode::NOT_FOUND,
        "resolved alerts are hidden unless show_deleted"
    );
    let (_, resolved) = sim
        .api(
            &token,
            Method::GET,
            &format!("{alert_path}?show_deleted=true"),
        )
        .await;
    assert!(resolved["deletedAt"].is_string(), "{resolved}");

    // Usage measured by "the platform".
    assert_eq!(
        sim.hook(
            "PUT",
            "/usages",
            Some(json!({"tenant_id": CONTOSO, "name": "pw_base_servers", "value": 4}))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, usages) = sim
        .api(
            &token,
            Method::GET,
            &format!("/api/2/tenants/{CONTOSO}/usages"),
        )
        .await;
    assert!(
        usages["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|row| row["name"] == "pw_base_servers" && row["value"] == 4)
    );

    // Seed at run time, then the state dump shows it.
    let new_tenant = "7c2e4a10-0000-4000-8000-0000000000aa";
    let seed = json!({"tenants": [{"id": new_tenant, "name": "Seeded Later", "kind": "customer", "parent_id": PARTNER}],
        "users": [{"tenant_id": new_tenant, "login": "late@seeded.example", "email": "late@seeded.example",
                   "roles": ["company_admin"]}]});
    assert_eq!(
        sim.hook("POST", "/seed", Some(seed)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.hook("POST", "/seed", Some(json!({"colour": "blue"})))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sim.api(&token, Method::GET, &format!("/api/2/tenants/{new_tenant}"))
            .await
            .0,
        StatusCode::OK
    );
    let (status, state) = sim.hook("GET", "/state", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        state["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .any(|t| t["id"] == new_tenant)
    );
    let late = state["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["login"] == "late@seeded.example")
        .expect("seeded user");
    assert_eq!(late["roles"], json!(["company_admin"]));
    assert_eq!(late["activation_emails_sent"], 0);
    assert_eq!(state["violations"], json!([]));

    // Concurrency, hold and in_flight (a known load is in its own test below).
    let (status, figures) = sim.hook("GET", "/concurrency", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        figures["max_concurrent"], 1,
        "sequential calls: {figures:#}"
    );
    assert_eq!(
        sim.hook("DELETE", "/concurrency", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.hook("GET", "/concurrency", None).await.1,
        json!({"max_concurrent": 0, "items": []})
    );
    assert_eq!(
        sim.hook("PUT", "/hold", Some(json!({"hold": false})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.hook("GET", "/in_flight", None).await,
        (StatusCode::OK, json!({"route": null, "in_flight": 0}))
    );
    assert_eq!(
        sim.hook("GET", "/in_flight?at_least=1&timeout_ms=50", None)
            .await
            .0,
        StatusCode::REQUEST_TIMEOUT
    );

    // The clock: two hours later the token has expired.
    let (status, now) = sim
        .hook("POST", "/clock/advance", Some(json!({"seconds": 7200})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(now["now"].is_string());
    assert_eq!(
        sim.api(&token, Method::GET, &tenant_path).await.0,
        StatusCode::UNAUTHORIZED
    );

    // No way in through the real APIs' paths, and nothing of /__sim in the route table.
    let (_, fresh) = sim.token().await;
    for path in [
        "/api/2/__sim/knobs",
        "/api/2/__sim/state",
        "/api/alert_manager/v1/__sim/knobs",
    ] {
        assert_eq!(
            sim.api(&fresh, Method::GET, path).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert!(
        SERVED_ROUTES
            .iter()
            .all(|r| !r.full_path().contains(HOOK_PREFIX))
    );

    let expected: BTreeSet<(String, String)> = hook_routes()
        .into_iter()
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
    let knobs = json!({"latency_ms": 0, "rate_limit_probability": 0.1, "server_error_probability": 0.1,
        "timeout_probability": 0.1, "timeout_ms": 1, "random_seed": 7});
    assert_eq!(sim.hook("GET", "/knobs", None).await.1, knobs);
    // The token endpoint is faulted too: retry until one gets through.
    let mut token = String::new();
    for _ in 0..50 {
        let (status, issued) = sim.token().await;
        if status == StatusCode::OK {
            token = issued;
            break;
        }
    }
    assert!(!token.is_empty(), "a token within 50 tries");
    // Re-seed so the 1,000 calls start the seeded sequence from its beginning.
    sim.hook("PUT", "/knobs", Some(knobs.clone())).await;
    sim.hook("DELETE", "/requests", None).await;
    let path = format!("/api/2/tenants/{PARTNER}");
    let mut seen = BTreeMap::<u16, usize>::new();
    let mut sequence = Vec::new();
    for _ in 0..1000 {
        let (status, _) = sim.api(&token, Method::GET, &path).await;
        *seen.entry(status.as_u16()).or_default() += 1;
        sequence.push(status);
    }
    eprintln!("statuses over 1,000 requests: {seen:?}");
    // 10 % each: binomial sd ≈ 9.5, so ±40 is over four sd (and the seed makes it repeatable).
    for status in [429, 503, 504] {
        let observed = seen.get(&status).copied().unwrap_or(0);
        assert!((60..=140).contains(&observed), "{status}: {seen:?}");
    }
    assert_eq!(seen[&200], 1000 - seen[&429] - seen[&503] - seen[&504]);
    let (_, log) = sim.hook("GET", "/requests", None).await;
    let items = log["items"].as_array().expect("items");
    let faults = |name: &str| items.iter().filter(|r| r["fault"] == name).count();
    assert_eq!(
        (faults("429"), faults("503"), faults("timeout")),
        (seen[&429], seen[&503], seen[&504])
    );

    // The same seed gives the same faults again.
    sim.hook("PUT", "/knobs", Some(knobs)).await;
    for expected in sequence.iter().take(200) {
        assert_eq!(sim.api(&token, Method::GET, &path).await.0, *expected);
    }
}

#[tokio::test]
async fn command_line_latency_delays_api_calls_but_not_hooks() {
    let mut sim = spawn(&["--latency-ms", "60"]);
    assert_eq!(sim.hook("GET", "/knobs", None).await.1["latency_ms"], 60);
    let started = Instant::now();
    assert_eq!(sim.token().await.0, StatusCode::OK);
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
    let (_, token) = sim.token().await;
    sim.hook("DELETE", "/concurrency", None).await;
    assert_eq!(
        sim.hook("PUT", "/hold", Some(json!({"hold": true})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    // Held: 3 tenant reads and 2 usage reads at once.
    let load = [
        format!("/api/2/tenants/{PARTNER}"),
        format!("/api/2/tenants/{CONTOSO}"),
        format!("/api/2/tenants/{CONTOSO}"),
        format!("/api/2/tenants/{CONTOSO}/usages"),
        format!("/api/2/tenants/{PARTNER}/usages"),
    ];
    let mut held = Vec::new();
    for path in load {
        let request = sim
            .http
            .get(format!("{}{path}", sim.url))
            .bearer_auth(&token);
        held.push(tokio::spawn(async move {
            request.send().await.expect("held call").status()
        }));
    }
    let (status, all) = sim
        .hook("GET", "/in_flight?at_least=5&timeout_ms=60000", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let (status, tenants) = sim
        .hook(
            "GET",
            "/in_flight?route=/api/2/tenants/%7Btenant_id%7D&at_least=3",
            None,
        )
        .await;
    assert_eq!(
        (status, tenants["in_flight"].clone()),
        (StatusCode::OK, json!(3))
    );
    sim.hook("PUT", "/hold", Some(json!({"hold": false}))).await;
    for call in held {
        assert_eq!(call.await.expect("task"), StatusCode::OK);
    }
    let (status, figures) = sim.hook("GET", "/concurrency", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        figures,
        json!({"max_concurrent": 3, "items": [
            {"method": "GET", "route": "/api/2/tenants/{tenant_id}", "max_concurrent": 3, "in_flight": 0},
            {"method": "GET", "route": "/api/2/tenants/{tenant_id}/usages", "max_concurrent": 2, "in_flight": 0},
        ]})
    );
    // A new measuring period: one call at a time is a concurrency of 1.
    sim.hook("DELETE", "/concurrency", None).await;
    for _ in 0..3 {
        sim.api(&token, Method::GET, &format!("/api/2/tenants/{PARTNER}"))
            .await;
    }
    assert_eq!(
        sim.hook("GET", "/concurrency", None).await.1["max_concurrent"],
        1
    );
}
