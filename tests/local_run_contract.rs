//! The local runner's contract (DESIGN.md, README "The local runner"): `local-run` against
//! simulators someone else started (`--autotask`, `--acronis`), a named deployment that a second
//! invocation continues (`--deployment`), the jobs and their order (`--jobs`), the run slot
//! (`--at`), idempotent loading (`--config`, `--secrets`), and a table any DynamoDB client reads.
//!
//! Most tests call `local_runner::run_cli` in-process (the same code as the binary); one runs the
//! `local-run` binary. They need the local stack (`scripts/local-stack.sh start`, then
//! `set -a; . .local/stack.env; set +a`).

#[path = "acronis_support.rs"]
mod acronis_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use acronis_support::{CLIENT_ID, CLIENT_SECRET, PARTNER};
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{CapturedLogs, SECRETS_PREFIX, root, unique_name};
use local_runner::{Cli, RunSummary, UsageError, parse_args, run_cli};
use serde_json::json;
use sync_shared::Job;
use sync_shared::apply::ApplyMessage;
use sync_shared::status::IntegrationHealth;

/// `run_cli` points the process's Autotask zone lookup at its `--autotask`: one at a time.
static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const T1: &str = "2026-12-01T10:00:00Z";
const T2: &str = "2026-12-01T10:05:00Z";

fn require_stack() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "the local stack is not running: scripts/local-stack.sh start && set -a && . .local/stack.env"
    );
}

/// An Autotask and an Acronis simulator, started by the test (not by `local-run`).
struct Sims {
    autotask: autotask_sim::AutotaskSim,
    acronis: acronis_sim::AcronisSim,
}

impl Sims {
    async fn start() -> Sims {
        let autotask = autotask_sim::AutotaskSim::start(autotask_sim::SimConfig {
            seed: autotask_sim::Seed::example().expect("autotask seed"),
            ..autotask_sim::SimConfig::default()
        })
        .await
        .expect("autotask-sim");
        let acronis = acronis_support::start_sim(acronis_sim::SimConfig::example()).await;
        Sims { autotask, acronis }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--autotask".into(),
            self.autotask.base_url(),
            "--acronis".into(),
            self.acronis.base_url(),
        ]
    }

    async fn stop(self) {
        self.autotask.shutdown().await;
        self.acronis.shutdown().await;
    }
}

/// A configuration directory of its own: `count` enabled integrations whose secrets name the
/// simulators' example API user and API client, and `local-secrets.json` beside the items.
struct Config {
    dir: PathBuf,
    ids: Vec<String>,
}

impl Config {
    fn new(test: &str, count: usize) -> Config {
        let base = unique_name(test);
        let dir = std::env::temp_dir().join(&base);
        std::fs::create_dir_all(&dir).expect("config dir");
        let ids: Vec<String> = (0..count).map(|i| format!("{base}-{i}")).collect();
        let settings: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                json!({
                    "pk": format!("INTEGRATION#{id}"),
                    "sk": "SETTINGS",
                    "integration_state": "enabled",
                    "autotask_secret_name": format!("{SECRETS_PREFIX}{id}/autotask"),
                    "acronis_secret_name": format!("{SECRETS_PREFIX}{id}/acronis"),
                })
            })
            .collect();
        let secrets: Vec<serde_json::Value> = ids
            .iter()
            .flat_map(|id| {
                [
                    json!({"name": format!("{SECRETS_PREFIX}{id}/autotask"), "value": {
                        "username": "acronis-api@example.com", "secret": "api-secret-1",
                        "api_integration_code": "ACRONISSIMINTEGRATIONCODE01"}}),
                    json!({"name": format!("{SECRETS_PREFIX}{id}/acronis"), "value": {
                        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                        "datacenter_url": "https://eu2-cloud.acronis.com"}}),
                ]
            })
            .collect();
        let write = |name: &str, value: &serde_json::Value| {
            std::fs::write(
                dir.join(name),
                serde_json::to_string_pretty(value).expect("json"),
            )
            .expect("write config");
        };
        write("settings.json", &json!(settings));
        write("local-secrets.json", &json!(secrets));
        Config { dir, ids }
    }

    fn args(&self) -> Vec<String> {
        vec!["--config".into(), self.dir.display().to_string()]
    }

    /// The `(pk, sk)` of every configuration item in the directory.
    fn item_keys(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.dir.join("settings.json")).expect("settings");
        let items: Vec<serde_json::Value> = serde_json::from_str(&text).expect("json");
        items
            .iter()
            .map(|i| {
                (
                    i["pk"].as_str().unwrap().into(),
                    i["sk"].as_str().unwrap().into(),
                )
            })
            .collect()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn args(parts: &[Vec<String>], rest: &[&str]) -> Vec<String> {
    parts
        .iter()
        .flatten()
        .cloned()
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

/// `local-run` with `args`, on a thread with a main thread's stack as the binary has (the
/// planner and the applier run side by side, and their futures are large in debug builds); the
/// test's runtime keeps serving the simulators meanwhile.
async fn run(args: Vec<String>) -> RunSummary {
    let (send, receive) = tokio::sync::oneshot::channel();
    let cli_args = args.clone();
    // The test's log capture goes along.
    let logs = tracing::dispatcher::get_default(|dispatch| dispatch.clone());
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let summary =
                tracing::dispatcher::with_default(&logs, || runtime.block_on(run_cli(cli_args)));
            let _ = send.send(summary);
        })
        .expect("local-run thread");
    receive
        .await
        .expect("local-run thread ended")
        .unwrap_or_else(|e| panic!("local-run {}: {e:#}", args.join(" ")))
        .expect("not --help")
}

