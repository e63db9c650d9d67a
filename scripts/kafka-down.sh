#!/usr/bin/env bash
# Stops the broker scripts/kafka-up.sh started (by its pid file).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${KAFKA_STATE_DIR:-target/kafka}
if [ -f "$STATE/pid" ]; then
    pid=$(cat "$STATE/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$STATE/pid"
fi
