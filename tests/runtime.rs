//! The functions' own binaries under a real Lambda runtime API.
//!
//! Builds every function's binary (the functions and binaries of `template.yaml`, debug, as
//! `cargo lambda watch` builds them), starts `cargo lambda watch` (cargo-lambda's runtime API
//! emulator, which runs each binary as Lambda would) with the functions' environment pointing at
//! the local stack and at the Autotask and Acronis simulators (in-process here), invokes the
//! functions with every file in `events/` (`cargo lambda invoke --data-file`), and checks the
//! answers: an SQS worker answers a partial batch response (`batchItemFailures`) naming only the
//! event's messages; the scheduler's messages appear on the job's queue. Every log line the
//! functions print is JSON, and no secret value (nor an Acronis access token) appears in
//! anything the processes print.
//!
//! Needs cargo-lambda: `scripts/test.sh` installs it into `.local/tools` (or set `CARGO_LAMBDA`
//! to its path).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use e2e::{deployment, root, template, unique_name};
use local_runner::{ExampleSecret, LocalDeployment, put_secret};
use serde_json::{Value, json};
use sync_shared::{Job, JobMessage};

/// The secrets prefix of the examples (`config/examples`); the test renames the secrets under a
/// prefix of its own, so no other test's secrets are read or changed.
const EXAMPLE_SECRETS_PREFIX: &str = "acronis-autotask-sync/";
/// The fields of the secrets that are secret.
const SECRET_FIELDS: [&str; 3] = ["secret", "api_integration_code", "client_secret"];
/// The shortest function timeout: every function shares one environment under `watch`.
const RUN_LEASE_SECONDS: &str = "60";

const BUILD_DEADLINE: Duration = Duration::from_secs(30 * 60);
const WATCH_READY_DEADLINE: Duration = Duration::from_secs(120);
/// The first invocation of a function includes `cargo run` (fresh binaries: seconds; a build
/// directory locked by another cargo: longer).
const INVOKE_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// A function of `template.yaml`: its logical id and its binary.
#[derive(Debug, Clone)]
struct Function {
    logical_id: String,
    binary: String,
}

/// What an event file is, from its name: a schedule input, a job message, an apply message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Schedule,
    Sqs,
    Apply,
}

#[derive(Debug, Clone)]
struct Event {
    file: PathBuf,
    job: Job,
    kind: EventKind,
    binary: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_binary_answers_every_sample_event_under_the_lambda_runtime_api() {
    let cargo_lambda = cargo_lambda();
    let functions = template_functions();
    let env_names = template_environment_names();
    let events = sample_events(&functions);
    let work = std::env::temp_dir().join(unique_name("runtime"));
    std::fs::create_dir_all(&work).expect("work directory");

    // 1. Build every function's binary, as `cargo lambda watch` builds it (`cargo run --bin`
    //    from the workspace root), so that the invocations below find them fresh.
    let binaries: Vec<String> = functions.iter().map(|f| f.binary.clone()).collect();
    let started = Instant::now();
    let build = {
        let binaries = binaries.clone();
        let work = work.clone();
        tokio::task::spawn_blocking(move || cargo_build(&binaries, &work))
            .await
            .expect("build task")
    };
    println!(
        "built {} in {:.1} s",
        binaries.join(", "),
        started.elapsed().as_secs_f64()
    );
    if let Err(output) = build {
        panic!("cargo build of the function binaries failed:\n{output}");
    }

    // 2. The local deployment: table, queues, configuration items and secrets, simulators.
    let d = deployment("runtime").await;
    let secrets_prefix = format!("{}/", d.store.table());
    let examples = root().join("config/examples");
    let example_secrets: Vec<ExampleSecret> =
        local_runner::read_example_secrets(&examples.join("local-secrets.json"))
            .expect("config/examples/local-secrets.json");
    let autotask = local_runner::start_example_autotask_sim()
        .await
        .expect("autotask-sim");
    let acronis = local_runner::start_example_acronis_sim(&example_secrets, &examples)
        .await
        .expect("acronis-sim");
    let mut secret_values = BTreeSet::new();
    for secret in &example_secrets {
        let mut value = secret.value.clone();
        if value.get("datacenter_url").is_some() {
            value["datacenter_url"] = json!(acronis.base_url());
        }
        for field in SECRET_FIELDS {
            if let Some(text) = value[field].as_str() {
                secret_values.insert(text.to_string());
            }
        }
        put_secret(
            &d.clients.secrets,
            &renamed_secret(&secret.name, &secrets_prefix),
            &value.to_string(),
        )
        .await
        .expect("secret");
    }
    let enabled = load_example_items(&d, &examples, &secrets_prefix).await;
    assert!(
        enabled.contains("contoso"),
        "the events name integration contoso; config/examples must enable it"
    );

    // 3. `cargo lambda watch` with the functions' environment.
    let mut env = BTreeMap::new();
    for name in &env_names {
        env.insert(name.clone(), env_value(name, &d, &secrets_prefix));
    }
    for name in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        let value = std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
        env.insert(name.to_string(), value);
    }
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    env.insert("AUTOTASK_ZONE_LOOKUP_URL".into(), autotask.base_url());
    let port = free_port();
    let watch = Watch::start(&cargo_lambda, port, &env, &work);

