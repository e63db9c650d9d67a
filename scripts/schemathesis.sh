#!/usr/bin/env bash
# API smoke test with schemathesis (PyPI): starts a node on a fresh SQLite data dir, creates a
# tenant, and lets schemathesis generate requests from /v1/openapi.json — once with the tenant's
# key, once with the admin key. Fails on any 5xx (check `not_a_server_error`) or a response
# that contradicts the document's status codes. Run by scripts/test.sh after `cargo test`.
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 20 per operation)
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${1:-20}
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check schemathesis
cargo build -q -p geyser-runtime --bin geyser
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
admin=schemathesis-admin
GEYSER_ADMIN_KEY=$admin RUST_LOG=warn target/debug/geyser serve --listen "127.0.0.1:$port" \
    --data-dir "$data" 2>"$data/server.log" &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 100); do
    curl -fs "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
key=$(curl -fs -X POST "$url/v1/tenants" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d '{"name":"fuzz"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')

status=0
for who in tenant admin; do
    if [ "$who" = tenant ]; then bearer=$key; else bearer=$admin; fi
    echo "schemathesis as the $who:"
    # The live log tail never ends, so it cannot be fuzzed by request/response; the e2e tests
    # (tests/tests/logs.rs) and the access matrix cover it.
    schemathesis run "$url/v1/openapi.json" -H "Authorization: Bearer $bearer" \
        --checks not_a_server_error,status_code_conformance --max-examples "$examples" \
        --seed 7 --request-timeout 20 \
        --exclude-path '/v1/functions/{name}/logs/stream' || status=1
done
if [ "$status" != 0 ]; then
    echo "server log:"; tail -50 "$data/server.log"
fi
exit "$status"
