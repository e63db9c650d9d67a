-- Compiled artifacts shared by the nodes of a cluster, by engine (the compatibility hash of the
-- node's wasmtime configuration) and component hash. Written on PostgreSQL only.
CREATE TABLE compiled_artifacts (
    engine TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (engine, sha256)
);