/// A client of the test's own, as any reader of the table would have.
async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let config = sync_shared::aws::sdk_config().await;
    aws_sdk_dynamodb::Client::new(&config)
}

async fn raw_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> Option<BTreeMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .map(|item| item.into_iter().collect())
}

async fn run_keys(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> Vec<String> {
    let output = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :run)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("INTEGRATION#{id}")))
        .expression_attribute_values(":run", AttributeValue::S("RUN#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("Query runs");
    output
        .items()
        .iter()
        .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned())
        .collect()
}

fn status_of<'a>(summary: &'a RunSummary, id: &str) -> &'a sync_shared::status::IntegrationStatus {
    summary
        .integrations
        .iter()
        .find(|line| line.integration_id == id)
        .and_then(|line| line.status.as_ref())
        .unwrap_or_else(|| panic!("{id} has no status:\n{}", summary.report()))
}

#[test]
fn the_command_line_is_the_contract() {
    let parsed = parse_args([
        "--config",
        "cfg",
        "--secrets",
        "s.json",
        "--autotask",
        "http://127.0.0.1:1/ATServicesRest/",
        "--acronis",
        "http://127.0.0.1:2",
        "--deployment",
        "my-deployment",
        "--jobs",
        "provisioning,setup",
        "--at",
        "2026-12-01T11:00:00+01:00",
    ])
    .expect("parses");
    let Cli::Run(options) = parsed else {
        panic!("not a run")
    };
    assert_eq!(options.config_dir, PathBuf::from("cfg"));
    assert_eq!(options.secrets_file, Some(PathBuf::from("s.json")));
    assert_eq!(
        options.autotask.as_deref(),
        Some("http://127.0.0.1:1/ATServicesRest/")
    );
    assert_eq!(options.acronis.as_deref(), Some("http://127.0.0.1:2"));
    assert_eq!(options.deployment.as_deref(), Some("my-deployment"));
    assert_eq!(options.jobs, [Job::Provisioning, Job::Setup]);
    assert_eq!(
        options.at.map(|t| t.to_rfc3339()),
        Some("2026-12-01T10:00:00+00:00".into()),
        "--at is a point in time; the slot is its UTC"
    );

    let Ok(Cli::Run(defaults)) = parse_args(Vec::<String>::new()) else {
        panic!("no arguments is a run")
    };
    assert_eq!(
        defaults.jobs,
        Job::ALL,
        "all jobs by default, in Job::ALL's order"
    );
    assert_eq!(defaults.config_dir, PathBuf::from("config/examples"));
    assert_eq!((defaults.deployment, defaults.at), (None, None));
    assert_eq!(parse_args(["--help"]), Ok(Cli::Help));

    for (bad, says) in [
        (vec!["--bogus"], "unknown argument --bogus"),
        (vec!["--jobs", "setup,billing"], "unknown job `billing`"),
        (vec!["--at", "tomorrow"], "--at tomorrow"),
        (vec!["--deployment", "a.b"], "deployment name `a.b`"),
        (vec!["--autotask", "localhost:1"], "not an http(s) URL"),
        (vec!["--config"], "--config needs a value"),
    ] {
        let UsageError(message) = parse_args(bad.clone()).expect_err("rejected");
        assert!(message.contains(says), "{bad:?}: {message}");
    }
}

