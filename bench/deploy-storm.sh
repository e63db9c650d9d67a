#!/usr/bin/env bash
# Deploy storm: tenant "victim"'s hello latency alone, then while 4 tenants each deploy a large
# component (slow to compile: 20,000 functions) at once. Run with the compile gate as shipped
# (engine.max_concurrent_compiles = 1, compile_wait_ms = 5000: three of the four get 503 with
# Retry-After) and with it opened (max_concurrent_compiles = 4, all compile together), in one
# session, alternating ROUNDS times.
#
# Usage: [GEYSER_BIN=path/to/geyser] bench/deploy-storm.sh [ROUNDS] [FUNCTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${1:-2}
FUNCTIONS=${2:-20000}
PORT=${BENCH_PORT:-18191}
BENCH_TOOLS=${CARGO_TARGET_DIR:-target}/release
echo "command:     bench/deploy-storm.sh $ROUNDS $FUNCTIONS"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
bench_build example-hello
HELLO=${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/example_hello.wasm

storm() {
    local label=$1 config=$2
    bench_serve "$PORT" "$config"
    local victim keys=()
    victim=$(bench_tenant "$URL" victim)
    for i in 1 2 3 4; do keys+=("$(bench_tenant "$URL" "deployer$i")"); done
    GEYSER_URL=$URL GEYSER_API_KEY=$victim "$GEYSER" deploy hello "$HELLO" >/dev/null
    echo "--- $label ($config)"
    STORM_KEYS=$(IFS=,; echo "${keys[*]}") "$BENCH_TOOLS/deploy-storm" "$URL" victim 4 "$FUNCTIONS"
    bench_stop "$SERVER" "$DATA"
}
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    storm "gate (default)" "engine.max_concurrent_compiles = 1"
    storm "gate opened" "engine.max_concurrent_compiles = 4"
done
