//! `geyser:function/kv`: the tenant's namespace in the store.

use super::Capabilities;
use super::wit::kv::{Host, KvError};
use geyser_functions::KvError as StoreKvError;

/// Maps store errors to what the guest sees. Database faults are logged here (once) and
/// reported as `unavailable` without detail.
fn guest_error(err: StoreKvError) -> KvError {
    match err {
        StoreKvError::InvalidKey(_) => KvError::InvalidKey(err.to_string()),
        StoreKvError::ValueTooLarge(_) => KvError::ValueTooLarge(err.to_string()),
        StoreKvError::NotANumber(_) => KvError::NotANumber(err.to_string()),
        StoreKvError::Store(inner) => {
            tracing::error!(error = %inner, "kv store failure");
            KvError::Unavailable("the key-value store is unavailable; retry".into())
        }
    }
}

impl Host for Capabilities {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.store
            .kv_get(self.tenant, &key)
            .await
            .map_err(guest_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.store
            .kv_set(self.tenant, &key, &value)
            .await
            .map_err(guest_error)
    }

    async fn delete(&mut self, key: String) -> Result<bool, KvError> {
        self.store
            .kv_delete(self.tenant, &key)
            .await
            .map_err(guest_error)
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, KvError> {
        self.store
            .kv_increment(self.tenant, &key, delta)
            .await
            .map_err(guest_error)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, KvError> {
        self.store
            .kv_compare_and_swap(self.tenant, &key, expected.as_deref(), &new)
            .await
            .map_err(guest_error)
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, KvError> {
        self.store
            .kv_list_keys(self.tenant, &prefix, limit.min(10_000))
            .await
            .map_err(guest_error)
    }
}
