//! `autotask-sim [--host 127.0.0.1] [--port 0] [--seed FILE.json] [--latency-ms N] [--faults P]
//! [--faults-after-apply P] [--fault-seed N] [--timeout-ms N] [--hourly-threshold N] [--thread-limit N]`: serves the
//! simulator until SIGINT/SIGTERM and prints one line with the REST root and the zone lookup URL.
//! The control surface is `/__sim` on the same host and port.

use autotask_sim::{AutotaskSim, Seed, SimConfig};
use std::process::ExitCode;
use std::time::Duration;

fn usage() -> ExitCode {
    eprintln!(
        "usage: autotask-sim [--host 127.0.0.1] [--port 0] [--seed FILE.json] [--latency-ms N] \
         [--faults P] [--faults-after-apply P] [--fault-seed N] [--timeout-ms N] [--hourly-threshold N] [--thread-limit N]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = SimConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--host", Some(host)) => match host.parse() {
                Ok(ip) => config.host = ip,
                Err(_) => return usage(),
            },
            ("--port", Some(port)) => match port.parse() {
                Ok(port) => config.port = port,
                Err(_) => return usage(),
            },
            ("--seed", Some(path)) => {
                let seed = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|text| Seed::from_json(&text).map_err(|e| e.to_string()));
                match seed {
                    Ok(seed) => config.seed = seed,
                    Err(e) => {
                        eprintln!("autotask-sim: cannot load seed {path}: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            ("--latency-ms", Some(ms)) => match ms.parse() {
                Ok(ms) => config.knobs.latency = Duration::from_millis(ms),
                Err(_) => return usage(),
            },
            // 429, 500 and timeout each with probability P (disjoint, so at most 1/3 each).
            ("--faults", Some(p)) => match p.parse::<f64>() {
                Ok(p) if (0.0..=1.0 / 3.0 + 1e-9).contains(&p) => {
                    config.knobs.random_429_probability = p;
                    config.knobs.random_5xx_probability = p;
                    config.knobs.timeout_probability = p;
                }
                _ => return usage(),
            },
            // Processed, then the answer held for --timeout-ms (the write happened).
            ("--faults-after-apply", Some(p)) => match p.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => {
                    config.knobs.timeout_after_apply_probability = p;
                }
                _ => return usage(),
            },
            ("--fault-seed", Some(seed)) => match seed.parse() {
                Ok(seed) => config.knobs.rng_seed = seed,
                Err(_) => return usage(),
            },
            ("--timeout-ms", Some(ms)) => match ms.parse() {
                Ok(ms) => config.knobs.timeout_hold = Duration::from_millis(ms),
                Err(_) => return usage(),
            },
            ("--hourly-threshold", Some(n)) => match n.parse() {
                Ok(n) => config.hourly_request_threshold = n,
                Err(_) => return usage(),
            },
            ("--thread-limit", Some(n)) => match n.parse() {
                Ok(n) => config.thread_limit = n,
                Err(_) => return usage(),
            },
            _ => return usage(),
        }
    }
    let knobs = &config.knobs;
    // The fault outcomes are disjoint: together they cannot exceed certainty.
    if knobs.random_429_probability
        + knobs.random_5xx_probability
        + knobs.timeout_probability
        + knobs.timeout_after_apply_probability
        > 1.0 + 1e-9
    {
        eprintln!("autotask-sim: 3 × --faults + --faults-after-apply must not exceed 1");
        return usage();
    }
    let sim = match AutotaskSim::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("autotask-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "autotask-sim listening: base_url={} zone_lookup_url={}",
        sim.base_url(),
        sim.zone_lookup_url()
    );
    wait_for_signal().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
