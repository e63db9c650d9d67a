-- Several API keys per tenant (each revocable), disabled tenants, per-tenant quota overrides.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

-- Every tenant's existing key stays valid (legacy `gsk_` keys).
INSERT INTO api_keys (tenant_id, prefix, key_hash, name, created_at_ms)
SELECT id, 'gsk_', api_key_hash, 'initial', created_at_ms FROM tenants;

ALTER TABLE tenants ADD COLUMN disabled_at_ms BIGINT;

-- NULL: the configured default applies.
CREATE TABLE tenant_quotas (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    max_functions BIGINT,
    max_artifact_bytes BIGINT,
    max_memory_mb BIGINT,
    max_concurrency BIGINT,
    max_function_concurrency BIGINT,
    rate_per_second DOUBLE PRECISION,
    rate_burst BIGINT,
    max_kv_keys BIGINT,
    updated_at_ms BIGINT NOT NULL
);
