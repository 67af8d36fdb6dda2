#!/usr/bin/env bash
# The API under load (release build, wrk on this machine): requests/s, p50/p99 and error
# counts for the dashboard, a list page and a record, at 50 and 200 connections, on the
# demo data (20,000 tickets) and on a 1,000,000-ticket tenant; the same with every request
# a different URL (nothing answered from the cache); the server's peak memory; and the
# noisy-neighbour reproduction (one tenant's heavy searches against another tenant's
# list pages) with the protections on, and off by configuration.
# Usage: bench/api_load.sh [SECONDS per measurement, default 60] [BIG_TICKETS, default 1000000; 0 skips]
#                          [SECTIONS, default cached,uncached,noisy,big]
#   cached:   the demo data with the response cache on (the default configuration)
#   uncached: the same routes with the cache off (server.cache_size = 0): every answer a
#             warehouse query, through the read gate
#   noisy:    the noisy-neighbour reproduction, protections on, gate only, and off
#   big:      the 1,000,000-ticket tenant, cache on and off
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_pkg ccache ccache
need_pkg wrk wrk
need_pkg curl curl
secs=${1:-60}
big=${2:-1000000}
sections=",${3:-cached,uncached,noisy,big},"
want() { [[ $sections == *",$1,"* ]]; }
echo "== $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, release build, wrk ${secs}s per line"
cargo build -q --release --locked -p avesa-cli --bin avesa --example api_bench_data
bin="$CARGO_TARGET_DIR/release/avesa"
work=$(mktemp -d)
server=""
stop() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; server=""; }
trap 'stop; rm -rf "$work"' EXIT

serve() { # DATA_DIR [extra env...]: starts the server on a free port, sets $server and $base
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  env AVESA_LOG=warn AVESA_MAX_CONNECTIONS=4096 "${@:2}" "$bin" --data-dir "$1" serve --no-scheduler \
    --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
  server=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -fs "$base/health" >/dev/null 2>&1 && return; sleep 0.2; done
  cat "$work/server.log"; exit 1
}
token() { # TENANT EMAIL PASSWORD
  curl -fs "$base/auth/login" -H 'content-type: application/json' \
    -d "{\"tenant_id\":\"$1\",\"email\":\"$2\",\"password\":\"$3\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# One wrk measurement: LABEL CONNECTIONS TOKEN PATH-or-@PATHS-FILE
measure() {
  local label=$1 conns=$2 tok=$3 target=$4 out
  if [[ $target == @* ]]; then
    out=$(WRK_PATHS="${target#@}" wrk -t2 -c"$conns" -d"${secs}s" --latency --timeout 10s \
      -H "Authorization: Bearer $tok" -s bench/wrk/paths.lua "$base/")
  else
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency --timeout 10s -H "Authorization: Bearer $tok" "$base$target")
  fi
  local rps p50 p99 non2xx errors
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p50=$(awk '$1=="50%"{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/{print}' <<<"$out" | sed 's/ *Socket errors: //'); errors=${errors:-none}
  printf '%-34s %4s conns %10s req/s  p50 %8s  p99 %8s  non-2xx %6s  socket errors: %s\n' \
    "$label" "$conns" "$rps" "$p50" "$p99" "$non2xx" "$errors"
}
peak() { awk '/VmHWM/{printf "%.0f MiB\n", $2/1024}' "/proc/$server/status"; }

# The demo installation (20,000 tickets in the main tenant).
"$bin" --data-dir "$work/demo" demo --no-serve >"$work/demo.log" 2>&1
serve "$work/demo"
tok=$(token sitetechnology admin@sitetechnology.com demo-password)
curl -fs "$base/api/tickets?page_size=500&sort=id" -H "Authorization: Bearer $tok" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][7]["id"])' >"$work/id"
id=$(cat "$work/id")
# Distinct URLs: every ticket's record page, and list pages with a search and a sort.
python3 - "$base" "$tok" >"$work/records" <<'PY'
import json, sys, urllib.request
base, tok = sys.argv[1], sys.argv[2]
for page in range(1, 21):
    req = urllib.request.Request(f"{base}/api/tickets?page={page}&page_size=500", headers={"Authorization": f"Bearer {tok}"})
    for item in json.load(urllib.request.urlopen(req))["items"]:
        print(f"/api/tickets/{item['id']}")
PY
python3 - >"$work/lists" <<'PY'
for q in ["", "printer", "email", "server", "vpn", "password", "laptop", "backup"]:
    for sort in ["opened_at", "summary", "status", "priority"]:
        for page in range(1, 41):
            print(f"/api/tickets?page={page}&page_size=50&sort={sort}&order=desc" + (f"&q={q}" if q else ""))
