//! The `admin` binary without a table: help and usage errors. (With a table, on the local stack:
//! `tests/admin_cli.rs`.) Being an integration test of this package, it also makes
//! `cargo test --workspace` build `target/debug/admin` for that end-to-end test.

use std::process::Command;

fn admin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_admin"))
        .args(args)
        .env_remove("TABLE_NAME")
        .output()
        .expect("admin runs")
}

#[test]
fn help_lists_every_command() {
    let out = admin(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "status [INTEGRATION]",
        "plan INTEGRATION",
        "audit INTEGRATION",
        "mappings INTEGRATION",
        "reconcile INTEGRATION --month YYYY-MM",
    ] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2_and_say_why() {
    for (args, why) in [
        (
            &["status"][..],
            "no table: give --table NAME or set TABLE_NAME",
        ),
        (&["--table", "t", "plan"], "plan needs an integration id"),
        (
            &["--table", "t", "frobnicate"],
            "unknown command `frobnicate`",
        ),
        (
            &["--table", "t", "audit", "x", "--since", "soon"],
            "--since `soon`",
        ),
        (
            &["--table", "t", "reconcile", "x", "--month", "2026-13"],
            "--month `2026-13` is not a month as YYYY-MM",
        ),
        (
            &["--table", "t", "reconcile", "x"],
            "reconcile needs --month YYYY-MM",
        ),
    ] {
        let out = admin(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("admin: ") && stderr.contains(why),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
