-- Billing: what each invocation was allowed (for the allocated-memory comparison) and its trace,
-- hourly rollups of invocation records (statements and charts read these, so raw records can be
-- pruned after their retention), a latency histogram per function and hour, and budgets.
ALTER TABLE invocations ADD COLUMN memory_limit_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invocations ADD COLUMN traceparent TEXT;

CREATE TABLE usage_hourly (
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    invocations BIGINT NOT NULL,
    wall_ns BIGINT NOT NULL,
    cpu_ns BIGINT NOT NULL,
    peak_memory_bytes BIGINT NOT NULL,
    gb_seconds DOUBLE PRECISION NOT NULL,
    allocated_gb_seconds DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, function_name, trigger_kind, outcome, hour_ms)
);
CREATE INDEX usage_hourly_by_hour ON usage_hourly (tenant_id, hour_ms);

-- Records written before this migration (their memory limit is unknown: 0 allocated).
INSERT INTO usage_hourly (tenant_id, function_name, trigger_kind, outcome, hour_ms, invocations,
    wall_ns, cpu_ns, peak_memory_bytes, gb_seconds, allocated_gb_seconds)
SELECT tenant_id, function_name, trigger_kind, outcome, (started_at_ms / 3600000) * 3600000,
    COUNT(*), SUM(wall_ns), SUM(cpu_ns), MAX(peak_memory_bytes), SUM(gb_seconds), 0
FROM invocations
GROUP BY tenant_id, function_name, trigger_kind, outcome, (started_at_ms / 3600000) * 3600000;

-- Wall-time histogram: bucket b holds invocations of at most 50 µs × 1.25^b.
CREATE TABLE latency_hourly (
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    invocations BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, function_name, hour_ms, bucket)
);

CREATE TABLE budgets (
    tenant_id BIGINT PRIMARY KEY,
    monthly_usd DOUBLE PRECISION NOT NULL,
    policy TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
