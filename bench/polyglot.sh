#!/usr/bin/env bash
# The cost of big components: a Rust hello (examples/hello, ~100 KB), a JavaScript hello
# (`geyser new --lang js --http`, componentize-js, ~13 MB) and a Python hello (`geyser new
# --lang python --http`, componentize-py, ~19 MB), each built from source here. For each:
# deploy (upload + compile), cold start after eviction (compiled artifact on disk, page cache
# warm; median of N), warm single calls (median of 20, curl, new connection each) and the
# peak guest memory of one call. Then a second JavaScript and a second Python function (other
# source, same engine inside) deployed on the node that already compiled the first ones: with
# Cranelift's incremental cache (`engine.compile_cache_mb`, the default) the engine's function
# bodies are not compiled again; a second node with the cache off deploys the same four.
#
# Usage: [GEYSER_BIN=path] bench/polyglot.sh [N]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${1:-20}
PORT=${BENCH_PORT:-18231}
bench_build example-hello
scripts/guest-tools.sh >/dev/null
export GEYSER_PY_TOOLS=$PWD/target/guest-tools/py
WORK=$(mktemp -d)
ROOT=$PWD
GEYSER_ABS=$(cd "$(dirname "$GEYSER")" && pwd)/$(basename "$GEYSER")
(
    cd "$WORK"
    "$GEYSER_ABS" new hello-js --lang js --http >/dev/null
    "$GEYSER_ABS" new hello-py --lang python --http >/dev/null
    "$GEYSER_ABS" new other-js --lang js --event >/dev/null
    "$GEYSER_ABS" new other-py --lang python --schedule >/dev/null
    (cd hello-js && npm install -s >/dev/null && npm run -s build >/dev/null)
    (cd other-js && npm install -s >/dev/null && npm run -s build >/dev/null)
    (cd hello-py && ./build.sh >/dev/null)
    (cd other-py && ./build.sh >/dev/null)
)

bench_serve "$PORT" 'engine.idle_ttl_ms = 300'
trap 'bench_stop $SERVER $DATA; rm -rf "$WORK"' EXIT
export GEYSER_URL=$URL
GEYSER_API_KEY=$(bench_tenant "$URL" bench)
export GEYSER_API_KEY

median() { sort -n | awk '{a[NR]=$1*1000} END {printf "median %.2f ms (min %.2f, max %.2f, n=%d)", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR], NR}'; }
seconds() { python3 -c 'import sys,time; t=time.monotonic(); import subprocess; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print(f"{time.monotonic()-t:.2f} s")' "$@"; }

echo "command:     bench/polyglot.sh $N"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
for row in "hello-rs:$ROOT/target/wasm32-wasip2/release/example_hello.wasm" \
           "hello-js:$WORK/hello-js/app.wasm" "hello-py:$WORK/hello-py/app.wasm"; do
    name=${row%%:*}
    wasm=${row#*:}
    deploy=$(seconds "$GEYSER" deploy "$name" "$wasm")
    curl -fsS "$URL/fn/bench/$name/" >/dev/null
    cold=$(for _ in $(seq 1 "$N"); do
        wait_evicted "$URL"
        curl -fsS -o /dev/null -w '%{time_total}\n' "$URL/fn/bench/$name/"
    done | median)
    warm=$(for _ in $(seq 1 20); do curl -fsS -o /dev/null -w '%{time_total}\n' "$URL/fn/bench/$name/"; done | median)
    peak=$(curl -fsS -H "authorization: Bearer $GEYSER_API_KEY" "$URL/v1/functions/$name/invocations?limit=1" |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)[0]["peak_memory_bytes"]/2**20,1))')
    echo "$name ($(stat -c %s "$wasm") bytes): deploy $deploy; cold start $cold; warm $warm; peak memory $peak MiB"
done
echo "second JS function (other source, same engine), cache on: deploy $(seconds "$GEYSER" deploy other-js "$WORK/other-js/app.wasm")"
echo "second Python function (other source, same engine), cache on: deploy $(seconds "$GEYSER" deploy other-py "$WORK/other-py/app.wasm")"
echo "node RSS after the six deploys and their calls, cache on: $(( $(rss_kib "$SERVER") / 1024 )) MiB"
bench_stop "$SERVER" "$DATA"

bench_serve "$((PORT + 1))" 'engine.compile_cache_mb = 0'
export GEYSER_URL=$URL
GEYSER_API_KEY=$(bench_tenant "$URL" bench)
export GEYSER_API_KEY
line="cache off (engine.compile_cache_mb = 0), deploys:"
for name in hello-js other-js hello-py other-py; do
    line="$line $name $(seconds "$GEYSER" deploy "$name" "$WORK/$name/app.wasm");"
done
echo "$line"
echo "node RSS after these four deploys, cache off: $(( $(rss_kib "$SERVER") / 1024 )) MiB"
