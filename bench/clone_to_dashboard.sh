#!/usr/bin/env bash
# Time from `git clone` to a served dashboard: clones this repository into a temp folder,
# runs scripts/demo.sh there and stops when /health answers and the dashboard API returns
# data. Usage: bench/clone_to_dashboard.sh [cold]
#   cold: use empty cargo and ccache caches (the newcomer's first build)
#   (default) warm: reuse ~/.cache/avesa (what a second clone on the same machine sees)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
if [ "${1:-warm}" = cold ]; then
  export CARGO_TARGET_DIR="$work/target" CCACHE_DIR="$work/ccache"
fi
port=$((20000 + RANDOM % 20000))
start=$(date +%s)
git clone -q "$repo" "$work/avesa"
cd "$work/avesa"
./scripts/demo.sh --bind "127.0.0.1:$port" >"$work/demo.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
  kill -0 $pid 2>/dev/null || { cat "$work/demo.log"; exit 1; }
  sleep 1
done
end=$(date +%s)
echo "clone -> served dashboard (${1:-warm}): $((end - start)) s"
grep -E 'total .* records' "$work/demo.log" || true
