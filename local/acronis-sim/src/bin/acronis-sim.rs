//! Runs the simulator on its own: `acronis-sim [--host 127.0.0.1] [--port 0] [--seed FILE.json]
//! [--example-seed] [--token-lifetime-secs N] [--latency-ms N] [--faults P] [--fault-seed N]
//! [--timeout-ms N]`. Prints `acronis-sim listening on <base URL>` and serves until SIGINT/SIGTERM;
//! the control surface is `<base URL>/__sim`.

use acronis_sim::{AcronisSim, Seed, SimConfig};

fn usage() -> ! {
    eprintln!(
        "usage: acronis-sim [--host 127.0.0.1] [--port N] [--seed FILE.json] [--example-seed] [--token-lifetime-secs N] \
         [--latency-ms N] [--faults P] [--fault-seed N] [--timeout-ms N]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = SimConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--host" => config.host = value(),
            "--port" => config.port = value().parse().unwrap_or_else(|_| usage()),
            "--seed" => config.seed = Seed::from_json(&std::fs::read_to_string(value())?)?,
            "--example-seed" => config.seed = Seed::example(),
            "--token-lifetime-secs" => {
                config.token_lifetime =
                    std::time::Duration::from_secs(value().parse().unwrap_or_else(|_| usage()))
            }
            "--latency-ms" => config.knobs.latency_ms = value().parse().unwrap_or_else(|_| usage()),
            // 429, 503 and timeout (504) each with probability P (disjoint, so at most 1/3 each).
            "--faults" => {
                let p: f64 = value().parse().unwrap_or_else(|_| usage());
                if !(0.0..=1.0 / 3.0 + 1e-9).contains(&p) {
                    usage()
                }
                config.knobs.rate_limit_probability = p;
                config.knobs.server_error_probability = p;
                config.knobs.timeout_probability = p;
            }
            "--fault-seed" => {
                config.knobs.random_seed = value().parse().unwrap_or_else(|_| usage())
            }
            "--timeout-ms" => config.knobs.timeout_ms = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let sim = AcronisSim::start(config).await?;
    println!("acronis-sim listening on {}", sim.base_url());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    sim.shutdown().await;
    Ok(())
}
