#!/usr/bin/env bash
# Connector throughput per service against its simulator (release build), with the
# simulator's serving ceiling measured in the same run. Usage: bench/connectors.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_pkg ccache ccache
echo "== $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, records per table: ${1:-100000}"
cargo run -q --release -p avesa-connectors --example throughput -- "${1:-100000}"
