#!/usr/bin/env bash
# Geyser against the strongest anchor on every kind of component: `wasmtime serve` (wasmtime-cli
# at the wasmtime version Geyser links) in each of its configurations that matter for this —
# defaults (on-demand allocator, copy-on-write memory images), `-O pooling-allocator=y`, and
# `-O pooling-allocator=y -O memory-init-cow=n` — against Geyser's full path (routing, function
# lookup, fresh Store per request, metering on) with its default configuration, on:
#   hello-rs  examples/hello (Rust, ~100 KB)
#   hello-js  a bare fetch handler, built here with componentize-js (~13 MB)
#   hello-py  a bare wasi:http handler, built here with componentize-py (~20 MB)
# Each contender is loaded by the same wrk (-t2, same machine), in alternating rounds; the
# table compares Geyser with the best wasmtime configuration of that component.
#
# Usage: bench/anchor.sh [DURATION_S] [CONNECTIONS] [ROUNDS]   (default 8 16 2)
# BENCH_CONFIG: extra settings for the Geyser node as dotted keys (`engine.memory_init_cow_min_kb = 0`).
# ANCHOR_COMPONENTS: which rows to run (default "hello-rs hello-js hello-py").
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${1:-8}
CONNECTIONS=${2:-16}
ROUNDS=${3:-2}
COMPONENTS=${ANCHOR_COMPONENTS:-hello-rs hello-js hello-py}
PORT=${BENCH_PORT:-18251}

bench_anchor_tools
bench_build example-hello
ROOT=$PWD
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK" "${DATA:-}"' EXIT

# The guests, built from source with their own toolchains. The JS and Python hellos export only
# wasi:http/incoming-handler (world `plain-http` added to the SDK's worlds), so that
# `wasmtime serve` can link them too: the scaffold's hellos import geyser:function/kv.
declare -A WASM=([hello-rs]=target/wasm32-wasip2/release/example_hello.wasm)
if [[ " $COMPONENTS " == *" hello-js "* || " $COMPONENTS " == *" hello-py "* ]]; then
    scripts/guest-tools.sh >/dev/null
    GEYSER_ABS=$(cd "$(dirname "$GEYSER")" && pwd)/$(basename "$GEYSER")
    # The SDK's wit with one more world (symlinks resolved: componentize-js reads only the
    # directory it is given).
    cp -rL sdk/wit "$WORK/wit"
    printf '\nworld plain-http {\n    export wasi:http/incoming-handler@0.2.10;\n}\n' >>"$WORK/wit/worlds.wit"
    (
        cd "$WORK"
        # The scaffold brings the pinned componentize-js; the app is a bare fetch handler.
        "$GEYSER_ABS" new hello-js --lang js --http >/dev/null
        cd hello-js
        npm install -s >/dev/null
        cat >plain.js <<'JS'
addEventListener('fetch', (event) => event.respondWith(new Response('hello from js\n')));
JS
        cat >build-plain.mjs <<'JS'
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
const { component } = await componentize({
  sourcePath: 'plain.js', witPath: process.argv[2], worldName: 'plain-http',
});
await writeFile('plain.wasm', component);
JS
        cp -r "$WORK/wit" wit
        node build-plain.mjs wit
    )
    (
        cd "$WORK"
        mkdir hello-py
        cd hello-py
        cat >app.py <<'PY'
from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import types


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out):
        response = types.OutgoingResponse(types.Fields.from_list([]))
        response.set_status_code(200)
        body = response.body()
        types.ResponseOutparam.set(response_out, Ok(response))
        stream = body.write()
        stream.blocking_write_and_flush(b"hello from python\n")
        stream.__exit__(None, None, None)
        types.OutgoingBody.finish(body, None)
PY
        "$ROOT/target/guest-tools/py/bin/componentize-py" -d "$WORK/wit" -w plain-http componentize app -o plain.wasm >/dev/null
    )
    WASM[hello-js]=$WORK/hello-js/plain.wasm
    WASM[hello-py]=$WORK/hello-py/plain.wasm
fi

# wait_long URL: like wait_http, for servers that compile a large component first.
wait_long() {
    local _
    for _ in $(seq 1 1800); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "$1 did not answer" >&2
    return 1
}

