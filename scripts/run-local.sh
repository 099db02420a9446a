#!/usr/bin/env bash
# Runs the whole product on this machine: installs and starts the local AWS stack, loads the
# example configuration and secrets (config/examples), plays the schedules and the SQS
# event-source mappings against the Autotask and Acronis simulators, and prints a status per
# integration. Extra arguments go to `local-run` (--config DIR, --secrets FILE, --autotask URL,
# --acronis URL, --deployment NAME, --jobs JOB,..., --at TIME; see README "The local runner").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
scripts/local-stack.sh start
trap 'scripts/local-stack.sh stop' EXIT
set -a; . "$ROOT/.local/stack.env"; set +a
cargo run --quiet -p local-runner --bin local-run -- "$@"
