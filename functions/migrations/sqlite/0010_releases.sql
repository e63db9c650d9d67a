-- Aliases: a named pointer to a version, with an optional canary share and rollback rule,
-- kept as JSON (core's AliasSpec). The alias 'live' is the active version: its row, when it
-- has one, holds only its canary and auto_promote; functions.active_version is its version.
CREATE TABLE function_aliases (
    function_id BIGINT NOT NULL,
    alias TEXT NOT NULL,
    spec TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (function_id, alias)
);

-- What happened to an alias: set, promoted, rolled back (by the node, with the reason).
CREATE TABLE alias_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function_id BIGINT NOT NULL,
    alias TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    canary_version BIGINT,
    canary_weight DOUBLE PRECISION,
    detail TEXT NOT NULL
);
CREATE INDEX alias_events_by_alias ON alias_events (function_id, alias, id);

-- Cron schedules and Kafka bindings run the version their alias picks.
ALTER TABLE cron_schedules ADD COLUMN alias TEXT NOT NULL DEFAULT 'live';
ALTER TABLE kafka_bindings ADD COLUMN alias TEXT NOT NULL DEFAULT 'live';

-- A second hourly rollup by version (written in the same transaction as usage_hourly), so a
-- statement can show what each version — a canary, say — cost.
CREATE TABLE usage_hourly_versions (
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    version BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    invocations BIGINT NOT NULL,
    cpu_ns BIGINT NOT NULL,
    gb_seconds DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, function_name, version, outcome, hour_ms)
);
