-- Cron schedules bound to functions, and their runs. A run of a scheduled tick is claimed by
-- inserting its row: the unique index makes exactly one node win.
CREATE TABLE cron_schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    name TEXT NOT NULL,
    expression TEXT NOT NULL,
    timezone TEXT NOT NULL,
    payload TEXT,
    missed TEXT NOT NULL,
    overlap TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    -- Every tick at or before this was fired, skipped or missed by policy.
    last_handled_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, function_name, name)
);

CREATE TABLE cron_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id BIGINT NOT NULL,
    scheduled_ms BIGINT NOT NULL,
    manual BIGINT NOT NULL,
    fired_at_ms BIGINT NOT NULL,
    invocation_id TEXT,
    outcome TEXT,
    finished_at_ms BIGINT
);
CREATE UNIQUE INDEX cron_runs_claim ON cron_runs (schedule_id, scheduled_ms) WHERE manual = 0;
CREATE INDEX cron_runs_by_schedule ON cron_runs (schedule_id, id);
