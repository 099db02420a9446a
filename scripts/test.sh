#!/usr/bin/env bash
# Everything CI checks, from a bare machine: installs the tools (rustfmt/clippy, the arm64 Rust
# target, the local AWS stack, SAM CLI, cfn-lint, cargo-lambda with zig), starts the local stack,
# runs formatting, lints, every test (unit, simulator, end-to-end, the functions' binaries under
# `cargo lambda watch`) and the template checks, builds every function with `sam build` (arm64,
# release) and checks each bootstrap's size, and stops the stack.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.local/tools"
SAM_VERSION="1.170.0"
CFN_LINT_VERSION="1.58.0"
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"
BOOTSTRAP_LIMIT=$((10 * 1024 * 1024)) # bytes: 10 MiB per function

# Each step's wall time, printed at the end.
STEP=""
STEP_STARTED=$SECONDS
TIMINGS=()
step() {
  [ -z "$STEP" ] || TIMINGS+=("$(printf '%6d s  %s' $((SECONDS - STEP_STARTED)) "$STEP")")
  STEP="$*"
  STEP_STARTED=$SECONDS
  [ -z "$STEP" ] || printf '\n==> %s\n' "$*"
}

step "Rust toolchain"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
# sam build cross-compiles the functions for Lambda's arm64.
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' ||
  rustup target add aarch64-unknown-linux-gnu
cargo --version

step "Template and Lambda tools (SAM CLI $SAM_VERSION, cfn-lint $CFN_LINT_VERSION, cargo-lambda $CARGO_LAMBDA_VERSION with ziglang $ZIGLANG_VERSION)"
# One environment: sam build finds cargo-lambda and zig only in its own.
if [ ! -x "$TOOLS/bin/sam" ] || [ ! -x "$TOOLS/bin/cfn-lint" ] || [ ! -x "$TOOLS/bin/cargo-lambda" ] ||
  ! "$TOOLS/bin/python" -c 'import ziglang' 2>/dev/null; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
fi
"$TOOLS/bin/cargo-lambda" lambda --version
# tests/runtime.rs runs the functions under `cargo lambda watch`.
export CARGO_LAMBDA="$TOOLS/bin/cargo-lambda"

step "Local AWS stack"
scripts/local-stack.sh start
trap 'scripts/local-stack.sh stop' EXIT
set -a; . "$ROOT/.local/stack.env"; set +a

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit, simulators, end to end, runtime API)"
cargo test --workspace --no-fail-fast

step "template: sam validate --lint, cfn-lint"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 "$TOOLS/bin/sam" validate --lint --template template.yaml
"$TOOLS/bin/cfn-lint" template.yaml
echo "template.yaml passes sam validate --lint and cfn-lint"

step "cargo lambda build: every function's binary for arm64 at once (release, zig)"
# sam build runs one `cargo lambda build --bin X` per function, one after the other; building
# all of them in one cargo run first lets cargo spread the per-function crates and LTO links over
# every core, and sam build then finds each binary fresh in the same target directory.
binaries=$(sed -n 's/^ *Binary: *//p' template.yaml | tr -d '"' | sort -u)
PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/cargo-lambda" lambda build --release --arm64 \
  $(printf -- '--bin %s ' $binaries)

step "sam build (every function for arm64 with cargo-lambda and zig, release)"
rm -rf "$ROOT/.aws-sam/build"
PATH="$TOOLS/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
  "$TOOLS/bin/sam" build --beta-features --template template.yaml --build-dir "$ROOT/.aws-sam/build"

step "bootstrap sizes (limit $BOOTSTRAP_LIMIT bytes = 10 MiB, aarch64)"
functions=$(grep -c 'Type: AWS::Serverless::Function' template.yaml)
built=0
bad=0
for bootstrap in "$ROOT"/.aws-sam/build/*/bootstrap; do
  [ -f "$bootstrap" ] || continue
  built=$((built + 1))
  size=$(stat -c %s "$bootstrap")
  machine=$(od -An -t u2 -j 18 -N 2 "$bootstrap" | tr -d ' ') # ELF e_machine: 183 is aarch64
  verdict=ok
  if [ "$machine" != 183 ]; then verdict="NOT aarch64 (e_machine $machine)"; bad=$((bad + 1)); fi
  if [ "$size" -gt "$BOOTSTRAP_LIMIT" ]; then verdict="OVER THE LIMIT"; bad=$((bad + 1)); fi
  printf '%-28s %10d bytes  %6.2f MiB  %s\n' "$(basename "$(dirname "$bootstrap")")" "$size" \
    "$(echo "$size" | awk '{print $1 / 1048576}')" "$verdict"
done
if [ "$built" -ne "$functions" ]; then
  echo "sam build produced $built bootstrap(s) for $functions function(s) in template.yaml" >&2
  exit 1
fi
if [ "$bad" -ne 0 ]; then
  echo "$bad bootstrap(s) over $BOOTSTRAP_LIMIT bytes or not built for arm64" >&2
  exit 1
fi

step ""
printf '\nstep times:\n'
printf '%s\n' "${TIMINGS[@]}"
