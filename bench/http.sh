#!/usr/bin/env bash
# HTTP benchmark of the spine: warm throughput/latency of examples/hello through the full path
# (routing, auth lookup, fresh Store per request, metering on), and cold-start latency (first
# call after the function was evicted; compiled artifact on disk, page cache warm).
#
# Usage: [GEYSER_BIN=path/to/geyser] bench/http.sh [DURATION_S] [CONNECTIONS]
# Prints one block of figures; copy it into bench/RESULTS.md with the date and machine.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10}
CONNECTIONS=${2:-32}
PORT=${BENCH_PORT:-18181}
URL="http://127.0.0.1:$PORT"
ADMIN=bench-admin

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# GEYSER_BIN: benchmark another build (e.g. an older commit) with the same script.
if [ -z "${GEYSER_BIN:-}" ]; then
    cargo build --release -q -p geyser-runtime
fi
cargo build --release -q -p example-hello --target wasm32-wasip2
GEYSER=${GEYSER_BIN:-target/release/geyser}
WASM=target/wasm32-wasip2/release/example_hello.wasm

DATA=$(mktemp -d)
cat >"$DATA/geyser.toml" <<TOML
[engine]
idle_ttl_ms = 200
TOML
GEYSER_ADMIN_KEY=$ADMIN RUST_LOG=warn "$GEYSER" serve --listen "127.0.0.1:$PORT" \
    --data-dir "$DATA" --config "$DATA/geyser.toml" 2>"$DATA/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 300); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

export GEYSER_URL=$URL
KEY=$(GEYSER_API_KEY=$ADMIN "$GEYSER" --json tenant create bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
export GEYSER_API_KEY=$KEY
"$GEYSER" deploy hello "$WASM" >/dev/null
curl -fsS "$URL/fn/bench/hello/" >/dev/null

resident() { curl -fsS "$URL/metrics" | awk '/^geyser_resident_functions /{print $2}'; }

# Cold starts: wait for eviction, then time the first call.
COLD=()
for _ in $(seq 1 20); do
    for _ in $(seq 1 200); do [ "$(resident)" = "0" ] && break; sleep 0.05; done
    [ "$(resident)" = "0" ] || { echo "function was not evicted" >&2; exit 1; }
    COLD+=("$(curl -fsS -o /dev/null -w '%{time_total}' "$URL/fn/bench/hello/")")
done
COLD_MS=$(printf '%s\n' "${COLD[@]}" | sort -n | awk '{a[NR]=$1*1000} END {printf "median %.2f ms, min %.2f ms, max %.2f ms (n=%d)", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR], NR}')
WARM_MS=$(for _ in $(seq 1 20); do curl -fsS -o /dev/null -w '%{time_total}\n' "$URL/fn/bench/hello/"; done | sort -n | awk '{a[NR]=$1*1000} END {printf "median %.2f ms", (a[10]+a[11])/2}')

# Warm throughput: keep the function resident during the run (TTL is 200 ms, calls are constant).
CPU_BEFORE=$(awk '{print $14+$15}' /proc/$SERVER/stat)
WRK=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$URL/fn/bench/hello/")
CPU_AFTER=$(awk '{print $14+$15}' /proc/$SERVER/stat)
TICKS=$(getconf CLK_TCK)
RPS=$(echo "$WRK" | awk '/Requests\/sec/{print $2}')
REQS=$(echo "$WRK" | awk '/requests in/{print $1}')
P50=$(echo "$WRK" | awk '$1=="50%"{print $2}')
P99=$(echo "$WRK" | awk '$1=="99%"{print $2}')
NON2XX=$(echo "$WRK" | awk '/Non-2xx/{print $NF}')
CPU_US=$(python3 -c "print(f'{($CPU_AFTER-$CPU_BEFORE)/$TICKS*1e6/$REQS:.1f}')")
RECORDED=$("$GEYSER" --json usage | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["invocations"])')

echo "command:     bench/http.sh $DURATION $CONNECTIONS"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load:        wrk -t2 -c$CONNECTIONS -d${DURATION}s (same machine as the server)"
echo "warm:        $RPS req/s, p50 $P50, p99 $P99, non-2xx ${NON2XX:-0}, server CPU $CPU_US us/request"
echo "single call: warm $WARM_MS (curl, new connection each)"
echo "cold start:  $COLD_MS (curl, first call after eviction)"
echo "metered:     $RECORDED invocation records"
