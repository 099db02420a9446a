//! `local-run`: the whole pipeline on one machine (the local runner's contract; `--help` and the
//! README's "The local runner"). Expects the local stack's environment
//! (`scripts/local-stack.sh start` writes it; `scripts/run-local.sh` does everything).

use std::process::ExitCode;

use local_runner::UsageError;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        sync_shared::telemetry::init();
    }
    match local_runner::run_cli(std::env::args().skip(1)).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("local-run: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("local-run: {e:#}");
            ExitCode::FAILURE
        }
    }
}