    // 4. Every event, in job order: the schedule input, the job message, the apply message.
    let mut answers = Vec::new();
    let mut failures = Vec::new();
    for event in &events {
        let started = Instant::now();
        let invoked = {
            let cargo_lambda = cargo_lambda.clone();
            let event = event.clone();
            let work = work.clone();
            tokio::task::spawn_blocking(move || invoke(&cargo_lambda, port, &event, &work))
                .await
                .expect("invoke task")
        };
        let name = event.file.file_name().unwrap_or_default().to_string_lossy();
        let seconds = started.elapsed().as_secs_f64();
        let answer = match invoked {
            Ok(answer) => answer,
            Err(problem) => {
                failures.push(format!("{name} ({}): {problem}", event.binary));
                continue;
            }
        };
        println!("{name} -> {} ({seconds:.1} s): {answer}", event.binary);
        let checked = match event.kind {
            EventKind::Schedule => check_fan_out(&d, event, &enabled).await,
            EventKind::Sqs | EventKind::Apply => check_batch_response(event, &answer),
        };
        if let Err(problem) = checked {
            failures.push(format!("{name} ({}): {problem}", event.binary));
        }
        answers.push(answer.to_string());
    }
    if let Ok(Some(status)) = d.store.status("contoso").await {
        println!("contoso status: {:?}: {}", status.state, status.message);
    }

    // 5. Stop everything, then read what the processes printed.
    secret_values
        .extend(acronis.with_state(|state| state.tokens.keys().cloned().collect::<Vec<_>>()));
    let output = watch.stop();
    autotask.shutdown().await;
    acronis.shutdown().await;
    failures.extend(log_problems(&output, &events));
    let everything = format!(
        "{}\n{}\n{}\n{}",
        output.stdout,
        output.stderr,
        answers.join("\n"),
        read(&work.join("invoke.err"))
    );
    for secret in &secret_values {
        if !secret.is_empty() && everything.contains(secret.as_str()) {
            failures.push(format!(
                "a secret value ({} characters) appears in the functions' output",
                secret.len()
            ));
        }
    }
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&work);
    }
    assert!(
        failures.is_empty(),
        "{}\n\n--- cargo lambda watch stdout ---\n{}\n--- stderr ---\n{}",
        failures.join("\n"),
        tail(&output.stdout, 60),
        tail(&output.stderr, 40)
    );
}

// ---- the template, the events, the environment -------------------------------------------------

/// The functions of `template.yaml` (`AWS::Serverless::Function` with a cargo-lambda binary).
fn template_functions() -> Vec<Function> {
    let template = template();
    let resources = template["Resources"]
        .as_mapping()
        .expect("template.yaml has Resources");
    let mut functions: Vec<Function> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| Function {
            logical_id: id.as_str().unwrap_or_default().to_string(),
            binary: r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id:?} has no Metadata.BuildProperties.Binary"))
                .to_string(),
        })
        .collect();
    functions.sort_by(|a, b| a.binary.cmp(&b.binary));
    assert!(!functions.is_empty(), "template.yaml has no function");
    functions
}

/// Every environment variable `template.yaml` gives a function (Globals and each function).
fn template_environment_names() -> BTreeSet<String> {
    let template = template();
    let mut names = BTreeSet::new();
    let mut add = |variables: &serde_yaml::Value| {
        for (name, _) in variables.as_mapping().into_iter().flatten() {
            names.insert(name.as_str().unwrap_or_default().to_string());
        }
    };
    add(&template["Globals"]["Function"]["Environment"]["Variables"]);
    for (_, resource) in template["Resources"].as_mapping().into_iter().flatten() {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            add(&resource["Properties"]["Environment"]["Variables"]);
        }
    }
    names
}

