#!/usr/bin/env bash
# Burst benchmark of examples/ticket-reservation: 2000 concurrent one-seat reservations against
# a 500-seat tier, fired at a function that was scaled to zero. Prints status counts (expect
# 500 × 201, 1500 × 409), latency percentiles, throughput and the server's peak RSS.
#
# Usage: bench/tickets.sh [REQUESTS] [DATABASE_URL]   (default 2000, SQLite in a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-2000}
DB=${2:-}
PORT=${BENCH_PORT:-18191}
URL="http://127.0.0.1:$PORT"
ADMIN=bench-admin

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release -q -p geyser-runtime -p geyser-bench
cargo build --release -q -p example-ticket-reservation --target wasm32-wasip2
GEYSER=target/release/geyser

DATA=$(mktemp -d)
printf '[engine]\nidle_ttl_ms = 500\nqueue_timeout_ms = 120000\n' >"$DATA/geyser.toml"
ARGS=(serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --config "$DATA/geyser.toml")
[ -n "$DB" ] && ARGS+=(--database-url "$DB")
GEYSER_ADMIN_KEY=$ADMIN RUST_LOG=warn "$GEYSER" "${ARGS[@]}" 2>"$DATA/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 300); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

export GEYSER_URL=$URL
TENANT=bench$RANDOM
KEY=$(GEYSER_API_KEY=$ADMIN "$GEYSER" --json tenant create $TENANT | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
GEYSER_API_KEY=$KEY "$GEYSER" deploy tickets target/wasm32-wasip2/release/example_ticket_reservation.wasm >/dev/null
EVENT=$(curl -fsS -X POST -H "authorization: Bearer $KEY" "$URL/fn/$TENANT/tickets/events" \
    -d '{"name":"Live","date":"2026-12-31T20:00:00Z","tiers":[{"name":"standard","seats":500,"price_cents":5000}]}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# From zero: wait until the function was evicted.
for _ in $(seq 1 200); do
    [ "$(curl -fsS "$URL/metrics" | awk '/^geyser_resident_functions /{print $2}')" = "0" ] && break
    sleep 0.05
done
RSS_IDLE=$(awk '/VmRSS/{print $2}' /proc/$SERVER/status)

OUT=$(target/release/burst "$URL/fn/$TENANT/tickets/events/$EVENT/reservations" "$N" '{"tier":"standard","quantity":1}')
AVAILABLE=$(curl -fsS "$URL/fn/$TENANT/tickets/events/$EVENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tiers"][0]["available"])')
RSS_PEAK=$(awk '/VmHWM/{print $2}' /proc/$SERVER/status)

echo "command:     bench/tickets.sh $N ${DB:+<postgres>}"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "database:    $([ -n "$DB" ] && echo postgres || echo sqlite)"
echo "$OUT"
echo "available:   $AVAILABLE seats left after the burst"
echo "server RSS:  idle $((RSS_IDLE / 1024)) MiB before the burst, peak $((RSS_PEAK / 1024)) MiB (VmHWM)"
