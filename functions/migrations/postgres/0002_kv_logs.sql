-- Per-tenant key-value store and captured function logs.
CREATE TABLE kv (
    tenant_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE function_logs (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX function_logs_by_function ON function_logs (tenant_id, function_name, id);
