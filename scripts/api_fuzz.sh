#!/usr/bin/env bash
# Fuzzes the whole API from its own OpenAPI document with schemathesis (PyPI), against
# the demo data: `avesa demo` on a free port, then every operation with generated valid
# and invalid parameters and bodies, as a tenant admin (every tenant route) and as a
# platform admin (the tenant routes and /metrics). Fails on any 5xx, any status the
# document does not list, and any response that violates its schema.
#
#   scripts/api_fuzz.sh                 # the binary cargo built (debug)
#   AVESA_BIN=path/to/avesa scripts/api_fuzz.sh
#   FUZZ_EXAMPLES=200 scripts/api_fuzz.sh   # a longer run (default 15 per operation)
#   FUZZ_TAGS="reports views" scripts/api_fuzz.sh   # only those tags' operations
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

BIN="${AVESA_BIN:-$CARGO_TARGET_DIR/debug/avesa}"
EXAMPLES="${FUZZ_EXAMPLES:-15}"
SCHEMATHESIS_VERSION=4.32.5
VENV="$HOME/.cache/avesa/venv-schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -x "$BIN" ] || { echo "error: no avesa binary at $BIN (cargo build -p avesa-cli)" >&2; exit 1; }

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export AVESA_DATA_DIR="$WORK/data"
"$BIN" demo --bind "127.0.0.1:$PORT" >"$WORK/demo.log" 2>&1 &
DEMO=$!
cleanup() {
  kill "$DEMO" 2>/dev/null || true
  wait "$DEMO" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "api_fuzz: waiting for the demo on $BASE (it syncs first)"
for _ in $(seq 1 900); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$DEMO" 2>/dev/null || { cat "$WORK/demo.log" >&2; echo "error: the demo exited" >&2; exit 1; }
  sleep 1
done
curl -fsS "$BASE/health" >/dev/null || { tail -50 "$WORK/demo.log" >&2; exit 1; }

AVESA_USER_PASSWORD=fuzz-platform-password "$BIN" user add --tenant sitetechnology \
  --email fuzz-root@avesa.test --role platform_admin >/dev/null

token() { # token <tenant> <email> <password>
  curl -fsS "$BASE/auth/login" -H 'content-type: application/json' \
    -d "{\"tenant_id\":\"$1\",\"email\":\"$2\",\"password\":\"$3\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# Access tokens live 15 minutes: each run signs in just before it starts, and no run is
# that long (the tenant admin's operations are fuzzed in two runs).
admin_token() { token sitetechnology admin@sitetechnology.com demo-password; }
root_token() { token sitetechnology fuzz-root@avesa.test fuzz-platform-password; }

# A request may take 30 s before it counts as an error (schemathesis's own limit is 10 s):
# the fuzzer looks for wrong answers, not slow ones, and an export runs at the lowest CPU
# priority, so on a machine busy with other work it can take longer than 10 s.
fuzz() { # fuzz <name> <admin|root> <operations that must answer 2xx> -- <st args…>
  local name=$1 tok
  tok=$("$2_token")
  shift 2
  local required=()
  while [ "$1" != "--" ]; do required+=("$1"); shift; done
  shift
  local events="$WORK/$name.ndjson" rc=0
  (cd "$WORK" && "$VENV/bin/st" run "$BASE/api/openapi.json" \
    -H "Authorization: Bearer $tok" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" --seed 13 --workers 2 --request-timeout 30 \
    --generation-database none --no-color --warnings off \
    --report ndjson --report-ndjson-path "$events" "$@") || rc=1
  echo "api_fuzz: statuses per operation ($name)"
  python3 scripts/lib/fuzz_summary.py "$events" "${required[@]}" || rc=1
  return $rc
}
status=0
if [ -n "${FUZZ_TAGS:-}" ]; then
  # A developer's quick run: only the operations of these tags, as a tenant admin.
  tags=()
  for t in $FUZZ_TAGS; do tags+=(--include-tag "$t"); done
  echo "api_fuzz: the operations tagged $FUZZ_TAGS, as a tenant admin"
  fuzz tenant-admin admin -- "${tags[@]}" || status=1
  exit $status
fi
READS=(--include-tag analytics --include-tag entities --include-tag reports --include-tag views)
echo "api_fuzz: the data routes (analytics, entities, reports, views), as a tenant admin"
fuzz tenant-admin-data admin "GET /api/analytics/dashboard" "GET /api/tickets" \
  "GET /api/analytics/metrics" "GET /api/analytics/metrics/{metric}" \
  "GET /api/analytics/metrics/{metric}/series" "GET /api/companies" "GET /api/time-entries" \
  "GET /api/views" "GET /api/settings/branding" -- "${READS[@]}" || status=1
echo "api_fuzz: every other operation, as a tenant admin"
fuzz tenant-admin-ops admin "GET /auth/me" "GET /api/admin/runs" "GET /api/admin/users" \
  "GET /api/admin/services" "GET /api/admin/freshness" "GET /health/detailed" -- \
  "${READS[@]/--include-tag/--exclude-tag}" || status=1
echo "api_fuzz: tenants and metrics, as a platform admin"
fuzz platform-admin root "GET /api/admin/tenants" "GET /metrics" -- \
  --include-tag tenants --include-path /metrics || status=1
if grep -q "panicked" "$WORK/demo.log"; then
  grep -B2 -A5 "panicked" "$WORK/demo.log" >&2
  status=1
fi
exit $status
