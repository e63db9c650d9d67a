#!/usr/bin/env bash
# What one outbound HTTP call costs a function: the probe guest answering directly (`/`) against
# the same guest making one GET to a local HTTP server through wasi:http's outgoing handler
# (allow-list check, resolution and private-address guard, a new connection, metering) and
# answering with its body (`/fetch`). The upstream alone is measured too, so its own cost can be
# told apart. Metering on, full path.
#
# Usage: [GEYSER_BIN=path/to/geyser UPSTREAM_BIN=path/to/upstream] bench/outbound.sh [DURATION_S] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

DURATION=${1:-10}
CONNECTIONS=${2:-16}
PORT=${BENCH_PORT:-18183}
UP_PORT=${BENCH_UPSTREAM_PORT:-18184}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bench_build geyser-fixture-probe
# UPSTREAM_BIN: the upstream server built elsewhere (with GEYSER_BIN); default this checkout's.
[ -n "${UPSTREAM_BIN:-}" ] || cargo build --release -q -p geyser-bench --bin upstream
"${UPSTREAM_BIN:-target/release/upstream}" "$UP_PORT" &
UPSTREAM=$!
bench_serve "$PORT" "outbound.allowed_private = [\"127.0.0.1:$UP_PORT\"]"
trap 'bench_stop $SERVER $DATA; kill $UPSTREAM 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$UP_PORT/"
export GEYSER_URL=$URL
GEYSER_API_KEY=$(bench_tenant "$URL" bench)
export GEYSER_API_KEY
"$GEYSER" deploy probe target/wasm32-wasip2/release/geyser_fixture_probe.wasm >/dev/null
"$GEYSER" config set probe --allow-host "http://127.0.0.1:$UP_PORT" >/dev/null
FETCH="$URL/fn/bench/probe/fetch?url=http%3A%2F%2F127.0.0.1%3A$UP_PORT%2Fhello"
curl -fsS "$FETCH" | grep -q "upstream hello"

run() { # run NAME URL: one wrk run; prints a line with req/s, p50, p99, server CPU per request
    local name=$1 url=$2 before after out
    before=$(cpu_ticks "$SERVER")
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
    after=$(cpu_ticks "$SERVER")
    local reqs rps p50 p99 non2xx
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    reqs=$(echo "$out" | awk '/requests in/{print $1}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/{print $NF}')
    local cpu
    cpu=$(python3 -c "print(f'{($after-$before)/$(getconf CLK_TCK)*1e6/$reqs:.1f}')")
    printf '%-10s %10s req/s  p50 %-8s p99 %-8s non-2xx %-4s geyser CPU %s us/request\n' \
        "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$cpu"
}

echo "command:     bench/outbound.sh $DURATION $CONNECTIONS"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "load:        wrk -t2 -c$CONNECTIONS -d${DURATION}s (same machine as the server)"
run direct "$URL/fn/bench/probe/"
run fetch "$FETCH"
UP=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$UP_PORT/hello")
echo "upstream   $(echo "$UP" | awk '/Requests\/sec/{print $2}') req/s  p50 $(echo "$UP" | awk '$1=="50%"{print $2}') (wrk straight to the upstream)"
"$GEYSER" --json usage >/dev/null
curl -fsS -H "authorization: Bearer $GEYSER_API_KEY" "$URL/v1/functions/probe/invocations?limit=1000" |
    python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r["outbound_requests"] == 1]
waits = sorted(r["outbound_wait_ms"] for r in rows)
walls = sorted(r["wall_ms"] for r in rows)
print(f"metered:    {len(rows)} of the last records made one call; outbound wait median {waits[len(waits)//2]:.3f} ms, wall median {walls[len(walls)//2]:.3f} ms")'
