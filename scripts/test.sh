#!/usr/bin/env bash
# Everything CI checks, from a bare machine: installs the tools (rustfmt/clippy, the local AWS
# stack, SAM CLI and cfn-lint), starts the local stack, runs formatting, lints, every test
# (unit, simulator, end-to-end) and the template checks, and stops the stack.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.local/tools"
SAM_VERSION="1.170.0"
CFN_LINT_VERSION="1.58.0"

step() { printf '\n==> %s\n' "$*"; }

step "Rust toolchain"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
cargo --version

step "Template tools (SAM CLI $SAM_VERSION, cfn-lint $CFN_LINT_VERSION)"
if [ ! -x "$TOOLS/bin/sam" ] || [ ! -x "$TOOLS/bin/cfn-lint" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION"
fi

step "Local AWS stack"
scripts/local-stack.sh start
trap 'scripts/local-stack.sh stop' EXIT
set -a; . "$ROOT/.local/stack.env"; set +a

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit, simulators, end to end)"
cargo test --workspace --no-fail-fast

step "template: sam validate --lint, cfn-lint"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 "$TOOLS/bin/sam" validate --lint --template template.yaml
"$TOOLS/bin/cfn-lint" template.yaml
echo "template.yaml passes sam validate --lint and cfn-lint"
