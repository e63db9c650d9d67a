#!/usr/bin/env bash
# The cluster of scripts/cluster-up.sh under load: throughput of examples/hello through HAProxy
# with 1, 2 and 3 nodes (all on this machine's 2 cores, with the balancer and wrk), and the
# first call of a freshly deployed version on a node that did not compile it — loading the
# compiled form the deploying node shared through the database, against compiling it there
# (the shared row deleted first, as before sharing existed).
#
# BENCH_EXTRA="name:path.wasm ..." adds components to the first-call figures (e.g. a Python
# wasi:http hello built with componentize-py), each also with its cold start on node 2 after
# eviction (compiled form in that node's disk cache: the warm-cache cold start).
#
# Usage: [GEYSER_BIN=path/to/geyser] [BENCH_EXTRA=...] bench/cluster.sh [DURATION_S] [CONNECTIONS]
# Prints one block of figures; copy it into bench/RESULTS.md with the date and machine.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

DURATION=${1:-8}
CONNECTIONS=${2:-16}
PORT=${BENCH_PORT:-19100}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bench_build example-hello example-ticket-reservation
BIN=$(realpath "$GEYSER")
STATE=$(mktemp -d)
DB=geyser_bench_cluster
psql_() { psql -h 127.0.0.1 -U postgres -qAt -d "$1" -c "$2"; }
cleanup() {
    CLUSTER_STATE=$STATE scripts/cluster-down.sh >/dev/null 2>&1 || true
    psql_ postgres "drop database if exists $DB" >/dev/null 2>&1 || true
    rm -rf "$STATE"
}
trap cleanup EXIT

# A component with a custom section naming TAG: the same code, another artifact hash.
tagged() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F; n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n: return bytes(out)
src, tag, dst = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
name = b"geyser-bench"
payload = leb(len(name)) + name + tag
open(dst, "wb").write(open(src, "rb").read() + b"\x00" + leb(len(payload)) + payload)
PY
}

up() {
    psql_ postgres "drop database if exists $DB" >/dev/null
    local out
    out=$(CLUSTER_STATE=$STATE CLUSTER_PORT=$PORT CLUSTER_DB=$DB GEYSER_BIN=$BIN RUST_LOG=warn \
        CLUSTER_CONFIG='engine.idle_ttl_ms = 1000' scripts/cluster-up.sh "$1")
    LB=$(sed -n 's/^url: //p' <<<"$out")
    ADMIN=$(sed -n 's/^admin key: //p' <<<"$out")
    KEY=$(curl -fsS -XPOST -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
        -d '{"name":"bench"}' "$LB/v1/tenants" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
}
down() { CLUSTER_STATE=$STATE scripts/cluster-down.sh >/dev/null; }
deploy() { # deploy LB_OR_NODE NAME FILE
    curl -fsS -o /dev/null -XPUT -H "authorization: Bearer $KEY" --data-binary "@$3" "$1/v1/functions/$2?public=true"
}

echo "== bench/cluster.sh: examples/hello through HAProxy (wrk -t2 -c$CONNECTIONS -d${DURATION}s), $(nproc) cores"
for n in 1 2 3; do
    up "$n"
    deploy "$LB" hello target/wasm32-wasip2/release/example_hello.wasm
    for _ in $(seq 1 50); do curl -fsS -o /dev/null "$LB/fn/bench/hello/"; done
    read -r requests rps p50 p99 non2xx errors < <(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$LB/fn/bench/hello/" | python3 bench/wrk_summary.py)
    echo "nodes $n: $rps req/s, p50 $p50 ms, p99 $p99 ms ($requests requests, non-2xx $non2xx, errors $errors)"
    [ "$n" = 3 ] || down
done

# First calls on node 2 of versions deployed through node 1 (the cluster of 3 is still up).
node1="http://127.0.0.1:$((PORT + 1))" node2="http://127.0.0.1:$((PORT + 2))"
first_call() { # first_call WASM NAME TAG share|compile
    local file="$STATE/$3.wasm"
    tagged "$1" "$3" "$file"
    deploy "$node1" "$2" "$file"
    if [ "$4" = compile ]; then psql_ "$DB" "delete from compiled_artifacts" >/dev/null; fi
    curl -sS -o /dev/null -w '%{time_total}\n' "$node2/fn/bench/$2/"
}
resident2() {
    curl -fsS -H "authorization: Bearer $ADMIN" "$node2/metrics" | awk '$1 == "geyser_resident_functions" {print $2}'
}
median() { sort -n | awk '{a[NR]=$1*1000} END {printf "%.1f", a[(NR+1)/2]}'; }
components="hello:target/wasm32-wasip2/release/example_hello.wasm ticket:target/wasm32-wasip2/release/example_ticket_reservation.wasm ${BENCH_EXTRA:-}"
for component in $components; do
    name=${component%%:*} wasm=${component#*:}
    for mode in share compile; do
        times=()
        for i in $(seq 1 5); do times+=("$(first_call "$wasm" "$name-$mode" "$mode-$i-$RANDOM" "$mode")"); done
        echo "first call on another node, $name ($(stat -c %s "$wasm") bytes), $mode: median $(printf '%s\n' "${times[@]}" | median) ms (n=5)"
    done
    # The same version on node 2 after it was evicted there: loaded from the node's disk cache.
    times=()
    for _ in $(seq 1 5); do
        until [ "$(resident2)" = "0" ]; do sleep 0.05; done
        times+=("$(curl -sS -o /dev/null -w '%{time_total}\n' "$node2/fn/bench/$name-share/")")
    done
    echo "cold start on that node after eviction (warm disk cache), $name: median $(printf '%s\n' "${times[@]}" | median) ms (n=5)"
done
