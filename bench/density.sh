#!/usr/bin/env bash
# Density: FUNCTIONS deployed functions (default 10,000; each a distinct artifact), all idle →
# server RSS against the same server before any deploy; then TOUCH of them called once each →
# RSS and resident count; then the idle TTL evicts them → RSS again.
#
# Usage: bench/density.sh [FUNCTIONS] [TOUCH]   (default 10000 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${1:-10000}
TOUCH=${2:-1000}
PORT=${BENCH_PORT:-18231}
bench_build example-hello
bench_serve "$PORT" 'engine.idle_ttl_ms = 20000
quotas.max_functions = 1000000'
trap 'bench_stop $SERVER $DATA' EXIT
KEY=$(bench_tenant "$URL" bench)
RSS_EMPTY=$(rss_kib "$SERVER")
DEPLOYED=$(target/release/deploy-many "$URL" "$KEY" target/wasm32-wasip2/release/example_hello.wasm f "$N" 2)
wait_evicted "$URL"
RSS_IDLE=$(rss_kib "$SERVER")
TOUCHED=$(target/release/first-calls "$URL" bench f "$TOUCH")
RESIDENT=$(metric "$URL" geyser_resident_functions)
RSS_TOUCHED=$(rss_kib "$SERVER")
START=$(date +%s)
wait_evicted "$URL"
EVICTED_AFTER=$(( $(date +%s) - START ))
RSS_EVICTED=$(rss_kib "$SERVER")

mib() { echo "$(( $1 / 1024 )) MiB"; }
echo "command:     bench/density.sh $N $TOUCH"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "deploys:     $(echo "$DEPLOYED" | head -1 | cut -c14-)"
echo "empty:       RSS $(mib "$RSS_EMPTY") (tenant created, nothing deployed)"
echo "idle:        RSS $(mib "$RSS_IDLE") with $N deployed, none resident: +$(mib $((RSS_IDLE - RSS_EMPTY))) over empty"
echo "touched:     $TOUCH called once each ($TOUCHED); resident $RESIDENT; RSS $(mib "$RSS_TOUCHED")"
echo "evicted:     all evicted ${EVICTED_AFTER} s later (idle_ttl_ms 20000); RSS $(mib "$RSS_EVICTED")"
echo "disk:        $(du -sh "$DATA" | cut -f1) data dir (database and compiled artifacts)"
