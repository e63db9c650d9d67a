#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 with a `test` database (trust auth), starting
# or installing it when needed, and drops databases left by earlier end-to-end runs.
set -euo pipefail

PGHOST=127.0.0.1
PGPORT=5432
PGUSER=${PGUSER:-postgres}

ready() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1; then
    echo "postgres-up: installing PostgreSQL (Debian package)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

if ! ready; then
    echo "postgres-up: starting PostgreSQL" >&2
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 100); do ready && break; sleep 0.1; done
fi
ready || { echo "postgres-up: PostgreSQL is not answering on $PGHOST:$PGPORT" >&2; exit 1; }

psql_admin() { psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -v ON_ERROR_STOP=1 -qAt "$@"; }
if ! psql_admin -d postgres -c 'select 1' >/dev/null 2>&1; then
    # Fresh installs only trust local socket connections for the postgres role.
    echo "postgres-up: allowing trust auth on 127.0.0.1" >&2
    su postgres -c "psql -qc \"select 1\"" >/dev/null
    hba=$(su postgres -c "psql -qAtc 'show hba_file'")
    sed -i 's/^\(host.*127.0.0.1\/32\s*\)\S*$/\1trust/' "$hba"
    su postgres -c "psql -qc 'select pg_reload_conf()'" >/dev/null
fi
if [ "$(psql_admin -d postgres -c "select 1 from pg_database where datname = 'test'")" != "1" ]; then
    psql_admin -d postgres -c 'create database test'
fi

# Databases of earlier runs; one still in use (a concurrent run) refuses to drop and stays.
for db in $(psql_admin -d postgres -c "select datname from pg_database where datname like 'geyser_e2e_%'"); do
    psql_admin -d postgres -c "drop database if exists \"$db\"" >/dev/null 2>&1 || true
done
