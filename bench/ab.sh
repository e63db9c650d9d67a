#!/usr/bin/env bash
# Two node configurations side by side on one component (default examples/hello), in alternating
# wrk runs: for deciding a setting (engine.keep_resident_bytes, engine.pagemap_scan, ...) on
# figures from one session. Each node runs the full path (routing, metering on).
#
# Usage: bench/ab.sh 'CONFIG_A' 'CONFIG_B' [DURATION_S] [CONNECTIONS] [ROUNDS] [PACKAGE]
#   CONFIG_*: dotted keys, newline-separated (`engine.keep_resident_bytes = 0`); '' = defaults.
#   (default 8 16 3 example-hello)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

CONFIG_A=$1
CONFIG_B=$2
DURATION=${3:-8}
CONNECTIONS=${4:-16}
ROUNDS=${5:-3}
PACKAGE=${6:-example-hello}
PORT=${BENCH_PORT:-18231}

bench_build "$PACKAGE"
WASM=target/wasm32-wasip2/release/${PACKAGE//-/_}.wasm

PIDS=()
DIRS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "${DIRS[@]}"' EXIT
declare -A URLS SERVERS
for name in A B; do
    config_var="CONFIG_$name"
    bench_serve "$PORT" "${!config_var}"
    PIDS+=("$SERVER")
    DIRS+=("$DATA")
    key=$(bench_tenant "$URL" bench)
    GEYSER_URL=$URL GEYSER_API_KEY=$key "$GEYSER" deploy fn "$WASM" >/dev/null
    curl -fsS "$URL/fn/bench/fn/" >/dev/null
    URLS[$name]="$URL/fn/bench/fn/"
    SERVERS[$name]=$SERVER
    PORT=$((PORT + 1))
done

TICKS=$(getconf CLK_TCK)
RESULTS=$(mktemp)
DIRS+=("$RESULTS")
echo "command:     bench/ab.sh $(printf "'%s' " "$CONFIG_A" "$CONFIG_B")$DURATION $CONNECTIONS $ROUNDS $PACKAGE"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "geyser:      $GEYSER at $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
echo "load:        wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency, same machine"
for round in $(seq 1 "$ROUNDS"); do
    for name in A B; do
        before=$(cpu_ticks "${SERVERS[$name]}")
        line=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${URLS[$name]}" | python3 bench/wrk_summary.py)
        after=$(cpu_ticks "${SERVERS[$name]}")
        read -r requests rps p50 p99 non2xx errors <<<"$line"
        cpu_us=$(python3 -c "print(f'{($after-$before)/$TICKS*1e6/$requests:.1f}')")
        printf 'round %s %s %8s req/s  p50 %6s ms  p99 %6s ms  %7s us CPU/req  non-2xx %s\n' \
            "$round" "$name" "$rps" "$p50" "$p99" "$cpu_us" "$non2xx"
        echo "$name $rps $cpu_us" >>"$RESULTS"
    done
done
python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
mean = {n: [statistics.mean(float(r[i]) for r in rows if r[0] == n) for i in (1, 2)] for n in "AB"}
for n in "AB":
    print(f"mean {n} {mean[n][0]:8.0f} req/s  {mean[n][1]:7.1f} us CPU/req")
print(f"B/A: throughput {mean['B'][0] / mean['A'][0]:.3f}, CPU per request {mean['B'][1] / mean['A'][1]:.3f}")
PY