# One Geyser node with every component deployed.
bench_serve "$PORT" ''
PIDS+=("$SERVER")
GEYSER_PID=$SERVER
GEYSER_BASE=$URL
KEY=$(bench_tenant "$URL" bench)
for name in $COMPONENTS; do
    GEYSER_URL=$URL GEYSER_API_KEY=$KEY "$GEYSER" deploy "$name" "${WASM[$name]}" >/dev/null
    curl -fsS "$URL/fn/bench/$name/" >/dev/null
done

CONFIGS=("default:" "pooling:-O pooling-allocator=y" "pooling-nocow:-O pooling-allocator=y -O memory-init-cow=n")
TICKS=$(getconf CLK_TCK)
RESULTS=$WORK/results

# run COMPONENT CONTENDER URL PID: one wrk run; appends "component contender rps p50 p99 cpu_us".
run() {
    local component=$1 contender=$2 url=$3 pid=$4 before after line
    before=$(cpu_ticks "$pid")
    line=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url" | python3 bench/wrk_summary.py)
    after=$(cpu_ticks "$pid")
    read -r requests rps p50 p99 non2xx errors <<<"$line"
    local cpu_us
    cpu_us=$(python3 -c "print(f'{($after-$before)/$TICKS*1e6/max($requests,1):.1f}')")
    printf '%-9s %-22s %8s req/s  p50 %6s ms  p99 %6s ms  %8s us CPU/req  non-2xx %s  socket errors %s\n' \
        "$component" "$contender" "$rps" "$p50" "$p99" "$cpu_us" "$non2xx" "$errors"
    echo "$component $contender $rps $p50 $p99 $cpu_us" >>"$RESULTS"
}

echo "command:     bench/anchor.sh $DURATION $CONNECTIONS $ROUNDS"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
[ -n "${BENCH_CONFIG:-}" ] && echo "config:      $(echo "$BENCH_CONFIG" | tr '\n' ' ')"
echo "load:        wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency, same machine as the servers"
echo "wasmtime:    $("$WASMTIME" --version) serve -S cli=y, new Store per request; configurations: ${CONFIGS[*]}"
echo "geyser:      $GEYSER at $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'), full path, metering on, default [engine]"
for name in $COMPONENTS; do
    echo "$name: $(stat -c %s "${WASM[$name]}") bytes"
    # The wasmtime servers of this component, one per configuration, up at once.
    declare -A WT_PID=()
    n=0
    for config in "${CONFIGS[@]}"; do
        label=${config%%:*}
        # shellcheck disable=SC2206
        options=(${config#*:})
        n=$((n + 1))
        "$WASMTIME" serve -S cli=y "${options[@]}" --addr "127.0.0.1:$((PORT + 10 + n))" "${WASM[$name]}" 2>/dev/null &
        WT_PID[$label]=$!
        PIDS+=("$!")
        wait_long "http://127.0.0.1:$((PORT + 10 + n))/"
    done
    for round in $(seq 1 "$ROUNDS"); do
        n=0
        for config in "${CONFIGS[@]}"; do
            label=${config%%:*}
            n=$((n + 1))
            run "$name" "wasmtime-$label" "http://127.0.0.1:$((PORT + 10 + n))/" "${WT_PID[$label]}"
        done
        run "$name" geyser "$GEYSER_BASE/fn/bench/$name/" "$GEYSER_PID"
    done
    for label in "${!WT_PID[@]}"; do kill "${WT_PID[$label]}" 2>/dev/null || true; wait "${WT_PID[$label]}" 2>/dev/null || true; done
    unset WT_PID
done
python3 - "$RESULTS" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
order = []
for line in open(sys.argv[1]):
    component, contender, rps, p50, p99, cpu = line.split()
    if component not in order:
        order.append(component)
    runs[(component, contender)].append((float(rps), float(p50), float(p99), float(cpu)))
print("| component | wasmtime serve, best config | Geyser | ratio | Geyser CPU/req vs best |")
print("| --- | --- | --- | --- | --- |")
for component in order:
    means = {c: [statistics.mean(x[i] for x in r) for i in range(4)]
             for (comp, c), r in runs.items() if comp == component}
    geyser = means.pop("geyser")
    best_name, best = max(means.items(), key=lambda kv: kv[1][0])
    print(f"| {component} | {best[0]:,.0f} req/s ({best_name.removeprefix('wasmtime-')}) | "
          f"{geyser[0]:,.0f} req/s | {geyser[0] / best[0]:.2f} | {geyser[3]:.0f} vs {best[3]:.0f} us |")
PY
