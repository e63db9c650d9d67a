#!/usr/bin/env bash
# Starts Geyser on the embedded default (SQLite in ./geyser-data, nothing else needed), creates
# a tenant, deploys examples/hello and invokes it. The server keeps running until Ctrl-C
# (pass --stop to stop it after the invocation).
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN=${GEYSER_LISTEN:-127.0.0.1:8080}
export GEYSER_URL="http://$LISTEN"

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release -p geyser-runtime
cargo build --release -p example-hello --target wasm32-wasip2
GEYSER=target/release/geyser

"$GEYSER" serve --listen "$LISTEN" --data-dir ./geyser-data &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -fsS "$GEYSER_URL/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

ADMIN_KEY=$(cat ./geyser-data/admin.key)
TENANT=demo
KEY_FILE=./geyser-data/demo.key
if [ ! -s "$KEY_FILE" ]; then
    GEYSER_API_KEY=$ADMIN_KEY "$GEYSER" --json tenant create "$TENANT" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' >"$KEY_FILE"
    chmod 600 "$KEY_FILE"
fi
export GEYSER_API_KEY=$(cat "$KEY_FILE")

"$GEYSER" deploy hello target/wasm32-wasip2/release/example_hello.wasm
echo "--- curl $GEYSER_URL/fn/$TENANT/hello/world"
curl -fsS "$GEYSER_URL/fn/$TENANT/hello/world"
echo "--- geyser usage"
"$GEYSER" usage

if [ "${1:-}" = "--stop" ]; then
    exit 0
fi
echo
echo "Geyser is running at $GEYSER_URL (admin key in ./geyser-data/admin.key, tenant key in $KEY_FILE)."
echo "Press Ctrl-C to stop."
wait $SERVER