/// A template variable's value on the local deployment.
fn env_value(name: &str, d: &LocalDeployment, secrets_prefix: &str) -> String {
    for job in Job::ALL {
        if name == job.queue_url_env() {
            return d.queue_url(job).expect("queue").to_string();
        }
        if Some(name) == job.apply_queue_url_env() {
            return d.apply_queue_url(job).expect("apply queue").to_string();
        }
    }
    match name {
        "TABLE_NAME" => d.store.table().to_string(),
        "SECRETS_PREFIX" => secrets_prefix.to_string(),
        "RUST_LOG" => "info".to_string(),
        "MAX_RECEIVE_COUNT" => local_runner::MAX_RECEIVE_COUNT.to_string(),
        "RUN_LEASE_SECONDS" => RUN_LEASE_SECONDS.to_string(),
        // Declared empty (not set); the caller points them at the stack and the simulator.
        "AWS_ENDPOINT_URL_DYNAMODB"
        | "AWS_ENDPOINT_URL_SQS"
        | "AWS_ENDPOINT_URL_SECRETS_MANAGER"
        | "AUTOTASK_ZONE_LOOKUP_URL" => String::new(),
        other => panic!(
            "template.yaml gives the functions {other}: tests/runtime.rs must learn its local value"
        ),
    }
}

/// The files of `events/`, in job order (schedule, job message, apply message), each with the
/// binary that takes it; every function of the template must get at least one.
fn sample_events(functions: &[Function]) -> Vec<Event> {
    let scheduler = functions
        .iter()
        .find(|f| f.logical_id == "SchedulerFunction")
        .expect("template.yaml has SchedulerFunction");
    let mut events = Vec::new();
    let dir = root().join("events");
    for entry in std::fs::read_dir(&dir).expect("events/") {
        let file = entry.expect("events/ entry").path();
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let (kind, job_name) = if let Some(job) = stem.strip_prefix("schedule-") {
            (EventKind::Schedule, job)
        } else if let Some(job) = stem
            .strip_prefix("sqs-")
            .and_then(|s| s.strip_suffix("-apply"))
        {
            (EventKind::Apply, job)
        } else if let Some(job) = stem.strip_prefix("sqs-") {
            (EventKind::Sqs, job)
        } else {
            panic!("events/{name}: no function takes it (schedule-*, sqs-*, sqs-*-apply)");
        };
        let job = Job::ALL
            .into_iter()
            .find(|j| j.as_str() == job_name)
            .unwrap_or_else(|| panic!("events/{name}: no job `{job_name}`"));
        let binary = match kind {
            EventKind::Schedule => scheduler.binary.clone(),
            EventKind::Sqs => job.as_str().to_string(),
            EventKind::Apply => format!("{job}-apply"),
        };
        assert!(
            functions.iter().any(|f| f.binary == binary),
            "events/{name}: template.yaml has no function with binary {binary}"
        );
        events.push(Event {
            file,
            job,
            kind,
            binary,
        });
    }
    let order = |job: Job| Job::ALL.iter().position(|j| *j == job);
    events.sort_by_key(|e| (order(e.job), e.kind));
    for function in functions {
        assert!(
            events.iter().any(|e| e.binary == function.binary),
            "no file in events/ invokes {} ({})",
            function.logical_id,
            function.binary
        );
    }
    events
}

fn renamed_secret(name: &str, prefix: &str) -> String {
    match name.strip_prefix(EXAMPLE_SECRETS_PREFIX) {
        Some(rest) => format!("{prefix}{rest}"),
        None => name.to_string(),
    }
}

/// Writes the example configuration items (secret names under `prefix`); returns the enabled
/// integrations.
async fn load_example_items(
    d: &LocalDeployment,
    examples: &Path,
    prefix: &str,
) -> BTreeSet<String> {
    let mut enabled = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples)
        .expect("config/examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| !p.ends_with("local-secrets.json"))
        .collect();
    files.sort();
    for file in files {
        let value: Value = serde_json::from_str(&read(&file)).expect("example JSON");
        let items = match value {
            Value::Array(items) => items,
            item => vec![item],
        };
        for mut item in items {
            for field in ["autotask_secret_name", "acronis_secret_name"] {
                if let Some(name) = item[field].as_str() {
                    item[field] = json!(renamed_secret(name, prefix));
                }
            }
            if item["sk"] == "SETTINGS" && item["integration_state"] == "enabled" {
                let pk = item["pk"].as_str().unwrap_or_default();
                enabled.insert(pk.trim_start_matches("INTEGRATION#").to_string());
            }
            d.put_json_item(item).await.expect("example item");
        }
    }
    enabled
}

// ---- the checks ----------------------------------------------------------------------------------

