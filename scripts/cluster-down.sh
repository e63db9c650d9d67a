#!/usr/bin/env bash
# Stops what scripts/cluster-up.sh started: each node with SIGTERM (it drains, then finishes
# its invocations), then HAProxy. The database and target/cluster/ stay (cluster-up.sh reuses them).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${CLUSTER_STATE:-target/cluster}
pids=()
for file in "$STATE"/node-*.pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; pids+=("$pid"); fi
    rm -f "$file"
done
for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
done
if [ -f "$STATE/haproxy.pid" ]; then
    kill "$(cat "$STATE/haproxy.pid")" 2>/dev/null || true
    rm -f "$STATE/haproxy.pid"
fi
echo "cluster stopped"
