#!/usr/bin/env bash
# Cold starts and compile times.
#  - First-deploy compile time: 5 deploys each of a small component (examples/hello) and a large
#    one (examples/ad-reports api), every upload distinct bytes so each one really compiles.
#  - Cold start from zero: 200 distinct functions (each its own artifact) deployed, all evicted
#    (compiled artifacts on disk, page cache warm), then each called once, one after the other
#    on one keep-alive connection: first-call latency p50/p99. Then the same 200 calls again
#    while resident, for comparison.
#
# Usage: bench/coldstart.sh [FUNCTIONS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${1:-200}
PORT=${BENCH_PORT:-18211}
bench_build example-hello example-ad-reports-api
SMALL=target/wasm32-wasip2/release/example_hello.wasm
LARGE=target/wasm32-wasip2/release/example_ad_reports_api.wasm

bench_serve "$PORT" 'engine.idle_ttl_ms = 1000'
trap 'bench_stop $SERVER $DATA' EXIT
KEY=$(bench_tenant "$URL" bench)

echo "command:     bench/coldstart.sh $N"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "compile, small ($(stat -c %s "$SMALL") bytes, examples/hello):"
target/release/deploy-many "$URL" "$KEY" "$SMALL" small 5 1 | sed 's/^/    /'
echo "compile, large ($(stat -c %s "$LARGE") bytes, examples/ad-reports api):"
target/release/deploy-many "$URL" "$KEY" "$LARGE" large 5 1 | sed 's/^/    /'
echo "deploy of the $N functions for the cold-start run:"
target/release/deploy-many "$URL" "$KEY" "$SMALL" f "$N" 2 | sed 's/^/    /'
wait_evicted "$URL"
echo "cold start:  $(target/release/first-calls "$URL" bench f "$N") first call of each, all evicted before"
echo "warm:        $(target/release/first-calls "$URL" bench f "$N") the same calls again, resident"
echo "cold starts: $(metric "$URL" geyser_cold_starts_total) counted by the node (geyser_cold_starts_total)"
