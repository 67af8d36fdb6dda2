# Shared by scripts/*.sh: build caches outside the clone (so fresh clones and CI reuse
# them) and the system packages the build and tests need.
# shellcheck shell=bash

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/avesa/target}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"

_apt_updated=""
need_pkg() { # need_pkg <command> <debian package>...
  local cmd=$1; shift
  if ! command -v "$cmd" >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "error: '$cmd' is missing; install the Debian package(s) $* (needs root)" >&2
      exit 1
    fi
    if [ -z "$_apt_updated" ]; then
      apt-get update -qq
      _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

build_ui() {
  need_pkg npm nodejs npm
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    (cd web && npm ci --no-audit --no-fund)
  fi
  (cd web && npm run build)
}
