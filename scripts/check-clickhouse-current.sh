#!/usr/bin/env bash
# Checks the ClickHouse warehouse's SQL on a current ClickHouse release, which Debian does
# not package: the warehouse conformance suite runs against the test server (Debian's
# clickhouse-server, scripts/services.sh) through a proxy that logs every request and
# answer (scripts/clickhouse-current/proxy.py); then every logged request is replayed on
# chdb, the embedded ClickHouse engine from PyPI (a current release), and each answer is
# compared with the test server's (scripts/clickhouse-current/replay.py). Prints the
# versions, how many requests were answered alike and any that were not.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/services.sh
start_services
trap stop_started_services EXIT
venv="$AVESA_SERVICES_DIR/chdb"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import chdb' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check chdb
fi
work="$(mktemp -d)"
port=18124
python3 scripts/clickhouse-current/proxy.py "$port" "$AVESA_TEST_CLICKHOUSE_URL" "$work/log.jsonl" &
proxy=$!
trap 'kill $proxy 2>/dev/null; stop_started_services' EXIT
sleep 1
kill -0 "$proxy" 2>/dev/null || { echo "error: the logging proxy did not start on port $port" >&2; exit 1; }
AVESA_TEST_CLICKHOUSE_URL="http://127.0.0.1:$port" \
  cargo test -q --locked -p avesa-warehouse-clickhouse --test conformance -- --test-threads=1
"$venv/bin/python" scripts/clickhouse-current/replay.py "$work/log.jsonl"
