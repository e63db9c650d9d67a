-- A version's configuration (variables, sealed secrets, allowed outbound hosts) as JSON; a
-- config change is a new version with the same artifact, so a rollback restores it.
ALTER TABLE function_versions ADD COLUMN config TEXT NOT NULL DEFAULT '{}';

-- The node key's check value: sealed with the key the first node started with, so a node
-- given another key refuses to start instead of failing to open secrets later.
CREATE TABLE secret_key_check (
    id BIGINT PRIMARY KEY,
    sealed TEXT NOT NULL
);

-- What each invocation's outgoing HTTP requests used.
ALTER TABLE invocations ADD COLUMN outbound_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invocations ADD COLUMN outbound_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invocations ADD COLUMN outbound_wait_ns BIGINT NOT NULL DEFAULT 0;
