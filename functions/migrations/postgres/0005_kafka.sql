-- Kafka topic bindings of event functions, and the ids of events each binding has processed.
-- A processed mark commits in the same transaction as the event's kv writes, so a redelivered
-- event (a crash between "done" and "offset committed") is recognised and skipped.
CREATE TABLE kafka_bindings (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    function_name TEXT NOT NULL,
    topic TEXT NOT NULL,
    start_from TEXT NOT NULL,
    max_attempts BIGINT NOT NULL,
    backoff_ms BIGINT NOT NULL,
    dead_letter_topic TEXT NOT NULL,
    ordered BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, function_name, topic)
);

CREATE TABLE kafka_processed (
    binding_id BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (binding_id, event_id)
);
CREATE INDEX kafka_processed_by_age ON kafka_processed (processed_at_ms);
