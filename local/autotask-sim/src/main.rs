//! `autotask-sim [--host 127.0.0.1] [--port 0] [--seed FILE.json]`: serves the simulator until
//! SIGINT/SIGTERM and prints one line with the REST root and the zone lookup URL.

use autotask_sim::{AutotaskSim, Seed, SimConfig};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: autotask-sim [--host 127.0.0.1] [--port 0] [--seed FILE.json]");
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
            _ => return usage(),
        }
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
