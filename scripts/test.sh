#!/usr/bin/env bash
# Every test: formatting and lints, the UI's unit tests and build, and the Rust test
# suite (unit, integration, end-to-end against the simulators, and the headless-Chromium
# browser test). Installs what the tests need first, and starts the S3 server and
# ClickHouse (scripts/services.sh) beside the machine's PostgreSQL and NATS, stopping at
# the end those it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/services.sh
need_pkg ccache ccache
need_pkg chromium chromium
# The browser test reads the client reports' PDF pages (pdftotext).
need_pkg pdftotext poppler-utils
# tests/queue.rs runs a NATS server of its own (the machine's serves the other tests).
need_pkg nats-server nats-server
start_services
trap stop_started_services EXIT
build_ui
(cd web && npm test)
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The whole API fuzzed from its OpenAPI document against the demo data (schemathesis).
./scripts/api_fuzz.sh
