-- Tenants, their hashed API keys, functions, versions, content-addressed artifacts, invocation records.
CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    api_key_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE artifacts (
    sha256 TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    size_bytes BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE functions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    active_version BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE function_versions (
    function_id BIGINT NOT NULL REFERENCES functions(id),
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES artifacts(sha256),
    memory_mb BIGINT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    public BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (function_id, version)
);

CREATE TABLE invocations (
    id TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    version BIGINT NOT NULL,
    trigger_kind TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    wall_ns BIGINT NOT NULL,
    cpu_ns BIGINT NOT NULL,
    peak_memory_bytes BIGINT NOT NULL,
    gb_seconds DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX invocations_by_tenant ON invocations (tenant_id, function_name, started_at_ms);
