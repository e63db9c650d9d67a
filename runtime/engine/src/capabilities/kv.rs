//! `geyser:function/kv`: the tenant's namespace, through whatever [`geyser_core::Kv`] the
//! invocation was given.

use super::Capabilities;
use super::wit::kv::{Host, KvError};
use geyser_core::kv::KvError as Failure;

/// Maps backend errors to what the guest sees. Backend faults are logged here (once) and
/// reported as `unavailable` without detail.
fn guest_error(err: Failure) -> KvError {
    match err {
        Failure::InvalidKey(_) => KvError::InvalidKey(err.to_string()),
        Failure::ValueTooLarge(_) => KvError::ValueTooLarge(err.to_string()),
        Failure::NotANumber(_) => KvError::NotANumber(err.to_string()),
        // A 0.1.0 guest hears this as `unavailable` (`v0_1.rs`).
        Failure::QuotaExceeded(message) => KvError::QuotaExceeded(message),
        Failure::Backend(inner) => {
            tracing::error!(error = %inner, "kv store failure");
            KvError::Unavailable("the key-value store is unavailable; retry".into())
        }
    }
}

impl Host for Capabilities {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.kv.get(self.tenant, &key).await.map_err(guest_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.kv
            .set(self.tenant, &key, &value)
            .await
            .map_err(guest_error)
    }

    async fn delete(&mut self, key: String) -> Result<bool, KvError> {
        self.kv.delete(self.tenant, &key).await.map_err(guest_error)
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, KvError> {
        self.kv
            .increment(self.tenant, &key, delta)
            .await
            .map_err(guest_error)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, KvError> {
        self.kv
            .compare_and_swap(self.tenant, &key, expected.as_deref(), &new)
            .await
            .map_err(guest_error)
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, KvError> {
        self.kv
            .list_keys(self.tenant, &prefix, limit.min(10_000))
            .await
            .map_err(guest_error)
    }
}
