//! `bench_coldstart`: the functions' cold start. Builds every function's release binary (the
//! `Binary` of each function in `template.yaml`) and a hello-world `lambda_runtime` function
//! (`tools/hello-lambda`) the same way (`cargo build --release`: the workspace's size-optimised
//! profile, for this machine's architecture, with the rustflags `.cargo/config.toml` gives the
//! deployed arm64 target), then starts each binary N times (100) under a
//! stand-in for the Lambda runtime API, with a Lambda-like environment, and measures the time
//! from process start to its first `GET /2018-06-01/runtime/invocation/next` (Lambda's init
//! phase) and its peak RSS (VmHWM) at that moment. The runs take turns across the binaries, so
//! the machine's load falls on all alike. Prints median, p90 and max per binary and each
//! function's median over hello-world's (target: at most 1.5×).
//!
//! `cargo run --release -p local-runner --bin bench_coldstart [-- N [BINARY…]]` (BINARY: only
//! these functions, beside hello-world)

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

const BASELINE: &str = "hello-lambda";
const RATIO_TARGET: f64 = 1.5;
const NEXT_DEADLINE: Duration = Duration::from_secs(30);

struct Sample {
    init: Duration,
    peak_rss_kib: u64,
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = match args.next() {
        Some(n) => n
            .parse()
            .context("usage: bench_coldstart [RUNS [BINARY…]]")?,
        None => 100,
    };
    ensure!(runs > 0, "RUNS must be at least 1");
    let only: Vec<String> = args.collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut binaries = template_binaries(&root)?;
    if !only.is_empty() {
        binaries.retain(|binary| only.contains(binary));
        ensure!(
            !binaries.is_empty(),
            "no function's binary is named {only:?}"
        );
    }
    binaries.push(BASELINE.to_string());

    let started = Instant::now();
    let host = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let mut build = Command::new(env!("CARGO"));
    build.current_dir(&root).args([
        "build",
        "--release",
        "--manifest-path",
        "Cargo.toml",
        "--target",
        &host,
        "--config",
        &format!("target.{host}.{}", lambda_rustflags(&root)?),
    ]);
    for binary in &binaries {
        build.args(["--bin", binary]);
    }
    ensure!(
        build.status().context("cargo build")?.success(),
        "cargo build --release failed"
    );
    println!(
        "release build of {} binaries: {:.1} s",
        binaries.len(),
        started.elapsed().as_secs_f64()
    );
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let paths: Vec<PathBuf> = binaries
        .iter()
        .map(|b| target_dir.join(&host).join("release").join(b))
        .collect();

    let listener = TcpListener::bind("127.0.0.1:0").context("binding the runtime API")?;
    let runtime_api = listener.local_addr()?.to_string();
    let nexts = runtime_api_stand_in(listener);

    // One untimed start each: the binaries are in the page cache for every timed run.
    for (binary, path) in binaries.iter().zip(&paths) {
        cold_start(binary, path, &runtime_api, &nexts)?;
    }
    let mut samples: Vec<Vec<Sample>> = binaries.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for ((binary, path), samples) in binaries.iter().zip(&paths).zip(&mut samples) {
            samples.push(cold_start(binary, path, &runtime_api, &nexts)?);
        }
    }

    let baseline = median(samples.last().map(Vec::as_slice).unwrap_or_default());
    println!(
        "\n{runs} cold starts per binary, process start to the first /next request ({host} \
         release builds, linked as the deployed ones; binaries in the page cache)\n"
    );
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>7} {:>14} {:>9}",
        "binary", "median", "p90", "max", "size", "ratio", "peak RSS med", "max"
    );
    let mut worst: f64 = 0.0;
    for ((binary, path), samples) in binaries.iter().zip(&paths).zip(&samples) {
        let mut times: Vec<Duration> = samples.iter().map(|s| s.init).collect();
        times.sort();
        let mut rss: Vec<u64> = samples.iter().map(|s| s.peak_rss_kib).collect();
        rss.sort();
        let ratio = median(samples).as_secs_f64() / baseline.as_secs_f64();
        if binary != BASELINE {
            worst = worst.max(ratio);
        }
        println!(
            "{:<20} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>6.1} MB {:>6.2}x {:>10.1} MiB {:>5.1} MiB",
            binary,
            ms(median(samples)),
            ms(percentile(&times, 90)),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
            ratio,
            rss[rss.len() / 2] as f64 / 1024.0,
            rss.last().copied().unwrap_or(0) as f64 / 1024.0,
        );
    }
    println!(
        "\nslowest function: {worst:.2}x hello-world's median (target: at most {RATIO_TARGET}x): {}",
        if worst <= RATIO_TARGET {
            "met"
        } else {
            "missed"
        }
    );
    Ok(())
}

