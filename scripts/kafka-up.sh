#!/usr/bin/env bash
# Starts a real Kafka-protocol broker for tests and benchmarks: tansu (an Apache-Kafka-compatible
# broker from crates.io) with in-memory storage on 127.0.0.1:${KAFKA_PORT:-9092}. Installs it
# when missing (about 11 minutes on 2 cores, once per machine). Returns when the port accepts
# connections; pid and log live in ${KAFKA_STATE_DIR:-target/kafka}. Users with a real Kafka
# cluster point --kafka-brokers at it instead; nothing in Geyser depends on tansu.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${KAFKA_PORT:-9092}
STATE=${KAFKA_STATE_DIR:-target/kafka}
TANSU_VERSION=0.6.0
mkdir -p "$STATE"

if ! command -v tansu >/dev/null 2>&1 || ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    echo "kafka-up: installing tansu $TANSU_VERSION (cargo install, takes a while once)" >&2
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore >&2
fi

if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    echo "kafka-up: already running (pid $(cat "$STATE/pid"))" >&2
    exit 0
fi

nohup tansu broker \
    --listener-url "tcp://127.0.0.1:$PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ >"$STATE/broker.log" 2>&1 &
echo $! >"$STATE/pid"

for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        echo "kafka-up: broker on 127.0.0.1:$PORT (pid $(cat "$STATE/pid"), log $STATE/broker.log)" >&2
        exit 0
    fi
    kill -0 "$(cat "$STATE/pid")" 2>/dev/null || { cat "$STATE/broker.log" >&2; exit 1; }
    sleep 0.05
done
echo "kafka-up: broker did not open port $PORT" >&2
exit 1
