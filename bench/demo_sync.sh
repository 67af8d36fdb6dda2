#!/usr/bin/env bash
# Measures the demo sync: records per second (printed by avesa) and peak memory
# (/usr/bin/time -v), on a fresh data folder. Usage: bench/demo_sync.sh [profile]
# where profile is debug (the demo's build, default) or release.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_pkg ccache ccache
need_pkg /usr/bin/time time
profile=${1:-debug}
flag=""; [ "$profile" = release ] && flag="--release"
build_ui >/dev/null
cargo build -q $flag -p avesa-cli --bin avesa
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
echo "== avesa demo --no-serve ($profile build), $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB"
/usr/bin/time -v "$CARGO_TARGET_DIR/$profile/avesa" --log warn --data-dir "$data" demo --no-serve 2>"$data/time.txt"
grep -E 'Elapsed|Maximum resident' "$data/time.txt"
echo "== second run (resume: nothing new but the overlap window)"
/usr/bin/time -v "$CARGO_TARGET_DIR/$profile/avesa" --log warn --data-dir "$data" demo --no-serve 2>"$data/time2.txt" | tail -2
grep -E 'Elapsed|Maximum resident' "$data/time2.txt"
