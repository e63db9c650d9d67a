-- Asynchronous invocations (`Prefer: respond-async`): written before the 202, taken by any
-- node's workers (status running, a claim token and a lease), ended with the guest's answer
-- in the same transaction as the invocation's kv writes, kept until async.result_retention_ms.
CREATE TABLE async_invocations (
    id TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    tenant_name TEXT NOT NULL,
    function_name TEXT NOT NULL,
    selector TEXT NOT NULL,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    accepted_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    next_at_ms BIGINT NOT NULL,
    claim TEXT,
    lease_until_ms BIGINT,
    started_at_ms BIGINT,
    finished_at_ms BIGINT,
    last_invocation TEXT,
    version BIGINT,
    outcome TEXT,
    http_status BIGINT,
    response BLOB,
    response_truncated BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    -- A topic destination's record not yet published (JSON); cleared once it is.
    pending_destination TEXT
);
CREATE INDEX async_invocations_due ON async_invocations (status, next_at_ms);
CREATE INDEX async_invocations_by_tenant ON async_invocations (tenant_id, status);
CREATE INDEX async_invocations_finished ON async_invocations (finished_at_ms);

-- A function's asynchronous settings (core's QueuedSettings as JSON).
CREATE TABLE function_async_settings (
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, function_name)
);

ALTER TABLE tenant_quotas ADD COLUMN max_async_queued BIGINT;