/// The `rustflags = […]` line of the deployed target's table in `.cargo/config.toml`: the bench
/// links this machine's binaries as Lambda's are linked. (Cargo applies a host target's
/// rustflags to proc-macros too, unless the build names its `--target`, as this one does.)
fn lambda_rustflags(root: &Path) -> Result<String> {
    const TABLE: &str = "[target.aarch64-unknown-linux-gnu]";
    let config = std::fs::read_to_string(root.join(".cargo/config.toml"))
        .context("reading .cargo/config.toml")?;
    config
        .lines()
        .skip_while(|line| line.trim() != TABLE)
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .map(str::trim)
        .find(|line| line.starts_with("rustflags"))
        .map(str::to_string)
        .with_context(|| format!(".cargo/config.toml has no rustflags in {TABLE}"))
}

/// The `Binary` of every function in `template.yaml`.
fn template_binaries(root: &Path) -> Result<Vec<String>> {
    let template = std::fs::read_to_string(root.join("template.yaml")).context("template.yaml")?;
    let binaries: Vec<String> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Binary:"))
        .map(|b| b.trim().trim_matches('"').to_string())
        .collect();
    ensure!(!binaries.is_empty(), "template.yaml names no Binary");
    Ok(binaries)
}

/// Accepts the functions' connections; sends the moment each `/next` request line arrives. It
/// never answers: the bench stops the process once it asked.
fn runtime_api_stand_in(listener: TcpListener) -> mpsc::Receiver<Instant> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line.starts_with("GET /2018-06-01/runtime/invocation/next") {
                        let _ = sender.send(Instant::now());
                    }
                    line.clear();
                }
            });
        }
    });
    receiver
}

/// Starts `path` with a Lambda-like environment; waits for its first `/next`; stops it.
fn cold_start(
    binary: &str,
    path: &Path,
    runtime_api: &str,
    nexts: &mpsc::Receiver<Instant>,
) -> Result<Sample> {
    while nexts.try_recv().is_ok() {}
    let mut command = Command::new(path);
    command
        .env_clear()
        .envs(lambda_environment(binary, runtime_api))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", path.display()))?;
    let asked = wait_for_next(&mut child, nexts);
    let peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let status = child.wait();
    let Some(asked) = asked else {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        bail!("{binary} never asked for an event ({status:?}): {stderr}");
    };
    Ok(Sample {
        init: asked.saturating_duration_since(started),
        peak_rss_kib: peak_rss_kib.unwrap_or(0),
    })
}

fn wait_for_next(child: &mut Child, nexts: &mpsc::Receiver<Instant>) -> Option<Instant> {
    let deadline = Instant::now() + NEXT_DEADLINE;
    while Instant::now() < deadline {
        match nexts.recv_timeout(Duration::from_millis(100)) {
            Ok(asked) => return Some(asked),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !matches!(child.try_wait(), Ok(None)) {
                    return None;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
    None
}

/// What Lambda gives a `provided.al2023` function, plus the template's variables (values that
/// make no call at init).
fn lambda_environment(binary: &str, runtime_api: &str) -> Vec<(String, String)> {
    let queue =
        |name: &str| format!("https://sqs.us-east-1.amazonaws.com/123456789012/bench-{name}.fifo");
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", binary.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{binary}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("_HANDLER", "bootstrap".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_SESSION_TOKEN", "bench".into()),
        ("TABLE_NAME", "bench".into()),
        ("SECRETS_PREFIX", "acronis-autotask-sync/".into()),
        ("RUST_LOG", "info".into()),
        ("MAX_RECEIVE_COUNT", "5".into()),
        ("RUN_LEASE_SECONDS", "60".into()),
        ("SETUP_QUEUE_URL", queue("setup")),
        ("PROVISIONING_QUEUE_URL", queue("provisioning")),
        ("TICKETS_QUEUE_URL", queue("tickets")),
        ("USAGE_QUEUE_URL", queue("usage")),
        ("PROVISIONING_APPLY_QUEUE_URL", queue("provisioning-apply")),
        ("USAGE_APPLY_QUEUE_URL", queue("usage-apply")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn median(samples: &[Sample]) -> Duration {
    let mut times: Vec<Duration> = samples.iter().map(|s| s.init).collect();
    times.sort();
    percentile(&times, 50)
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
