//! `Kv`: the per-tenant key-value capability as the engine sees it. The store implements it on
//! its pool, a Kafka delivery's transaction implements it too, and the quota guard wraps either;
//! the engine holds only `Arc<dyn Kv>` and never knows which.

use crate::TenantId;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Why a kv operation failed, as the guest is told.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("key must be 1 to {MAX_KEY_BYTES} bytes, got {0}")]
    InvalidKey(usize),
    #[error("value must be at most {MAX_VALUE_BYTES} bytes, got {0}")]
    ValueTooLarge(usize),
    #[error("value at {0:?} is not a decimal integer")]
    NotANumber(String),
    /// The write would create a key beyond the tenant's quota (the message names both figures).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The backend failed; the guest hears only that it may retry.
    #[error("kv backend failure: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A tenant-scoped key-value store. Every call names the tenant; an implementation scopes every
/// statement by it, so no key name reaches another tenant.
#[async_trait::async_trait]
pub trait Kv: Send + Sync {
    async fn get(&self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    async fn set(&self, tenant: TenantId, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Returns whether the key existed.
    async fn delete(&self, tenant: TenantId, key: &str) -> Result<bool, KvError>;
    /// Adds `delta` to the decimal integer at `key` (absent = 0) atomically.
    async fn increment(&self, tenant: TenantId, key: &str, delta: i64) -> Result<i64, KvError>;
    /// Sets `key` to `new` if it holds `expected` (`None`: absent). Returns whether it did.
    async fn compare_and_swap(
        &self,
        tenant: TenantId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError>;
    /// Keys starting with `prefix`, ordered, at most `limit`.
    async fn list_keys(
        &self,
        tenant: TenantId,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, KvError>;
}
