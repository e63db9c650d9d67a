//! `QuotaKv`: a tenant's kv (the store, or a delivery's transaction) behind the kv key quota.
//! A write that may create a key asks the guard first; reads, deletes and overwrites pass.

use crate::QuotaGuard;
use geyser_core::kv::{Kv, KvError};
use geyser_functions::{Store, TenantId};
use std::sync::Arc;

pub struct QuotaKv {
    inner: Arc<dyn Kv>,
    guard: Arc<QuotaGuard>,
    /// Where keys are counted (always the pool: a count inside a delivery's transaction would
    /// hold its write lock longer).
    store: Store,
}

impl QuotaKv {
    pub fn new(inner: Arc<dyn Kv>, guard: Arc<QuotaGuard>, store: Store) -> QuotaKv {
        QuotaKv {
            inner,
            guard,
            store,
        }
    }

    async fn room_for(&self, tenant: TenantId, key: &str) -> Result<(), KvError> {
        match self.guard.kv_write(&self.store, tenant, key).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(exceeded)) => Err(KvError::QuotaExceeded(exceeded.to_string())),
            Err(err) => Err(err),
        }
    }
}

#[async_trait::async_trait]
impl Kv for QuotaKv {
    async fn get(&self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(tenant, key).await
    }

    async fn set(&self, tenant: TenantId, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.room_for(tenant, key).await?;
        self.inner.set(tenant, key, value).await
    }

    async fn delete(&self, tenant: TenantId, key: &str) -> Result<bool, KvError> {
        self.inner.delete(tenant, key).await
    }

    async fn increment(&self, tenant: TenantId, key: &str, delta: i64) -> Result<i64, KvError> {
        self.room_for(tenant, key).await?;
        self.inner.increment(tenant, key, delta).await
    }

    async fn compare_and_swap(
        &self,
        tenant: TenantId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        // Only a swap from "absent" can create a key.
        if expected.is_none() {
            self.room_for(tenant, key).await?;
        }
        self.inner
            .compare_and_swap(tenant, key, expected, new)
            .await
    }

    async fn list_keys(
        &self,
        tenant: TenantId,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, KvError> {
        self.inner.list_keys(tenant, prefix, limit).await
    }
}
