#!/usr/bin/env bash
# The long crash-safety soak: the same test as the suite's, with 100 kill/abort trials
# (AVESA_CRASH_TRIALS overrides). Usage: scripts/crash_soak.sh [trials]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
AVESA_CRASH_TRIALS="${1:-100}" cargo test -p avesa-cli --test crash -- --nocapture