/// The scheduler's tick put one message per enabled integration on the job's queue, for the
/// event's slot.
async fn check_fan_out(
    d: &LocalDeployment,
    event: &Event,
    enabled: &BTreeSet<String>,
) -> Result<(), String> {
    let input: Value = serde_json::from_str(&read(&event.file)).map_err(|e| e.to_string())?;
    let slot: DateTime<Utc> = input["scheduled_time"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or("the event has no scheduled_time")?;
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < enabled.len() && Instant::now() < deadline {
        let batch = d
            .receive_batch(event.job)
            .await
            .map_err(|e| e.to_string())?;
        for message in batch {
            let body = message.body.unwrap_or_default();
            let job: JobMessage = serde_json::from_str(&body)
                .map_err(|e| format!("a message that is not a job message ({e}): {body}"))?;
            if job.job != event.job || job.slot != slot {
                return Err(format!("a message for another job or slot: {body}"));
            }
            seen.insert(job.integration_id);
            if let Some(receipt) = message.receipt_handle {
                let queue = d.queue_url(event.job).map_err(|e| e.to_string())?;
                d.clients
                    .sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| format!("DeleteMessage: {e}"))?;
            }
        }
    }
    if &seen != enabled {
        return Err(format!(
            "messages on the {} queue for {seen:?}, expected one for each of {enabled:?}",
            event.job
        ));
    }
    Ok(())
}

/// A partial batch response: `{"batchItemFailures": [{"itemIdentifier": <a message id of the
/// event>}, …]}` and nothing else.
fn check_batch_response(event: &Event, answer: &Value) -> Result<(), String> {
    let sent: Value = serde_json::from_str(&read(&event.file)).map_err(|e| e.to_string())?;
    let ids: BTreeSet<&str> = sent["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["messageId"].as_str())
        .collect();
    let object = answer
        .as_object()
        .ok_or("the answer is not a JSON object")?;
    let failures = object
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .ok_or("the answer has no batchItemFailures array")?;
    if object.len() != 1 {
        return Err("the answer has fields besides batchItemFailures".into());
    }
    for failure in failures {
        let id = failure["itemIdentifier"]
            .as_str()
            .ok_or("a batch item failure without itemIdentifier")?;
        if !ids.contains(id) || failure.as_object().map(|o| o.len()) != Some(1) {
            return Err(format!(
                "a batch item failure that is not one of the event's messages: {failure}"
            ));
        }
    }
    Ok(())
}

/// Lines on `watch`'s stdout are cargo-lambda's own (` INFO …`, without a timestamp) or the
/// functions' logs, which must be JSON; each function must have logged; nothing panicked.
fn log_problems(output: &WatchOutput, events: &[Event]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut json_lines = 0;
    for line in output.stdout.lines().filter(|l| !l.trim().is_empty()) {
        if is_cargo_lambda_line(line) {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(_)) => json_lines += 1,
            _ => problems.push(format!("a log line that is not a JSON object: {line}")),
        }
    }
    if json_lines == 0 {
        problems.push("no JSON log line from the functions".into());
    }
    for event in events {
        let started = format!("function=\"{}\"", event.binary);
        if !output.stdout.contains(&started) {
            problems.push(format!("cargo lambda watch never started {}", event.binary));
        }
    }
    if output.stderr.contains("panicked") {
        problems.push("a function panicked (see stderr)".into());
    }
    problems
}

fn is_cargo_lambda_line(line: &str) -> bool {
    ["TRACE ", "DEBUG ", " INFO ", " WARN ", "ERROR "]
        .iter()
        .any(|level| line.starts_with(level))
}

// ---- processes -----------------------------------------------------------------------------------

/// cargo-lambda: `CARGO_LAMBDA`, else `.local/tools/bin/cargo-lambda`, else on `PATH`.
fn cargo_lambda() -> PathBuf {
    let candidates = [
        std::env::var_os("CARGO_LAMBDA").map(PathBuf::from),
        Some(root().join(".local/tools/bin/cargo-lambda")),
        Some(PathBuf::from("cargo-lambda")),
    ];
    for candidate in candidates.into_iter().flatten() {
        let works = Command::new(&candidate)
            .args(["lambda", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return candidate;
        }
    }
    panic!(
        "cargo-lambda not found: run scripts/test.sh (it installs it into .local/tools), or \
         pip install cargo-lambda and set CARGO_LAMBDA to its path"
    );
}

/// A command with this process's cargo and none of the variables cargo sets for tests, so that
/// the cargo it runs sees the workspace as any other cargo does.
fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "RUST_LOG"].contains(&&*name);
        if set_for_tests {
            command.env_remove(&*name);
        }
    }
    command.env("CARGO", env!("CARGO")).current_dir(root());
    command
}

