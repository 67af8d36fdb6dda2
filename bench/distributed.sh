#!/usr/bin/env bash
# The distributed shape against the embedded one: TICKETS tickets over TENANTS tenants
# synced by the embedded shape, then by `avesa worker` processes (1, 2 and 4 by default)
# on PostgreSQL, S3 (moto), ClickHouse and NATS JetStream, with each worker's CPU; the
# dashboard and a list page on DuckDB vs ClickHouse (p50/p99); and the time for a killed
# worker's job to be finished by another. Release build. Starts the test servers
# (scripts/services.sh) beside the machine's PostgreSQL and NATS.
# Usage: bench/distributed.sh [TICKETS] [TENANTS] [WORKERS, e.g. 1,2,4]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/services.sh
need_pkg ccache ccache
start_services
echo "== $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, release build"
cargo build -q --release --locked -p avesa-cli --bin avesa
cargo run -q --release --locked -p avesa-cli --example distributed_bench -- \
  "${1:-1000000}" "${2:-10}" "${3:-1,2,4}"
