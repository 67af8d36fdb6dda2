#!/usr/bin/env bash
# End-to-end pipeline benchmark: 1,000,000 ConnectWise tickets from the simulator, an
# incremental sync after 1% changed, and 10 tenants in one run against one alone.
# Usage: bench/pipeline.sh [TICKETS] [TENANTS] [debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_pkg ccache ccache
profile=${3:-debug}
flag=""; [ "$profile" = release ] && flag="--release"
echo "== $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $profile build"
cargo run -q $flag -p avesa-cli --example pipeline_bench -- "${1:-1000000}" "${2:-10}"
