-- A node one tenant cannot take down: the tenant's share of the node's guest memory.
ALTER TABLE tenant_quotas ADD COLUMN node_memory_percent BIGINT;
-- The HTTP status a guest answered with (NULL: none, or not an HTTP invocation).
ALTER TABLE invocations ADD COLUMN http_status BIGINT;
-- A version's CPU-time limit per invocation (NULL: none), and the tenant's maximum.
ALTER TABLE function_versions ADD COLUMN cpu_limit_ms BIGINT;
ALTER TABLE tenant_quotas ADD COLUMN max_cpu_limit_ms BIGINT;
-- Crash-safe cron: a claim is a lease (a run whose node died is taken again by another node once
-- it lapses, with the same scheduled time), ended only through its own claim token; a schedule
-- may retry a failed tick.
ALTER TABLE cron_runs ADD COLUMN claim TEXT;
ALTER TABLE cron_runs ADD COLUMN lease_until_ms BIGINT;
ALTER TABLE cron_runs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 1;
CREATE INDEX cron_runs_open ON cron_runs (lease_until_ms) WHERE finished_at_ms IS NULL;
ALTER TABLE cron_schedules ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 1;
-- Log lines a tenant keeps (characters); the oldest beyond it are dropped.
ALTER TABLE tenant_quotas ADD COLUMN max_log_bytes BIGINT;
CREATE INDEX function_logs_by_tenant ON function_logs (tenant_id, id);
