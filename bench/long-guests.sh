#!/usr/bin/env bash
# The price of long-guest turns on an idle node: one tenant runs two endless loops at once
# (probe /loop, 3 s timeout) and the CPU each got is read from their records, with
# engine.long_guest_slots at its default (cores - 1), at 2, and 0 (off). The turns are not
# work-conserving: at the default, CPU-bound guests of one tenant share cores - 1 cores.
#
# Usage: [GEYSER_BIN=path/to/geyser] [CARGO_TARGET_DIR=dir] bench/long-guests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

PORT=${BENCH_PORT:-18193}
echo "command:     bench/long-guests.sh"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
bench_build geyser-fixture-probe
PROBE=${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/geyser_fixture_probe.wasm
for slots in default 2 0; do
    config=""
    [ "$slots" != default ] && config="engine.long_guest_slots = $slots"
    bench_serve "$PORT" "$config"
    key=$(bench_tenant "$URL" solo)
    GEYSER_URL=$URL GEYSER_API_KEY=$key "$GEYSER" deploy probe "$PROBE" --timeout-ms 3000 >/dev/null
    pids=()
    for _ in 1 2; do
        curl -s -o /dev/null "$URL/fn/solo/probe/loop" &
        pids+=($!)
    done
    wait "${pids[@]}"
    cpu=$(curl -s -H "authorization: Bearer $key" "$URL/v1/functions/probe/invocations" |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print(" + ".join("%.0f" % x["cpu_ms"] for x in r), "= %.0f ms of CPU" % sum(x["cpu_ms"] for x in r), "(" + ", ".join(x["outcome"] for x in r) + ")")')
    echo "long_guest_slots=$slots: two 3 s endless loops: $cpu"
    bench_stop "$SERVER" "$DATA"
done
