#!/usr/bin/env bash
# Burst benchmark of examples/ticket-reservation: 2000 concurrent one-seat reservations against
# a 500-seat tier, fired at a function that was scaled to zero. Prints status counts (expect
# 500 × 201, 1500 × 409), latency percentiles, throughput and the server's peak RSS.
#
# Usage: bench/tickets.sh [REQUESTS] [DATABASE_URL]   (default 2000, SQLite in a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

N=${1:-2000}
DB=${2:-}
PORT=${BENCH_PORT:-18191}

bench_build example-ticket-reservation
bench_serve "$PORT" $'engine.idle_ttl_ms = 500\nengine.queue_timeout_ms = 120000' ${DB:+--database-url "$DB"}
trap 'bench_stop $SERVER $DATA' EXIT

export GEYSER_URL=$URL
TENANT=bench$RANDOM
KEY=$(bench_tenant "$URL" "$TENANT")
GEYSER_API_KEY=$KEY "$GEYSER" deploy tickets target/wasm32-wasip2/release/example_ticket_reservation.wasm >/dev/null
EVENT=$(curl -fsS -X POST -H "authorization: Bearer $KEY" "$URL/fn/$TENANT/tickets/events" \
    -d '{"name":"Live","date":"2026-12-31T20:00:00Z","tiers":[{"name":"standard","seats":500,"price_cents":5000}]}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# From zero: wait until the function was evicted.
wait_evicted "$URL"
RSS_IDLE=$(rss_kib "$SERVER")

OUT=$(target/release/burst "$URL/fn/$TENANT/tickets/events/$EVENT/reservations" "$N" '{"tier":"standard","quantity":1}')
AVAILABLE=$(curl -fsS "$URL/fn/$TENANT/tickets/events/$EVENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tiers"][0]["available"])')
RSS_PEAK=$(hwm_kib "$SERVER")

echo "command:     bench/tickets.sh $N ${DB:+<postgres>}"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
echo "database:    $([ -n "$DB" ] && echo postgres || echo sqlite)"
echo "$OUT"
echo "available:   $AVAILABLE seats left after the burst"
echo "server RSS:  idle $((RSS_IDLE / 1024)) MiB before the burst, peak $((RSS_PEAK / 1024)) MiB (VmHWM)"
