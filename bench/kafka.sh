#!/usr/bin/env bash
# Kafka trigger benchmark: a backlog of COUNT records (default 100,000) on a 3-partition topic,
# then examples/event-counter is bound to it (start: earliest) and the time until every record
# was processed is measured: the lag drain time, and events/s through a trivial function (one
# kv increment per record, committed with its processed mark). Then the same with the binding
# live while records are produced. A bare rdkafka consumer (bench/src/bin/kafka-drain.rs, the
# consumer settings Geyser uses, doing nothing with the records) reads the same backlog first:
# the broker's own limit here, and the ceiling of the drain.
#
# Usage: bench/kafka.sh [COUNT] [DATABASE_URL]   (default 100000, SQLite in a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-100000}
DB=${2:-}
PORT=${BENCH_PORT:-18192}
URL="http://127.0.0.1:$PORT"
ADMIN=bench-admin
BENCH_ADMIN=$ADMIN
BROKERS=127.0.0.1:${KAFKA_PORT:-9092}

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
scripts/kafka-up.sh
cargo build --release -q -p geyser-runtime -p geyser-bench
cargo build --release -q -p example-event-counter --target wasm32-wasip2
# GEYSER_BIN: another build to measure (an older one, for a before/after in one session).
GEYSER=${GEYSER_BIN:-target/release/geyser}

DATA=$(mktemp -d)
# Extra node settings for experiments, e.g. BENCH_CONFIG=$'[kafka]\npartition_buffer = 1024'.
printf '%s\n' "${BENCH_CONFIG:-}" >"$DATA/geyser.toml"
ARGS=(serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --config "$DATA/geyser.toml" --kafka-brokers "$BROKERS")
[ -n "$DB" ] && ARGS+=(--database-url "$DB")
# One node key for every run against the same database (secrets are checked against it).
export GEYSER_SECRET_KEY=${GEYSER_SECRET_KEY:-62656e63682d6b61666b612d6e6f64652d6b65792d666f722d62656e63687321}
GEYSER_ADMIN_KEY=$ADMIN RUST_LOG=warn "$GEYSER" "${ARGS[@]}" 2>"$DATA/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 300); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

export GEYSER_URL=$URL
TENANT=bench$RANDOM
KEY=$(GEYSER_API_KEY=$ADMIN "$GEYSER" --json tenant create $TENANT | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
export GEYSER_API_KEY=$KEY
"$GEYSER" deploy counter target/wasm32-wasip2/release/example_event_counter.wasm >/dev/null

processed() {
    curl -fsS -H "authorization: Bearer $BENCH_ADMIN" "$URL/metrics" | awk -v s="geyser_kafka_records_total{tenant=\"$TENANT\",function=\"counter\",topic=\"$1\"}" '$1 == s {print $2}'
}
wait_for() { # topic count -> "seconds from now until processed == count" and the same from the first processed record
    local start first end
    start=$(date +%s.%N)
    until [ -n "$(processed "$1")" ] && [ "$(processed "$1")" != "0" ]; do sleep 0.01; done
    first=$(date +%s.%N)
    until [ "$(processed "$1")" = "$2" ]; do sleep 0.02; done
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.2f} {$end - $first:.2f}')"
}

# 1. Backlog drain.
BACKLOG=$TENANT.backlog
PRODUCED=$(target/release/kafka-load "$BROKERS" "$BACKLOG" 3 "$N")
BARE=$(target/release/kafka-drain "$BROKERS" "$BACKLOG" "$N")
"$GEYSER" trigger kafka counter "$BACKLOG" --start earliest >/dev/null
read -r DRAIN DRAIN_FIRST <<<"$(wait_for "$BACKLOG" "$N")"
BATCHES=$(curl -fsS -H "authorization: Bearer $BENCH_ADMIN" "$URL/metrics" | awk -v s="geyser_kafka_batches_total{tenant=\"$TENANT\",function=\"counter\",topic=\"$BACKLOG\"}" '$1 == s {print $2}')
TOTAL=$(for k in $(seq 0 39); do curl -fsS "$URL/fn/$TENANT/counter/counts/k$k"; echo; done | awk '{s += $1} END {print s}')

# 2. Live: the binding is running while records arrive.
LIVE=$TENANT.live
LIVE_N=$((N / 5))
target/release/kafka-load "$BROKERS" "$LIVE" 3 0 >/dev/null
"$GEYSER" trigger kafka counter "$LIVE" --start earliest >/dev/null
ASSIGNED="geyser_kafka_assigned_partitions{tenant=\"$TENANT\",function=\"counter\",topic=\"$LIVE\"}"
until [ "$(curl -fsS -H "authorization: Bearer $BENCH_ADMIN" "$URL/metrics" | awk -v s="$ASSIGNED" '$1 == s {print $2}')" = "3" ]; do sleep 0.05; done
LIVE_START=$(date +%s.%N)
LIVE_PRODUCED=$(target/release/kafka-load "$BROKERS" "$LIVE" 3 "$LIVE_N" --existing)
until [ "$(processed "$LIVE")" = "$LIVE_N" ]; do sleep 0.05; done
LIVE_END=$(date +%s.%N)
RSS_PEAK=$(awk '/VmHWM/{print $2}' /proc/$SERVER/status)

echo "command:     bench/kafka.sh $N ${DB:+<postgres>}"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "geyser:      $GEYSER$([ -z "${GEYSER_BIN:-}" ] && echo " at $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')")"
echo "database:    $([ -n "$DB" ] && echo postgres || echo sqlite); broker: tansu (memory) on the same machine"
echo "backlog:     $PRODUCED"
echo "bare consumer: $BARE"
echo "drain:       $N records in $DRAIN s from the binding's creation = $(python3 -c "print(round($N / $DRAIN))") events/s; $DRAIN_FIRST s from the first processed record = $(python3 -c "print(round($N / $DRAIN_FIRST))") events/s; counted $TOTAL; $BATCHES batch transactions"
echo "ratio:       drain (from the first record) / bare consumer = $(python3 -c "import re; bare = float(re.search(r'= (\d+) records/s', '''$BARE''').group(1)); print(f'{$N / $DRAIN_FIRST / bare:.2f}')")"
echo "live:        $LIVE_PRODUCED; all processed $(python3 -c "print(f'{$LIVE_END - $LIVE_START:.2f}')") s after the first was produced = $(python3 -c "print(round($LIVE_N / ($LIVE_END - $LIVE_START)))") events/s"
echo "server RSS:  peak $((RSS_PEAK / 1024)) MiB (VmHWM)"
