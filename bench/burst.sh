#!/usr/bin/env bash
# Burst against a cold function: REQUESTS concurrent requests (default 10,000; one connection
# each, `target/release/burst`) fired at examples/hello after it was evicted. Prints status
# counts (goal: every one 200), latency percentiles and the server's RSS before and at peak.
#
# Usage: bench/burst.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${1:-10000}
PORT=${BENCH_PORT:-18221}
# One socket per request in the client and in the server (separate processes), plus headroom.
ulimit -n $((N + 1024))
bench_build example-hello
bench_serve "$PORT" 'engine.idle_ttl_ms = 500'
trap 'bench_stop $SERVER $DATA' EXIT
KEY=$(bench_tenant "$URL" bench)
GEYSER_URL=$URL GEYSER_API_KEY=$KEY "$GEYSER" deploy hello target/wasm32-wasip2/release/example_hello.wasm >/dev/null
curl -fsS "$URL/fn/bench/hello/" >/dev/null
wait_evicted "$URL"
RSS_IDLE=$(rss_kib "$SERVER")
OUT=$(target/release/burst "$URL/fn/bench/hello/burst" "$N" '{}')
RSS_PEAK=$(hwm_kib "$SERVER")

echo "command:     bench/burst.sh $N"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "$OUT"
echo "cold starts: $(metric "$URL" geyser_cold_starts_total) (the function was evicted before the burst)"
echo "server RSS:  idle $((RSS_IDLE / 1024)) MiB before the burst, peak $((RSS_PEAK / 1024)) MiB (VmHWM)"
