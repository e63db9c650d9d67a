# Shared by the bench scripts (sourced, not run): start a node, create a tenant, read metrics.
# Expects the caller to have cd'ed to the repository root and set `set -euo pipefail`.

BENCH_ADMIN=bench-admin
GEYSER=${GEYSER_BIN:-target/release/geyser}

# Builds the release binaries (unless GEYSER_BIN names another build) and the given wasm
# packages, those as a user would ship them: release without debug info (the workspace's
# release profile keeps line tables for profiling the host; in a guest they are megabytes).
bench_build() {
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    if [ -z "${GEYSER_BIN:-}" ]; then
        cargo build --release -q -p geyser-runtime -p geyser-bench
    else
        cargo build --release -q -p geyser-bench
    fi
    local package
    for package in "$@"; do
        CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo \
            cargo build --release -q -p "$package" --target wasm32-wasip2
    done
}

# bench_serve PORT CONFIG_TOML [extra serve args..]: starts a node on SQLite in a new temp dir
# and waits until it answers. Sets SERVER (pid), DATA (dir) and URL. CONFIG_TOML and the
# environment's BENCH_CONFIG (for experiments) are written as dotted keys without table
# headers (`engine.idle_ttl_ms = 500`), so the two can be joined.
bench_serve() {
    local port=$1 config=$2
    shift 2
    DATA=$(mktemp -d)
    printf '%s\n%s\n' "${BENCH_CONFIG:-}" "$config" >"$DATA/geyser.toml"
    URL="http://127.0.0.1:$port"
    GEYSER_ADMIN_KEY=$BENCH_ADMIN RUST_LOG=warn "$GEYSER" serve --listen "127.0.0.1:$port" \
        --data-dir "$DATA" --config "$DATA/geyser.toml" "$@" 2>"$DATA/server.log" &
    SERVER=$!
    wait_http "$URL/healthz"
}

# bench_stop PID DIR: stops a node started by bench_serve and removes its data.
bench_stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    rm -rf "$2"
}

wait_http() {
    local _
    for _ in $(seq 1 600); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "$1 did not answer" >&2
    return 1
}

# bench_tenant URL NAME: creates a tenant, prints its API key.
bench_tenant() {
    GEYSER_URL=$1 GEYSER_API_KEY=$BENCH_ADMIN "$GEYSER" --json tenant create "$2" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])'
}

# metric URL SERIES: the value of one unlabelled series in /metrics.
metric() {
    curl -fsS -H "authorization: Bearer $BENCH_ADMIN" "$1/metrics" | awk -v s="$2" '$1 == s {print $2}'
}

# wait_evicted URL: returns once no function version is resident (scale to zero happened).
wait_evicted() {
    local _
    for _ in $(seq 1 1200); do
        [ "$(metric "$1" geyser_resident_functions)" = "0" ] && return 0
        sleep 0.05
    done
    echo "functions were not evicted" >&2
    return 1
}

rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

machine() {
    echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
}

# bench_anchor_tools: wrk, and wasmtime-cli at the wasmtime version Geyser links (installed with
# cargo once); sets WASMTIME (its path) and WASMTIME_VERSION.
bench_anchor_tools() {
    WASMTIME_VERSION=48.0.8
    command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    WASMTIME=${CARGO_HOME:-$HOME/.cargo}/bin/wasmtime
    if ! "$WASMTIME" --version 2>/dev/null | grep -qE "^wasmtime $WASMTIME_VERSION( |$)"; then
        echo "bench: installing wasmtime-cli $WASMTIME_VERSION (cargo install, takes a while once)" >&2
        cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked >&2
    fi
}