#[tokio::test]
async fn a_second_invocation_continues_the_deployment_and_a_repeated_slot_is_a_no_op() {
    require_stack();
    let logs = CapturedLogs::default();
    let _logs = logs.install();
    let _one_at_a_time = IN_PROCESS.lock().await;
    let sims = Sims::start().await;
    let config = Config::new("lrcont", 1);
    let id = &config.ids[0];
    let name = unique_name("lrcont");
    let db = dynamodb().await;
    let base = [config.args(), sims.args()];
    let invocation = |at: &str| {
        args(
            &base,
            &["--deployment", &name, "--jobs", "setup", "--at", at],
        )
    };

    let first = run(invocation(T1)).await;
    assert!(first.created.contains(&name), "{:?}", first.created);
    assert_eq!(first.deployment, name);
    assert_eq!(first.jobs.len(), 1);
    assert_eq!(first.jobs[0].fan_out.messages_sent, 1);
    assert_eq!(first.jobs[0].drained.messages_deleted, 1);
    let status = status_of(&first, id);
    assert_eq!(
        status.state,
        IntegrationHealth::Connected,
        "{}",
        status.message
    );
    assert!(
        status.message.contains(&format!(
            "Acronis partner tenant \"Example MSP\" ({PARTNER})"
        )),
        "the secret's datacenter_url was replaced by --acronis: {}",
        status.message
    );
    assert!(
        status.message.contains(&sims.autotask.base_url()),
        "the zone lookup went to --autotask: {}",
        status.message
    );
    let pk = format!("INTEGRATION#{id}");
    let run_t1 = raw_item(&db, &name, &pk, &format!("RUN#setup#{T1}"))
        .await
        .expect("the run of the first slot");
    let status_item = raw_item(&db, &name, &pk, "STATUS").await.expect("status");

    // The same slot again: the deployment is reused, the scheduler sends the message again, and
    // the worker finds the run finished.
    let again = run(invocation(T1)).await;
    assert_eq!(again.created, Vec::<String>::new(), "everything was reused");
    assert_eq!(again.jobs[0].fan_out.messages_sent, 1);
    assert_eq!(again.jobs[0].drained.messages_deleted, 1);
    let logs = logs.text();
    assert!(
        logs.lines().any(|l| l.contains("run already finished")
            && l.contains(id.as_str())
            && l.contains(&format!("setup#{T1}"))),
        "the worker saw the finished run"
    );
    assert_eq!(
        raw_item(&db, &name, &pk, &format!("RUN#setup#{T1}")).await,
        Some(run_t1.clone()),
        "a repeated slot changes nothing"
    );
    assert_eq!(
        raw_item(&db, &name, &pk, "STATUS").await,
        Some(status_item),
        "a repeated slot leaves the status as it was"
    );

    // A new slot continues: a second run next to the first.
    let next = run(invocation(T2)).await;
    assert_eq!(next.created, Vec::<String>::new());
    let mut runs = run_keys(&db, &name, id).await;
    runs.sort();
    assert_eq!(runs, [format!("RUN#setup#{T1}"), format!("RUN#setup#{T2}")]);
    assert_eq!(
        raw_item(&db, &name, &pk, &format!("RUN#setup#{T1}")).await,
        Some(run_t1),
        "the first invocation's run record is still there"
    );
    let status = status_of(&next, id);
    assert_eq!(status.jobs["setup"].last_run_id, format!("setup#{T2}"));
    assert_eq!(
        status.state,
        IntegrationHealth::Connected,
        "{}",
        status.message
    );
    sims.stop().await;
}