PY
if want cached; then
  echo "-- demo data, response cache on: $(wc -l <"$work/records") distinct ticket records"
  for c in 50 200; do
    measure "dashboard" $c "$tok" /api/analytics/dashboard
    measure "list page 3 by opened_at" $c "$tok" "/api/tickets?page=3&page_size=50&sort=opened_at&order=desc"
    measure "ticket record" $c "$tok" "/api/tickets/$id"
    measure "search" $c "$tok" "/api/tickets?q=printer&page_size=50"
    measure "every ticket record (distinct)" $c "$tok" "@$work/records"
    measure "1,280 list pages (distinct)" $c "$tok" "@$work/lists"
  done
  echo "server peak memory: $(peak)"
fi
stop
if want uncached; then
  serve "$work/demo" AVESA_CACHE_SIZE=0 AVESA_LOG=warn
  tok=$(token sitetechnology admin@sitetechnology.com demo-password)
  echo "-- demo data, response cache off (every answer a warehouse query, through the read gate)"
  for c in 50 200; do
    measure "dashboard" $c "$tok" /api/analytics/dashboard
    measure "ticket record" $c "$tok" "/api/tickets/$id"
    measure "every ticket record (distinct)" $c "$tok" "@$work/records"
    measure "1,280 list pages (distinct)" $c "$tok" "@$work/lists"
  done
  echo "server peak memory: $(peak); refused for limits (warn lines): $(grep -c 'refused' "$work/server.log" || true); errors: $(grep -c ERROR "$work/server.log" || true)"
  stop
fi

# The noisy neighbour: tenant A (sitetechnology) floods with heavy searches, 16 at a time,
# every one different; tenant B (northwind) reads list pages. Protections on (defaults),
# then off (no cache, no read limits).
python3 - "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/heavy" <<'PY'
import sys, datetime
t = datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")
for i in range(5000):
    at = (t - datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
    print(f"/api/time-entries?page_size=500&q={'eaoi'[i % 4]}&sort=notes&as_of={at}")
PY
python3 - >"$work/b_lists" <<'PY'
for page in range(1, 200):
    for sort in ["opened_at", "summary"]:
        print(f"/api/tickets?page={page}&page_size=25&sort={sort}&order=desc")
PY
for mode in on gate-only off; do
  want noisy || break
  case $mode in
    on) serve "$work/demo" ;;
    gate-only) serve "$work/demo" AVESA_CACHE_SIZE=0 ;;
    off) serve "$work/demo" AVESA_CACHE_SIZE=0 AVESA_MAX_CONCURRENT_READS=1024 \
      AVESA_MAX_CONCURRENT_READS_PER_TENANT=1024 AVESA_QUERY_TIMEOUT_SECS=3600 ;;
  esac
  ta=$(token sitetechnology admin@sitetechnology.com demo-password)
  tb=$(token northwind admin@northwind.example demo-password)
  echo "-- noisy neighbour, protections $mode"
  measure "B list pages, alone" 4 "$tb" "@$work/b_lists"
  WRK_PATHS="$work/heavy" wrk -t1 -c16 -d"${secs}s" --latency --timeout 30s \
    -H "Authorization: Bearer $ta" -s bench/wrk/paths.lua "$base/" >"$work/flood" &
  flood=$!
  sleep 2
  measure "B list pages, during A's flood" 4 "$tb" "@$work/b_lists"
  wait $flood
  printf 'A: %s req/s, non-2xx %s (429s and 5xx; errors in the server log: %s)\n' \
    "$(awk '/Requests\/sec/{print $2}' "$work/flood")" \
    "$(awk '/Non-2xx/{print $NF}' "$work/flood" | grep . || echo 0)" \
    "$(grep -c 'ERROR' "$work/server.log" || true)"
  echo "server peak memory: $(peak)"
  stop
done

if want big && [ "$big" -gt 0 ]; then
  "$CARGO_TARGET_DIR/release/examples/api_bench_data" "$work/big" "$big"
  for cache in on off; do
    if [ $cache = on ]; then serve "$work/big"; else serve "$work/big" AVESA_CACHE_SIZE=0; fi
    tok=$(token big admin@big.example bench-password-1)
    id=$(curl -fs "$base/api/tickets?page_size=10" -H "Authorization: Bearer $tok" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][3]["id"])')
    echo "-- one tenant with $big tickets, response cache $cache"
    for c in 50 200; do
      measure "dashboard" $c "$tok" /api/analytics/dashboard
      measure "list page 3 by opened_at" $c "$tok" "/api/tickets?page=3&page_size=50&sort=opened_at&order=desc"
      measure "ticket record" $c "$tok" "/api/tickets/$id"
      measure "1,280 list pages (distinct)" $c "$tok" "@$work/lists"
    done
    echo "server peak memory: $(peak); refused for limits (warn lines): $(grep -c 'refused' "$work/server.log" || true); errors: $(grep -c ERROR "$work/server.log" || true)"
    stop
  done
fi
