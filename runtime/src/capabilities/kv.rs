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

/// Runs a kv operation in the delivery's transaction when there is one, else on the pool.
macro_rules! kv_call {
    ($caps:expr, $txn_method:ident, $store_method:ident ( $($arg:expr),* )) => {
        match &$caps.kv_transaction {
            Some(txn) => txn.lock().await.$txn_method($caps.tenant, $($arg),*).await,
            None => $caps.store.$store_method($caps.tenant, $($arg),*).await,
        }
        .map_err(guest_error)
    };
}

impl Capabilities {
    /// Refuses a write that would create a key beyond the tenant's kv key quota. The guest
    /// hears `unavailable` with the quota in the message (the WIT has no quota case, and adding
    /// one would break every component built against the current interface).
    async fn room_for(&self, key: &str) -> Result<(), KvError> {
        match self.quotas.kv_write(&self.store, self.tenant, key).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(exceeded)) => Err(KvError::Unavailable(exceeded.to_string())),
            Err(err) => Err(guest_error(err)),
        }
    }
}

impl Host for Capabilities {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        kv_call!(self, get, kv_get(&key))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.room_for(&key).await?;
        kv_call!(self, set, kv_set(&key, &value))
    }

    async fn delete(&mut self, key: String) -> Result<bool, KvError> {
        kv_call!(self, delete, kv_delete(&key))
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, KvError> {
        self.room_for(&key).await?;
        kv_call!(self, increment, kv_increment(&key, delta))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, KvError> {
        if expected.is_none() {
            self.room_for(&key).await?;
        }
        kv_call!(
            self,
            compare_and_swap,
            kv_compare_and_swap(&key, expected.as_deref(), &new)
        )
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, KvError> {
        kv_call!(self, list_keys, kv_list_keys(&prefix, limit.min(10_000)))
    }
}
