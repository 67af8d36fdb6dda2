#!/usr/bin/env bash
# Installs (once) and starts (if not already answering) the services the tests and the
# distributed demo use beside the machine's PostgreSQL and NATS:
#   - an S3-compatible server: moto, from PyPI, in a virtualenv    http://127.0.0.1:19900
#   - ClickHouse: Debian's clickhouse-server, with a private config  http://127.0.0.1:18123
#   - an SMTP sink: aiosmtpd, from PyPI, in a virtualenv, keeping every message it
#     receives in a Maildir (the report e-mail tests read it)         smtp://127.0.0.1:12525
# Each runs in the background from a folder under ~/.cache/avesa/services (installs and
# data persist there). A service that already answers is used as it is.
#
# Sourced by scripts/test.sh, which starts them (start_services) and stops at its end the
# ones it started (stop_started_services). Run on its own (scripts/services.sh) it starts
# them and leaves them running, for the distributed demo or a developer's test runs.
# shellcheck shell=bash

AVESA_SERVICES_DIR="${AVESA_SERVICES_DIR:-$HOME/.cache/avesa/services}"
export AVESA_TEST_S3_ENDPOINT="${AVESA_TEST_S3_ENDPOINT:-http://127.0.0.1:19900}"
export AVESA_TEST_CLICKHOUSE_URL="${AVESA_TEST_CLICKHOUSE_URL:-http://127.0.0.1:18123}"
export AVESA_TEST_SMTP="${AVESA_TEST_SMTP:-smtp://127.0.0.1:12525}"
export AVESA_TEST_SMTP_MAILDIR="${AVESA_TEST_SMTP_MAILDIR:-$AVESA_SERVICES_DIR/smtp/maildir}"

_AVESA_STARTED_PIDS=""

_answers() { # _answers URL: whether something answers HTTP there
  curl -s -o /dev/null --max-time 2 "$1"
}

_wait_for() { # _wait_for NAME URL LOG
  for _ in $(seq 1 120); do
    if _answers "$2"; then return 0; fi
    sleep 0.5
  done
  echo "error: $1 did not start; its log ($3):" >&2
  tail -20 "$3" >&2 || true
  return 1
}

start_s3() {
  need_pkg curl curl
  if _answers "$AVESA_TEST_S3_ENDPOINT"; then return 0; fi
  local dir="$AVESA_SERVICES_DIR/moto"
  mkdir -p "$dir"
  if [ ! -x "$dir/venv/bin/moto_server" ]; then
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install -q --disable-pip-version-check "moto[server]==5.*"
  fi
  local port="${AVESA_TEST_S3_ENDPOINT##*:}"
  nohup "$dir/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  _AVESA_STARTED_PIDS="$_AVESA_STARTED_PIDS $!"
  _wait_for "the S3 server (moto)" "$AVESA_TEST_S3_ENDPOINT" "$dir/moto.log"
}

start_clickhouse() {
  need_pkg curl curl
  if _answers "$AVESA_TEST_CLICKHOUSE_URL/?query=SELECT%201"; then return 0; fi
  need_pkg clickhouse-server clickhouse-server clickhouse-client
  local dir="$AVESA_SERVICES_DIR/clickhouse"
  local port="${AVESA_TEST_CLICKHOUSE_URL##*:}"
  mkdir -p "$dir/log" "$dir/data" "$dir/tmp"
  cat >"$dir/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/err.log</errorlog></logger>
  <http_port>$port</http_port>
  <tcp_port>19001</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
</yandex>
XML
  nohup /usr/sbin/clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  _AVESA_STARTED_PIDS="$_AVESA_STARTED_PIDS $!"
  _wait_for "ClickHouse" "$AVESA_TEST_CLICKHOUSE_URL/?query=SELECT%201" "$dir/log/err.log"
}

_smtp_answers() { # whether an SMTP server greets on AVESA_TEST_SMTP's host and port
  local hostport="${AVESA_TEST_SMTP#smtp://}"
  timeout 2 bash -c "exec 3<>/dev/tcp/${hostport%:*}/${hostport##*:} && head -c 3 <&3 | grep -q 220" 2>/dev/null
}

start_smtp() {
  mkdir -p "$AVESA_TEST_SMTP_MAILDIR"/{tmp,new,cur}
  if _smtp_answers; then return 0; fi
  local dir="$AVESA_SERVICES_DIR/smtp"
  if [ ! -x "$dir/venv/bin/aiosmtpd" ]; then
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install -q --disable-pip-version-check "aiosmtpd==1.4.*"
  fi
  local hostport="${AVESA_TEST_SMTP#smtp://}"
  nohup "$dir/venv/bin/python" -m aiosmtpd -n -l "$hostport" \
    -c aiosmtpd.handlers.Mailbox "$AVESA_TEST_SMTP_MAILDIR" >"$dir/smtp.log" 2>&1 &
  _AVESA_STARTED_PIDS="$_AVESA_STARTED_PIDS $!"
  for _ in $(seq 1 60); do
    if _smtp_answers; then return 0; fi
    sleep 0.5
  done
  echo "error: the SMTP sink did not start; its log ($dir/smtp.log):" >&2
  tail -20 "$dir/smtp.log" >&2 || true
  return 1
}

start_services() {
  start_s3
  start_clickhouse
  start_smtp
}

stop_started_services() {
  local pid
  for pid in $_AVESA_STARTED_PIDS; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $_AVESA_STARTED_PIDS; do
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  done
  _AVESA_STARTED_PIDS=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  . scripts/env.sh
  start_services
  echo "S3 (moto):  $AVESA_TEST_S3_ENDPOINT"
  echo "ClickHouse: $AVESA_TEST_CLICKHOUSE_URL"
  echo "SMTP sink:  $AVESA_TEST_SMTP (messages in $AVESA_TEST_SMTP_MAILDIR/new)"
fi
