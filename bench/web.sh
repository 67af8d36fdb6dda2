#!/usr/bin/env bash
# The web app as a user meets it (release build, headless Chromium on this machine):
# sign-in click → interactive dashboard (every KPI card holds its number, no chart still
# loading) and a click → a rendered list page, timed by web/e2e/timings.mjs in fresh
# browser contexts, on two data sets:
#   demo: `avesa demo` (two demo tenants, simulators → pipeline → warehouse), tenant
#         sitetechnology;
#   1M:   tenant `big` of bench/analytics.sh's data (1,000,000 tickets, 5,000,000 time
#         entries, made once in $AVESA_BENCH_DATA; run bench/analytics.sh first to make it).
# The first sign-in after the server starts meets an empty response cache; later ones
# read what the first one computed until the data changes.
#
# Usage: bench/web.sh [SECTIONS, default demo,1M]
#   AVESA_BENCH_NO_BUILD=1: measure the release binary and web/dist already built.
#   AVESA_TIMING_RUNS: sign-ins per data set (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_pkg ccache ccache
need_pkg chromium chromium
need_pkg curl curl
sections=",${1:-demo,1M},"
want() { [[ $sections == *",$1,"* ]]; }
data=${AVESA_BENCH_DATA:-$HOME/.cache/avesa/bench-analytics}
echo "== $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(git rev-parse --short HEAD), release build, $(chromium --version 2>/dev/null | head -1)"
if [ -z "${AVESA_BENCH_NO_BUILD:-}" ]; then
  build_ui
  # The UI is embedded in the binary: build it after web/dist.
  cargo build -q --release --locked -p avesa-cli --bin avesa
fi
bin="$CARGO_TARGET_DIR/release/avesa"
work=$(mktemp -d)
server=""
stop() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; server=""; }
trap 'stop; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

timings() { # LABEL TENANT EMAIL PASSWORD
  local out
  out=$(cd web && AVESA_URL="$base" AVESA_TENANT="$2" AVESA_EMAIL="$3" AVESA_PASSWORD="$4" node e2e/timings.mjs)
  python3 - "$1" "$out" <<'PY'
import json, sys
label, t = sys.argv[1], json.loads(sys.argv[2])
f, l = t["first_signin"], t["later_signins_median"]
print(f"{label:>5}: sign-in → interactive dashboard: first {f['interactive_ms']} ms "
      f"(first card {f['first_card_ms']} ms), later sign-ins median {l['interactive_ms']} ms "
      f"(first card {l['first_card_ms']} ms); nav → tickets list median {t['nav_to_list_median_ms']} ms "
      f"(max {t['nav_to_list_max_ms']}); next page median {t['next_page_median_ms']} ms "
      f"(max {t['next_page_max_ms']}); {t['runs']} sign-ins")
PY
}

if want demo; then
  port=$(free_port)
  base="http://127.0.0.1:$port"
  "$bin" --data-dir "$work/demo" --log warn demo --bind "127.0.0.1:$port" >"$work/demo.log" 2>&1 &
  server=$!
  for _ in $(seq 1 900); do grep -q "AVESA is running" "$work/demo.log" && break; sleep 0.2; done
  grep -q "AVESA is running" "$work/demo.log" || { cat "$work/demo.log"; exit 1; }
  tickets=$(grep -Eo 'tickets +[0-9]+ records' "$work/demo.log" | head -1 | grep -Eo '[0-9]+' || true)
  echo "demo: $(grep -E 'Demo data ready' "$work/demo.log"), main tenant's tickets synced: ${tickets:-?}"
  timings demo sitetechnology admin@sitetechnology.com demo-password
  stop
fi

if want 1M; then
  [ -f "$data/complete" ] || { echo "no data in $data: run bench/analytics.sh first" >&2; exit 1; }
  port=$(free_port)
  base="http://127.0.0.1:$port"
  AVESA_LOG=warn "$bin" --data-dir "$data" serve --no-scheduler --bind "127.0.0.1:$port" >"$work/big.log" 2>&1 &
  server=$!
  for _ in $(seq 1 150); do curl -fs "$base/health" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fs "$base/health" >/dev/null || { cat "$work/big.log"; exit 1; }
  echo "1M: $data, made $(cat "$data/complete")"
  timings 1M big admin@big.example bench-password-1
  echo "server peak RSS: $(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' "/proc/$server/status")"
  stop
fi
