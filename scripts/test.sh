#!/usr/bin/env bash
# Runs every test: unit tests, the end-to-end suite against SQLite and PostgreSQL with real
# guest components built from source (Rust, and JavaScript and Python with their own
# toolchains: scripts/guest-tools.sh), the dashboard in headless Chromium (installed from
# Debian on first use), a 3-node cluster behind HAProxy (scripts/cluster-up.sh), the Kafka trigger against a real broker (started here,
# installed on first use by scripts/kafka-up.sh), and the CLI tests of the `geyser` binary.
# This is the test command of README.md, and what .ci/run runs. Extra arguments go to
# `cargo test`. The last line sums every test binary's result.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
scripts/postgres-up.sh
# The dashboard test drives Debian's headless Chromium; the cluster test runs nodes behind
# Debian's HAProxy.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
if [ -n "$missing" ]; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi
kafka_state=${KAFKA_STATE_DIR:-target/kafka}
started_kafka=0
if ! { [ -f "$kafka_state/pid" ] && kill -0 "$(cat "$kafka_state/pid")" 2>/dev/null; }; then
    started_kafka=1
fi
scripts/kafka-up.sh
# npm and PyPI toolchains for the JavaScript and Python functions built from source.
scripts/guest-tools.sh

log=$(mktemp)
cleanup() {
    rm -f "$log"
    if [ "$started_kafka" = 1 ]; then scripts/kafka-down.sh || true; fi
}
trap cleanup EXIT
status=0
cargo test "$@" 2>&1 | tee "$log" || status=$?
# The management API against its own OpenAPI document: no 5xx for any generated request.
if [ "$#" = 0 ]; then
    scripts/schemathesis.sh || status=$?
fi
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
