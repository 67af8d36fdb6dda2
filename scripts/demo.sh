#!/usr/bin/env bash
# The demo on a fresh machine: installs what the build needs, builds the UI and the
# binary, then runs `avesa demo` (simulators -> pipeline -> warehouse -> API + UI on
# http://127.0.0.1:3000). Extra arguments go to `avesa demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
need_pkg ccache ccache
build_ui
cargo build -p avesa-cli --bin avesa
exec "$CARGO_TARGET_DIR/debug/avesa" demo "$@"
