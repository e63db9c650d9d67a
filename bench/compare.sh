#!/usr/bin/env bash
# Side by side: `wasmtime serve` (wasmtime-cli at the wasmtime version Geyser links) and Geyser
# on the same component (examples/hello), driven by the same load tool with the same connection
# count, in alternating runs. Geyser goes through its full path (routing, function lookup,
# fresh Store per request, metering on); a third contender is Geyser with metering switched off
# (`[metering] enabled = false`), which gives the cost of metering.
#
# Usage: bench/compare.sh [DURATION_S] [CONNECTIONS] [ROUNDS]   (default 10 32 3)
# BENCH_CONFIG: extra settings for both Geyser nodes as dotted keys (`http.route_cache_ms = 0`).
# Prints one line per run, then means and ratios; copy the block into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${1:-10}
CONNECTIONS=${2:-32}
ROUNDS=${3:-3}
PORT_WASMTIME=${BENCH_PORT:-18201}
PORT_GEYSER=$((PORT_WASMTIME + 1))
PORT_UNMETERED=$((PORT_WASMTIME + 2))

bench_anchor_tools
bench_build example-hello
WASM=target/wasm32-wasip2/release/example_hello.wasm

PIDS=()
DIRS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "${DIRS[@]}"' EXIT

"$WASMTIME" serve -S cli=y --addr "127.0.0.1:$PORT_WASMTIME" "$WASM" 2>/dev/null &
WASMTIME_PID=$!
PIDS+=("$WASMTIME_PID")
wait_http "http://127.0.0.1:$PORT_WASMTIME/"

# start_geyser NAME PORT CONFIG: a node with hello deployed; sets <NAME>_PID and <NAME>_URL.
start_geyser() {
    bench_serve "$2" "$3"
    PIDS+=("$SERVER")
    DIRS+=("$DATA")
    local key
    key=$(bench_tenant "$URL" bench)
    GEYSER_URL=$URL GEYSER_API_KEY=$key "$GEYSER" deploy hello "$WASM" >/dev/null
    curl -fsS "$URL/fn/bench/hello/" >/dev/null
    printf -v "${1}_PID" '%s' "$SERVER"
    printf -v "${1}_URL" '%s' "$URL/fn/bench/hello/"
}
start_geyser GEYSER "$PORT_GEYSER" ''
start_geyser UNMETERED "$PORT_UNMETERED" 'metering.enabled = false'
WASMTIME_URL="http://127.0.0.1:$PORT_WASMTIME/"

TICKS=$(getconf CLK_TCK)
RESULTS=$(mktemp)
DIRS+=("$RESULTS")
# run NAME: one wrk run against a contender; appends "name rps p50 p99 cpu_us non2xx errors".
run() {
    local name=$1 url_var="${1}_URL" pid_var="${1}_PID" before after line
    before=$(cpu_ticks "${!pid_var}")
    line=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${!url_var}" | python3 bench/wrk_summary.py)
    after=$(cpu_ticks "${!pid_var}")
    read -r requests rps p50 p99 non2xx errors <<<"$line"
    local cpu_us
    cpu_us=$(python3 -c "print(f'{($after-$before)/$TICKS*1e6/$requests:.1f}')")
    printf '%-10s %8s req/s  p50 %6s ms  p99 %6s ms  %7s us CPU/req  non-2xx %s  socket errors %s\n' \
        "$name" "$rps" "$p50" "$p99" "$cpu_us" "$non2xx" "$errors"
    echo "$name $rps $p50 $p99 $cpu_us" >>"$RESULTS"
}

echo "command:     bench/compare.sh $DURATION $CONNECTIONS $ROUNDS"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
[ -n "${BENCH_CONFIG:-}" ] && echo "config:      $(echo "$BENCH_CONFIG" | tr '\n' ' ')"
echo "load:        wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency, same machine as the servers"
echo "wasmtime:    $("$WASMTIME" --version) serve -S cli=y (otherwise default options: on-demand allocator), new Store per request"
echo "geyser:      $GEYSER at $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'), full path, metering on; UNMETERED: [metering] enabled = false"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round:"
    for name in WASMTIME GEYSER UNMETERED; do run "$name"; done
done
RECORDED=$(curl -fsS -H "authorization: Bearer $BENCH_ADMIN" "${GEYSER_URL%/fn/*}/metrics" | awk '$1 ~ /^geyser_invocations_total/ {s += $2} END {print s}')
python3 - "$RESULTS" "$RECORDED" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
mean = {}
for name in ("WASMTIME", "GEYSER", "UNMETERED"):
    runs = [r for r in rows if r[0] == name]
    mean[name] = [statistics.mean(float(r[i]) for r in runs) for i in (1, 2, 3, 4)]
    print(f"mean {name:<10} {mean[name][0]:8.0f} req/s  p50 {mean[name][1]:6.2f} ms  p99 {mean[name][2]:6.2f} ms  {mean[name][3]:7.1f} us CPU/req")
print(f"ratio geyser/wasmtime-serve: throughput {mean['GEYSER'][0] / mean['WASMTIME'][0]:.2f}, "
      f"CPU per request {mean['GEYSER'][3] / mean['WASMTIME'][3]:.2f}")
print(f"metering cost: throughput on/off {mean['GEYSER'][0] / mean['UNMETERED'][0]:.3f} "
      f"({(1 - mean['GEYSER'][0] / mean['UNMETERED'][0]) * 100:+.1f} % slower with metering), "
      f"CPU per request on/off {mean['GEYSER'][3] / mean['UNMETERED'][3]:.3f}")
print(f"metered node counted {sys.argv[2]} invocations in /metrics")
PY