#[tokio::test]
async fn the_named_jobs_are_ticked_in_the_given_order_and_no_others() {
    require_stack();
    let _one_at_a_time = IN_PROCESS.lock().await;
    let sims = Sims::start().await;
    let config = Config::new("lrjobs", 2);
    let db = dynamodb().await;

    let both = unique_name("lrjobs");
    let summary = run(args(
        &[config.args(), sims.args()],
        &[
            "--deployment",
            &both,
            "--jobs",
            "provisioning,setup",
            "--at",
            T1,
        ],
    ))
    .await;
    let order: Vec<Job> = summary.jobs.iter().map(|j| j.job).collect();
    assert_eq!(order, [Job::Provisioning, Job::Setup]);
    let report = summary.report();
    let provisioning_line = report
        .lines()
        .position(|l| l.starts_with("job provisioning: 2 messages sent; "))
        .unwrap_or_else(|| panic!("no provisioning line:\n{report}"));
    let setup_line = report
        .lines()
        .position(|l| l.starts_with("job setup: 2 messages sent; "))
        .unwrap_or_else(|| panic!("no setup line:\n{report}"));
    assert!(provisioning_line < setup_line, "{report}");
    assert!(
        report.contains("; apply: "),
        "the provisioning line tells about its apply queue:\n{report}"
    );
    for id in &config.ids {
        let status = status_of(&summary, id);
        let provisioning = &status.jobs["provisioning"];
        let setup = &status.jobs["setup"];
        assert_eq!(provisioning.last_run_id, format!("provisioning#{T1}"));
        assert!(
            provisioning.last_run_at <= setup.last_run_at,
            "provisioning ran before setup"
        );
    }

    let only_setup = unique_name("lrjobs");
    let summary = run(args(
        &[config.args(), sims.args()],
        &["--deployment", &only_setup, "--jobs", "setup", "--at", T1],
    ))
    .await;
    assert_eq!(summary.jobs.len(), 1);
    assert_eq!(summary.jobs[0].job, Job::Setup);
    for id in &config.ids {
        assert_eq!(
            run_keys(&db, &only_setup, id).await,
            [format!("RUN#setup#{T1}")]
        );
        let status = status_of(&summary, id);
        assert_eq!(
            status.jobs.keys().collect::<Vec<_>>(),
            ["setup"],
            "only setup ran"
        );
    }
    sims.stop().await;
}

#[tokio::test]
async fn at_names_the_run_slot() {
    require_stack();
    let _one_at_a_time = IN_PROCESS.lock().await;
    let sims = Sims::start().await;
    let config = Config::new("lrat", 1);
    let id = &config.ids[0];
    let name = unique_name("lrat");
    let summary = run(args(
        &[config.args(), sims.args()],
        &["--deployment", &name, "--jobs", "setup", "--at", T1],
    ))
    .await;
    assert_eq!(summary.slot.to_rfc3339(), "2026-12-01T10:00:00+00:00");
    assert_eq!(
        run_keys(&dynamodb().await, &name, id).await,
        [format!("RUN#setup#{T1}")]
    );
    assert_eq!(
        status_of(&summary, id).jobs["setup"].last_run_id,
        format!("setup#{T1}")
    );
    sims.stop().await;
}

#[tokio::test]
async fn loading_twice_leaves_identical_items_and_secrets() {
    require_stack();
    let _one_at_a_time = IN_PROCESS.lock().await;
    let sims = Sims::start().await;
    let config = Config::new("lrload", 2);
    let name = unique_name("lrload");
    let db = dynamodb().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sync_shared::aws::sdk_config().await);
    let snapshot = || async {
        let mut items = Vec::new();
        for (pk, sk) in config.item_keys() {
            items.push(raw_item(&db, &name, &pk, &sk).await.expect("item loaded"));
        }
        let mut versions = Vec::new();
        for id in &config.ids {
            for kind in ["autotask", "acronis"] {
                let secret = secrets
                    .describe_secret()
                    .secret_id(format!("{SECRETS_PREFIX}{id}/{kind}"))
                    .send()
                    .await
                    .expect("DescribeSecret");
                let mut ids: Vec<String> = secret
                    .version_ids_to_stages()
                    .map(|v| v.keys().cloned().collect())
                    .unwrap_or_default();
                ids.sort();
                versions.push(ids);
            }
        }
        (items, versions)
    };
    let invocation = args(
        &[config.args(), sims.args()],
        &["--deployment", &name, "--jobs", "setup", "--at", T1],
    );

    let first = run(invocation.clone()).await;
    assert_eq!((first.items_loaded, first.secrets_loaded), (2, 4));
    assert_eq!(first.secrets_changed, 4, "new secrets are created");
    let before = snapshot().await;
    assert!(before.1.iter().all(|v| v.len() == 1), "{:?}", before.1);

    let second = run(invocation).await;
    assert_eq!((second.items_loaded, second.secrets_loaded), (2, 4));
    assert_eq!(
        second.secrets_changed, 0,
        "unchanged secrets are left alone"
    );
    assert_eq!(snapshot().await, before, "loading again changes nothing");
    sims.stop().await;
}

