#!/usr/bin/env bash
# HTTP benchmark of the spine: warm throughput/latency of examples/hello through the full path
# (routing, auth lookup, fresh Store per request, metering on), and cold-start latency (first
# call after the function was evicted; compiled artifact on disk, page cache warm).
#
# Usage: [GEYSER_BIN=path/to/geyser] [BENCH_CANARY=1|2] bench/http.sh [DURATION_S] [CONNECTIONS]
# Prints one block of figures; copy it into bench/RESULTS.md with the date and machine.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

DURATION=${1:-10}
CONNECTIONS=${2:-32}
PORT=${BENCH_PORT:-18181}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# GEYSER_BIN: benchmark another build (e.g. an older commit) with the same script.
bench_build example-hello
bench_serve "$PORT" 'engine.idle_ttl_ms = 200'
trap 'bench_stop $SERVER $DATA' EXIT
export GEYSER_URL=$URL
GEYSER_API_KEY=$(bench_tenant "$URL" bench)
export GEYSER_API_KEY
"$GEYSER" deploy hello target/wasm32-wasip2/release/example_hello.wasm >/dev/null
curl -fsS "$URL/fn/bench/hello/" >/dev/null

# Cold starts: wait for eviction, then time the first call.
COLD=()
for _ in $(seq 1 20); do
    wait_evicted "$URL"
    COLD+=("$(curl -fsS -o /dev/null -w '%{time_total}' "$URL/fn/bench/hello/")")
done
COLD_MS=$(printf '%s\n' "${COLD[@]}" | sort -n | awk '{a[NR]=$1*1000} END {printf "median %.2f ms, min %.2f ms, max %.2f ms (n=%d)", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR], NR}')
WARM_MS=$(for _ in $(seq 1 20); do curl -fsS -o /dev/null -w '%{time_total}\n' "$URL/fn/bench/hello/"; done | sort -n | awk '{a[NR]=$1*1000} END {printf "median %.2f ms", (a[10]+a[11])/2}')

# BENCH_CANARY=1: the warm run goes through a canary under watch — a second version takes half
# of live's calls (sticky by x-user: none is sent, so at random) with a rollback rule that never
# trips, so every call also passes the node's canary analysis.
# BENCH_CANARY=2: the same split without a rollback rule (nothing watched), to tell the
# analysis apart from the cost of two versions taking turns.
if [ "${BENCH_CANARY:-0}" != 0 ]; then
    "$GEYSER" deploy hello target/wasm32-wasip2/release/example_hello.wasm >/dev/null
    RULE=(--max-error-rate 1.0)
    [ "$BENCH_CANARY" = 2 ] && RULE=()
    "$GEYSER" alias set hello live --version 1 --canary 2 --weight 0.5 --sticky x-user \
        "${RULE[@]}" >/dev/null
fi

# Warm throughput: keep the function resident during the run (TTL is 200 ms, calls are constant).
CPU_BEFORE=$(cpu_ticks "$SERVER")
WRK=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$URL/fn/bench/hello/")
CPU_AFTER=$(cpu_ticks "$SERVER")
TICKS=$(getconf CLK_TCK)
RPS=$(echo "$WRK" | awk '/Requests\/sec/{print $2}')
REQS=$(echo "$WRK" | awk '/requests in/{print $1}')
P50=$(echo "$WRK" | awk '$1=="50%"{print $2}')
P99=$(echo "$WRK" | awk '$1=="99%"{print $2}')
NON2XX=$(echo "$WRK" | awk '/Non-2xx/{print $NF}')
CPU_US=$(python3 -c "print(f'{($CPU_AFTER-$CPU_BEFORE)/$TICKS*1e6/$REQS:.1f}')")
RECORDED=$("$GEYSER" --json usage | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["invocations"])')

echo "command:     ${BENCH_CANARY:+BENCH_CANARY=$BENCH_CANARY }bench/http.sh $DURATION $CONNECTIONS"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "load:        wrk -t2 -c$CONNECTIONS -d${DURATION}s (same machine as the server)"
echo "warm:        $RPS req/s, p50 $P50, p99 $P99, non-2xx ${NON2XX:-0}, server CPU $CPU_US us/request"
echo "single call: warm $WARM_MS (curl, new connection each)"
echo "cold start:  $COLD_MS (curl, first call after eviction)"
echo "metered:     $RECORDED invocation records"
if [ "${BENCH_CANARY:-0}" != 0 ]; then
    echo "by version:  $("$GEYSER" --json bill | python3 -c 'import json,sys; print(", ".join("v%d %d calls" % (v["version"], v["requests"]) for v in json.load(sys.stdin)["versions"]))')"
fi
