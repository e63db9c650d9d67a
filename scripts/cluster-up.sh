#!/usr/bin/env bash
# Starts a Geyser cluster on this machine: N nodes (default 3) on one PostgreSQL database (started
# if down, as the test command does), with the Kafka-protocol broker when one answers on
# ${KAFKA_PORT:-9092} (start it with scripts/kafka-up.sh), behind HAProxy (installed from Debian
# when missing) that checks each node's /readyz every second. Each node gets its own
# configuration file, target/cluster/node-<i>.toml — what one machine of a real deployment runs
# (docs/deploy.md says what differs) — and they share the node key (GEYSER_SECRET_KEY) and the
# admin key. Prints `url: <load balancer URL>` and `admin key: <key>`; PIDs in
# target/cluster/node-<i>.pid and haproxy.pid. scripts/cluster-down.sh stops it all.
#
#   CLUSTER_PORT (18080): the load balancer's port; node i listens on CLUSTER_PORT + i.
#   CLUSTER_DB (geyser_cluster): the PostgreSQL database, created when missing.
#   CLUSTER_STATE (target/cluster): where configurations, keys, logs and PIDs go.
#   GEYSER_BIN: a geyser binary to run instead of building target/release/geyser.
#   CLUSTER_CONFIG: extra top-level lines for every node's file, as dotted keys of sections the
#     file does not open itself (e.g. `engine.idle_ttl_ms = 1000`; not http.* or kafka.*).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-3}
PORT=${CLUSTER_PORT:-18080}
DB=${CLUSTER_DB:-geyser_cluster}
KAFKA_PORT=${KAFKA_PORT:-9092}
STATE=${CLUSTER_STATE:-target/cluster}
mkdir -p "$STATE"
case "$N" in ''|*[!0-9]*|0) echo "cluster-up: N must be a positive number, not '$N'" >&2; exit 2 ;; esac
if [ -f "$STATE/haproxy.pid" ] && kill -0 "$(cat "$STATE/haproxy.pid")" 2>/dev/null; then
    echo "cluster-up: a cluster is already running (scripts/cluster-down.sh stops it)" >&2
    exit 1
fi

scripts/postgres-up.sh
psql -h 127.0.0.1 -U postgres -qAt -d postgres -c "select 1 from pg_database where datname = '$DB'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -q -d postgres -c "create database $DB" >/dev/null

if ! command -v haproxy >/dev/null 2>&1; then
    echo "cluster-up: installing HAProxy (Debian package)" >&2
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq haproxy >/dev/null
fi

BIN=${GEYSER_BIN:-}
if [ -z "$BIN" ]; then
    cargo build -q --release --bin geyser
    BIN=target/release/geyser
fi

# The secrets every node shares, made once per state directory.
[ -f "$STATE/secret.key" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/secret.key"; chmod 600 "$STATE/secret.key"; }
[ -f "$STATE/admin.key" ] || { printf 'gy_%s' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$STATE/admin.key"; chmod 600 "$STATE/admin.key"; }
admin_key=$(cat "$STATE/admin.key")

kafka_line=""
if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
    kafka_line="brokers = \"127.0.0.1:$KAFKA_PORT\""
    echo "cluster-up: with the Kafka broker on 127.0.0.1:$KAFKA_PORT" >&2
fi

servers=""
for i in $(seq 1 "$N"); do
    node_port=$((PORT + i))
    cat > "$STATE/node-$i.toml" <<TOML
# Node $i of the cluster (scripts/cluster-up.sh). Every node: the same database, brokers, node
# key and admin key; its own listen address and data directory (compiled-artifact cache).
listen = "127.0.0.1:$node_port"
data_dir = "$(realpath -m "$STATE")/node-$i"
database_url = "postgres://postgres@127.0.0.1:5432/$DB"
${CLUSTER_CONFIG:-}

[http]
# The load balancer checks /readyz every second and takes a node out after 2 failures.
drain_ms = 3000

[kafka]
$kafka_line
TOML
    GEYSER_SECRET_KEY=$(cat "$STATE/secret.key") GEYSER_ADMIN_KEY=$admin_key RUST_LOG=${RUST_LOG:-info} \
        nohup "$BIN" serve --config "$STATE/node-$i.toml" > "$STATE/node-$i.log" 2>&1 &
    echo $! > "$STATE/node-$i.pid"
    servers="$servers    server node-$i 127.0.0.1:$node_port check
"
done

# Every node ready before the balancer starts, so its first checks put them all in.
deadline=$((SECONDS + 60))
for i in $(seq 1 "$N"); do
    until curl -fs -o /dev/null "http://127.0.0.1:$((PORT + i))/readyz"; do
        kill -0 "$(cat "$STATE/node-$i.pid")" 2>/dev/null || { echo "cluster-up: node $i exited; see $STATE/node-$i.log" >&2; tail -5 "$STATE/node-$i.log" >&2; exit 1; }
        [ $SECONDS -lt $deadline ] || { echo "cluster-up: node $i is not ready; see $STATE/node-$i.log" >&2; exit 1; }
        sleep 0.1
    done
done

# HAProxy needs two descriptors per connection: stay within this process's limit.
maxconn=$(( $(ulimit -n) / 2 - 50 )); [ "$maxconn" -le 8192 ] || maxconn=8192
cat > "$STATE/haproxy.cfg" <<CFG
global
    maxconn $maxconn
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    # A request that cannot connect goes to another node at once; each request opens its own
    # connection to a node, so a node's death fails only the requests it had in hand.
    retries 2
    option redispatch 1
    http-reuse never
frontend geyser
    bind 127.0.0.1:$PORT
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
$servers
CFG
haproxy -c -q -f "$STATE/haproxy.cfg"
haproxy -D -f "$STATE/haproxy.cfg" -p "$STATE/haproxy.pid"

until curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"; do
    [ $SECONDS -lt $deadline ] || { echo "cluster-up: the load balancer does not answer" >&2; exit 1; }
    sleep 0.1
done
echo "url: http://127.0.0.1:$PORT"
echo "admin key: $admin_key"
