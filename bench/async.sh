#!/usr/bin/env bash
# Asynchronous burst against a cold function: REQUESTS concurrent `Prefer: respond-async` POSTs
# (default 10,000; one connection each, `burst` with BURST_HEADER) at examples/hello after it
# was evicted. Prints how fast the 202s came (accepts per second, p99 accept latency), then how
# long the workers took to drain the queue (every invocation ended), and the end states.
#
# Usage: bench/async.sh [REQUESTS]   (CARGO_TARGET_DIR and GEYSER_BIN are honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${1:-10000}
PORT=${BENCH_PORT:-18231}
TARGET=${CARGO_TARGET_DIR:-target}
GEYSER=${GEYSER_BIN:-$TARGET/release/geyser}
ulimit -n $((N + 1024))
bench_build example-hello
bench_serve "$PORT" "engine.idle_ttl_ms = 500
quotas.max_async_queued = $((N + 1000))"
trap 'bench_stop $SERVER $DATA' EXIT
KEY=$(bench_tenant "$URL" bench)
GEYSER_URL=$URL GEYSER_API_KEY=$KEY "$GEYSER" deploy hello "$TARGET/wasm32-wasip2/release/example_hello.wasm" >/dev/null
curl -fsS "$URL/fn/bench/hello/" >/dev/null
wait_evicted "$URL"
START=$(date +%s.%N)
OUT=$(BURST_HEADER='prefer: respond-async' "$TARGET/release/burst" "$URL/fn/bench/hello/async" "$N" '{}')
ACCEPTED=$(date +%s.%N)
# Drained when this node's workers have ended every accepted invocation.
while :; do
    ENDED=$(curl -fsS -H "authorization: Bearer $BENCH_ADMIN" "$URL/metrics" |
        awk '/^geyser_async_ended_total/ {s += $2} END {print s + 0}')
    [ "${ENDED%.*}" -ge "$N" ] && break
    sleep 0.05
done
DRAINED=$(date +%s.%N)

echo "command:     bench/async.sh $N"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "accept:      $OUT" | sed '2,$s/^/             /'
echo "drain:       all $N ended $(echo "$DRAINED - $START" | bc) s after the first request ($(echo "$DRAINED - $ACCEPTED" | bc) s after the last 202), $(echo "$N / ($DRAINED - $START)" | bc) invocations/s end to end"
echo "ended:       $(curl -fsS -H "authorization: Bearer $BENCH_ADMIN" "$URL/metrics" | grep '^geyser_async_ended_total' | tr '\n' ' ')"
echo "cold starts: $(metric "$URL" geyser_cold_starts_total) (the function was evicted before the burst)"
