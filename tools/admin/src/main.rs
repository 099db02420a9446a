//! `admin`: see the library and `admin --help`.

use std::io::Write;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match admin::run_args(std::env::args().skip(1)).await {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`admin status | head`) is not an error worth a panic.
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("admin: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
