#!/usr/bin/env bash
# One table's ingest speed (issue 14): a full first sync of TICKETS ConnectWise tickets
# (default 1,000,000) from the simulator in its own process, read sequentially and in
# partitions side by side, on loopback and with every request 150 ms slow under a budget
# of 50 requests/s; records/s, CPU-µs per record, peak RSS; then incremental syncs after
# 1% changed, and the SCD2 apply alone of another 1% change. Then the same table-level
# figures for ServiceNow incidents, Salesforce cases and Microsoft 365 users (RECORDS each,
# default 100,000; Graph's delta read stays sequential). Release build.
# Usage: bench/ingest.sh [TICKETS] [RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_pkg ccache ccache
echo "== $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, release build, $(git rev-parse --short HEAD)"
cargo run -q --release --locked -p avesa-cli --example pipeline_bench -- ingest "${1:-1000000}"
cargo run -q --release --locked -p avesa-cli --example pipeline_bench -- services "${2:-100000}"
