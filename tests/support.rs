//! Test support: a fresh deployment per test on the local stack, log capture, template checks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use local_runner::LocalDeployment;
use serde_yaml::Value;
use sync_shared::aws::AwsClients;

pub const SECRETS_PREFIX: &str = "acronis-autotask-sync/";

/// The project's root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A table and queues of their own for one test, on the local stack that `scripts/test.sh`
/// starts (its endpoints arrive through `AWS_ENDPOINT_URL_*`).
pub async fn deployment(test: &str) -> LocalDeployment {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "the local stack is not running: scripts/local-stack.sh start && set -a && . .local/stack.env"
    );
    let clients = AwsClients::from_env().await;
    LocalDeployment::create(clients, &unique_name(test), SECRETS_PREFIX)
        .await
        .unwrap_or_else(|e| panic!("creating the deployment for {test}: {e:#}"))
}

pub fn unique_name(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "t-{test}-{}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Everything logged while it is alive, as JSON lines (the functions' production format).
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Installs a JSON subscriber for the current thread (use a current-thread runtime).
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads `template.yaml`.
pub fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// Checks what AWS advises for SQS-driven functions and least privilege; returns the problems.
pub fn template_problems(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template["Resources"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    let name_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let by_type = |kind: &str| -> Vec<(String, Value)> {
        resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(kind))
            .map(|(n, r)| (name_of(n), r.clone()))
            .collect()
    };
    let queues = by_type("AWS::SQS::Queue");
    let dead_letter_targets: Vec<String> = queues
        .iter()
        .filter_map(|(_, q)| {
            referenced_resource(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        })
        .collect();
    let global_timeout = template["Globals"]["Function"]["Timeout"]
        .as_u64()
        .unwrap_or(3);

    for (name, queue) in &queues {
        if dead_letter_targets.contains(name) {
            let alarmed = by_type("AWS::CloudWatch::Alarm").iter().any(|(_, alarm)| {
                alarm["Properties"]["Dimensions"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .any(|d| referenced_resource(&d["Value"]).as_deref() == Some(name))
            });
            if !alarmed {
                problems.push(format!("dead-letter queue {name} has no CloudWatch alarm"));
            }
            continue;
        }
        let redrive = &queue["Properties"]["RedrivePolicy"];
        match referenced_resource(&redrive["deadLetterTargetArn"]) {
            None => problems.push(format!("queue {name} has no dead-letter queue")),
            Some(dlq) => {
                let fifo = |q: &Value| q["Properties"]["FifoQueue"].as_bool().unwrap_or(false);
                let dlq_fifo = queues.iter().find(|(n, _)| *n == dlq).map(|(_, q)| fifo(q));
                if dlq_fifo != Some(fifo(queue)) {
                    problems.push(format!(
                        "queue {name} and its DLQ {dlq} differ in FIFO-ness"
                    ));
                }
            }
        }
        let receives = number(&redrive["maxReceiveCount"]).unwrap_or(0);
        if receives < 5 {
            problems.push(format!(
                "queue {name} has maxReceiveCount {receives}, under 5"
            ));
        }
        let visibility = number(&queue["Properties"]["VisibilityTimeout"]).unwrap_or(30);
        for (function, f) in by_type("AWS::Serverless::Function") {
            let events = f["Properties"]["Events"]
                .as_mapping()
                .cloned()
                .unwrap_or_default();
            for (_, event) in events {
                if event["Type"].as_str() == Some("SQS")
                    && referenced_resource(&event["Properties"]["Queue"]).as_deref() == Some(name)
                {
                    let timeout = f["Properties"]["Timeout"]
                        .as_u64()
                        .unwrap_or(global_timeout);
                    if visibility < 6 * timeout {
                        problems.push(format!(
                            "queue {name} has visibility {visibility} s, under 6 x {function}'s timeout {timeout} s"
                        ));
                    }
                    let reports = event["Properties"]["FunctionResponseTypes"]
                        .as_sequence()
                        .is_some_and(|t| {
                            t.iter()
                                .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
                        });
                    if !reports {
                        problems.push(format!(
                            "{function}'s SQS event lacks ReportBatchItemFailures"
                        ));
                    }
                    let env = &f["Properties"]["Environment"]["Variables"];
                    if number(&env["MAX_RECEIVE_COUNT"]) != Some(receives) {
                        problems.push(format!(
                            "{function}'s MAX_RECEIVE_COUNT differs from {name}'s maxReceiveCount"
                        ));
                    }
                    if number(&env["RUN_LEASE_SECONDS"]) != Some(timeout) {
                        problems.push(format!(
                            "{function}'s RUN_LEASE_SECONDS differs from its timeout"
                        ));
                    }
                }
            }
        }
    }
    for (name, resource) in &resources {
        let mut statements = Vec::new();
        collect_statements(resource, &mut statements);
        for statement in statements {
            let resources: Vec<&Value> = match &statement["Resource"] {
                Value::Sequence(items) => items.iter().collect(),
                other => vec![other],
            };
            if resources
                .iter()
                .any(|r| r.as_str().is_some_and(|s| s == "*" || s.ends_with(":*")))
            {
                problems.push(format!("{} has a wildcard Resource", name_of(name)));
            }
        }
    }
    problems
}

fn number(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// The logical id a `!GetAtt X.Arn`, `!Ref X` or `{"Fn::GetAtt": [X, …]}` points at.
pub fn referenced_resource(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => {
            let target = tagged.value.as_str()?;
            Some(target.split('.').next().unwrap_or(target).to_string())
        }
        Value::Mapping(map) => {
            let (key, inner) = map.iter().next()?;
            match key.as_str()? {
                "Ref" => inner.as_str().map(str::to_string),
                "Fn::GetAtt" => inner
                    .as_sequence()
                    .and_then(|s| s.first())
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            }
        }
        _ => None,
    }
}

fn collect_statements(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Mapping(map) => {
            for (key, inner) in map {
                if key.as_str() == Some("Statement") {
                    match inner {
                        Value::Sequence(items) => out.extend(items.iter().cloned()),
                        other => out.push(other.clone()),
                    }
                } else {
                    collect_statements(inner, out);
                }
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| collect_statements(i, out)),
        Value::Tagged(tagged) => collect_statements(&tagged.value, out),
        _ => {}
    }
}

/// Runs a test body on a thread with a big stack (whole runs in a debug build need it).
pub fn on_big_stack<F: std::future::Future<Output = ()>>(
    body: impl FnOnce() -> F + Send + 'static,
) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(body())
        })
        .expect("thread")
        .join()
        .expect("the test body");
}