#[tokio::test]
async fn drain_apply_settles_like_drain_and_counts_the_apply_dead_letters() {
    require_stack();
    let d = e2e::deployment("lrapply").await;
    let queue = d.apply_queue_url(Job::Provisioning).expect("apply queue");
    // Bodies no applier reads: each is retried until the redrive policy moves it to the DLQ.
    for n in 0..12 {
        d.clients
            .sqs
            .send_message()
            .queue_url(queue)
            .message_body(json!({"unreadable": n}).to_string())
            .message_group_id(format!("someone#{}", n % 3))
            .message_deduplication_id(format!("unreadable-{n}"))
            .send()
            .await
            .expect("SendMessage");
    }
    let drained = d
        .drain_apply(Job::Provisioning, local_runner::APPLY_MAX_CONCURRENCY, 1000)
        .await
        .expect("drain_apply");
    assert_eq!(drained.messages_deleted, 0);
    assert_eq!(
        drained.messages_failed,
        12 * local_runner::MAX_RECEIVE_COUNT as usize,
        "each failed delivery was made visible again, until maxReceiveCount"
    );
    assert_eq!(drained.messages_received, drained.messages_failed);
    assert_eq!(
        d.apply_dead_letters(Job::Provisioning).await.expect("dlq"),
        12
    );
    assert_eq!(d.dead_letters(Job::Provisioning).await.expect("dlq"), 0);
    assert!(
        d.receive_apply_batch(Job::Provisioning)
            .await
            .expect("receive")
            .is_empty()
    );
    // A job without an apply queue has nothing to drain.
    assert_eq!(
        d.drain_apply(Job::Setup, 10, 10)
            .await
            .expect("no apply queue"),
        local_runner::DrainSummary::default()
    );
}

/// `events/sqs-<job>-apply.json` is what the job's applier receives from its apply queue.
#[test]
fn the_sample_apply_events_are_apply_messages_on_their_groups() {
    let mut seen = 0;
    for job in Job::ALL {
        if job.apply_queue_url_env().is_none() {
            continue;
        }
        let path = root().join(format!("events/sqs-{job}-apply.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let event: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_str(&text).expect("an SQS event");
        assert!(!event.records.is_empty());
        for record in event.records {
            let message: ApplyMessage<serde_json::Value> =
                serde_json::from_str(record.body.as_deref().unwrap_or_default())
                    .expect("an apply message");
            assert_eq!(message.job, job);
            assert_eq!(
                record.attributes.get("MessageGroupId"),
                Some(&message.group_id())
            );
            let fifo = message.to_fifo().expect("encodes");
            assert_eq!(
                record.attributes.get("MessageDeduplicationId"),
                Some(&fifo.deduplication_id)
            );
            seen += 1;
        }
    }
    assert!(seen > 0);
}

/// Builds `local-run` (it is another package's binary) and returns its path.
fn local_run_binary() -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "local-runner",
            "--bin",
            "local-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo build");
    assert!(
        output.status.success(),
        "cargo build -p local-runner failed"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "local-run")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the local-run executable")
}

async fn local_run(binary: &Path, args: Vec<String>) -> std::process::Output {
    let binary = binary.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(binary)
            .args(args)
            .current_dir(root())
            .env_remove("RUST_LOG")
            .output()
            .expect("local-run starts")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_run_binary_keeps_the_contract_and_any_dynamodb_client_reads_its_table() {
    require_stack();
    let binary = tokio::task::spawn_blocking(local_run_binary)
        .await
        .expect("join");
    let sims = Sims::start().await;
    let config = Config::new("lrbin", 1);
    let id = &config.ids[0];
    let name = unique_name("lrbin");

    let output = local_run(
        &binary,
        args(
            &[config.args(), sims.args()],
            &["--deployment", &name, "--jobs", "setup", "--at", T1],
        ),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("table and queues: {name} (created)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "job setup: 1 messages sent; 1 invocations, 1 messages handled, 0 left for retry"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("job provisioning"),
        "only the named job: {stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(id.as_str()) && l.contains(" connected ")),
        "{stdout}"
    );

    // Anyone's DynamoDB client finds the status in the table named by --deployment.
    let db = dynamodb().await;
    let status = raw_item(&db, &name, &format!("INTEGRATION#{id}"), "STATUS")
        .await
        .expect("a STATUS item in the table");
    assert_eq!(
        status
            .get("state")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("connected")
    );

    // A failed load and an unknown flag fail the process.
    let missing = config.dir.join("missing");
    let output = local_run(
        &binary,
        args(
            &[sims.args()],
            &[
                "--config",
                &missing.display().to_string(),
                "--deployment",
                &name,
            ],
        ),
    )
    .await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("missing"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = local_run(&binary, vec!["--bogus".into()]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown argument --bogus"));
    let output = local_run(&binary, vec!["--help".into()]).await;
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config DIR",
        "--secrets FILE",
        "--autotask URL",
        "--acronis URL",
        "--deployment NAME",
        "--jobs JOB,...",
        "--at TIME",
    ] {
        assert!(help.contains(flag), "--help names {flag}:\n{help}");
    }
    sims.stop().await;
}