fn cargo_build(binaries: &[String], work: &Path) -> Result<(), String> {
    let mut build = command(env!("CARGO"));
    build.args(["build", "--manifest-path", "Cargo.toml"]);
    for binary in binaries {
        build.args(["--bin", binary]);
    }
    let log = work.join("build.log");
    let status = run(&mut build, &log, &log, BUILD_DEADLINE)?;
    if status.success() {
        Ok(())
    } else {
        Err(tail(&read(&log), 60))
    }
}

/// Runs `command` with its output in files until it exits or the deadline passes (then kills it).
fn run(
    command: &mut Command,
    stdout: &Path,
    stderr: &Path,
    deadline: Duration,
) -> Result<ExitStatus, String> {
    let out = File::create(stdout).map_err(|e| e.to_string())?;
    let err = if stdout == stderr {
        out.try_clone().map_err(|e| e.to_string())?
    } else {
        File::options()
            .create(true)
            .append(true)
            .open(stderr)
            .map_err(|e| e.to_string())?
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {command:?}: {e}"))?;
    let until = Instant::now() + deadline;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{command:?} still ran after {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cargo lambda invoke --data-file <event> <binary>`: the function's answer.
fn invoke(cargo_lambda: &Path, port: u16, event: &Event, work: &Path) -> Result<Value, String> {
    let out = work.join("invoke.out");
    let err = work.join("invoke.err");
    let mut invoke = command(cargo_lambda);
    invoke
        .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
        .args([
            "--invoke-port",
            &port.to_string(),
            "--output-format",
            "json",
        ])
        .arg("--data-file")
        .arg(&event.file)
        .arg(&event.binary);
    let status = run(&mut invoke, &out, &err, INVOKE_DEADLINE)?;
    let answer = read(&out);
    if !status.success() {
        return Err(format!(
            "cargo lambda invoke failed ({status}): {}{}",
            answer.trim(),
            tail(&read(&err), 20)
        ));
    }
    serde_json::from_str(&answer).map_err(|e| format!("the answer is not JSON ({e}): {answer}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `cargo lambda watch` in a process group of its own; dropping it stops the group (watch, the
/// `cargo run` it starts and the functions).
struct Watch {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

struct WatchOutput {
    stdout: String,
    stderr: String,
}

impl Watch {
    fn start(cargo_lambda: &Path, port: u16, env: &BTreeMap<String, String>, work: &Path) -> Watch {
        let stdout = work.join("watch.out");
        let stderr = work.join("watch.err");
        let mut watch = command(cargo_lambda);
        watch
            .args(["lambda", "watch", "--ignore-changes", "--color", "never"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string());
        for (name, value) in env {
            watch.arg("--env-var").arg(format!("{name}={value}"));
        }
        let child = watch
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("watch.out"))
            .stderr(File::create(&stderr).expect("watch.err"))
            .spawn()
            .expect("starting cargo lambda watch");
        let mut watch = Watch {
            child: Some(child),
            stdout,
            stderr,
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WATCH_READY_DEADLINE;
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            let exited = watch
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "cargo lambda watch exited ({status}):\n{}\n{}",
                    read(&watch.stdout),
                    read(&watch.stderr)
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on {address} within {WATCH_READY_DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        watch
    }

    fn stop(mut self) -> WatchOutput {
        self.kill();
        WatchOutput {
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        }
    }

    /// SIGTERM to watch's process group (watch stops the functions it started), then SIGKILL to
    /// the group and to every process watch had started that is still there after 10 s.
    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let descendants = descendants(child.id());
        let group = format!("-{}", child.id());
        let signal = |name: &str, target: &str| {
            let _ = Command::new("kill")
                .args([name, "--", target])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM", &group);
        let deadline = Instant::now() + Duration::from_secs(10);
        let alive = |pid: &u32| Path::new(&format!("/proc/{pid}")).exists();
        while Instant::now() < deadline
            && (matches!(child.try_wait(), Ok(None)) || descendants.iter().any(alive))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        signal("-KILL", &group);
        for pid in descendants.iter().filter(|p| alive(p)) {
            signal("-KILL", &pid.to_string());
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The processes below `pid` (from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = read(&entry.path().join("stat"));
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(parent) = parent {
            parents.push((child, parent));
        }
    }
    let mut found = vec![pid];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        next += 1;
    }
    found.remove(0);
    found
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
