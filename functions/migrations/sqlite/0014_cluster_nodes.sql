-- The nodes of a cluster, by their heartbeats: how many share each tenant's rate and
-- concurrency quotas.
CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY,
    seen_at_ms BIGINT NOT NULL
);
