#!/usr/bin/env bash
# The distributed demo: the same demo tenants and dashboard as `scripts/demo.sh`, on the
# scale-out shape. Installs and starts ClickHouse and the S3 server (scripts/services.sh),
# uses the machine's PostgreSQL (127.0.0.1:5432) and NATS JetStream (127.0.0.1:4222),
# starts three `avesa worker` processes, then `avesa demo`, whose sync runs on the
# workers and which serves the API and UI on http://127.0.0.1:3000. Ctrl-C stops it all.
# Extra arguments go to `avesa demo`. Everything is configured by environment variables
# (docs/configuration.md); the processes' own files go under $AVESA_DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/services.sh
need_pkg ccache ccache
need_pkg psql postgresql-client
start_services
build_ui
cargo build -p avesa-cli --bin avesa
BIN="$CARGO_TARGET_DIR/debug/avesa"

DIR="${AVESA_DEMO_DIR:-avesa-data-distributed}"
DB="${AVESA_DEMO_DB:-avesa_demo}"
PG="${AVESA_DEMO_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
mkdir -p "$DIR"
chmod 700 "$DIR"
if ! psql "$PG/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  psql "$PG/postgres" -qc "CREATE DATABASE $DB"
fi
curl -s -o /dev/null -X PUT "$AVESA_TEST_S3_ENDPOINT/avesa-demo"
# The keys every process shares, made once.
[ -s "$DIR/master.key" ] || (umask 077; head -c 32 /dev/urandom | base64 >"$DIR/master.key")
[ -s "$DIR/jwt.key" ] || (umask 077; head -c 48 /dev/urandom | base64 >"$DIR/jwt.key")

export AVESA_STATE="$PG/$DB"
export AVESA_LAKE="s3://avesa-demo/lake"
export AVESA_S3_ENDPOINT="$AVESA_TEST_S3_ENDPOINT"
export AVESA_S3_ACCESS_KEY_ID="avesa-demo"
export AVESA_S3_SECRET_ACCESS_KEY="avesa-demo-secret"
export AVESA_WAREHOUSE="clickhouse+http://${AVESA_TEST_CLICKHOUSE_URL#http://}/$DB"
export AVESA_QUEUE="${AVESA_QUEUE:-nats://127.0.0.1:4222}"
AVESA_MASTER_KEY="$(cat "$DIR/master.key")"
AVESA_JWT_SECRET="$(cat "$DIR/jwt.key")"
export AVESA_MASTER_KEY AVESA_JWT_SECRET

pids=""
cleanup() {
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for i in 1 2 3; do
  "$BIN" --data-dir "$DIR/worker$i" worker >"$DIR/worker$i.log" 2>&1 &
  pids="$pids $!"
done
echo "3 workers started (logs: $DIR/worker{1,2,3}.log)"
"$BIN" --data-dir "$DIR/serve" demo "$@"
