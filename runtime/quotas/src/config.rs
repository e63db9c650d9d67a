//! `[quotas]`: the per-tenant quotas every tenant gets unless the admin overrides them.

use serde::Deserialize;

/// Per-tenant quotas: these defaults apply to every tenant unless the admin overrides them
/// (`PUT /v1/quotas?tenant=NAME`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Functions a tenant may have.
    pub max_functions: u64,
    /// Largest component a tenant may upload (never more than `http.max_upload_bytes`).
    pub max_artifact_bytes: u64,
    /// Largest memory limit a tenant's function may ask for (never more than
    /// `engine.max_memory_mb`).
    pub max_memory_mb: u64,
    /// Invocations of one tenant running (or waiting for an instance slot) at once on a node;
    /// more wait for the tenant's own slots up to `engine.queue_timeout_ms`, then get 429.
    pub max_concurrency: u64,
    /// The same for each function of a tenant; 0: only the tenant's limit.
    pub max_function_concurrency: u64,
    /// HTTP requests per second of one tenant on a node (token bucket); beyond it 429 with
    /// `Retry-After`. 0: no limit.
    pub rate_per_second: f64,
    /// Requests a tenant may send at once after an idle spell; 0: one second's worth.
    pub rate_burst: u64,
    /// Keys a tenant may hold in its kv store; a write that would create one more fails
    /// (writes to existing keys and deletes still work).
    pub max_kv_keys: u64,
    /// How often a node rereads the admin's overrides (a change through the node applies at once).
    pub refresh_ms: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            max_functions: 1000,
            max_artifact_bytes: 50 << 20,
            max_memory_mb: 512,
            max_concurrency: 500,
            max_function_concurrency: 0,
            rate_per_second: 0.0,
            rate_burst: 0,
            max_kv_keys: 100_000,
            refresh_ms: 1000,
        }
    }
}
