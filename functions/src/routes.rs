//! Which version answers a call to `tenant/function`: the gateway, the Kafka workers and the
//! cron runner ask for every invocation. The answer (active version, artifact, limits, owner)
//! is kept for `http.route_cache_ms` so a warm call does not go to the database. A deploy,
//! rollback or delete through this node drops the entry at once (and a lookup that read the
//! database before the drop cannot put its old answer back: [`TtlCache`] checks generations);
//! one through another node is seen when the entry expires. Only found functions are kept: a
//! function deployed anywhere is callable on its first call here.

use crate::{ActiveFunction, FunctionName, Store, TenantName};
use geyser_core::TtlCache;
use std::time::Duration;

/// Entries kept at most; beyond it expired ones are dropped, then all (they are refetched).
const CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct RouteCache {
    cache: TtlCache<String, ActiveFunction>,
}

fn key(tenant: &TenantName, function: &FunctionName) -> String {
    // Names never contain '/', so the pair maps to one string and back.
    format!("{tenant}/{function}")
}

impl RouteCache {
    /// `ttl` zero: every lookup goes to the database.
    pub fn new(ttl: Duration) -> Self {
        RouteCache {
            cache: TtlCache::new(ttl, CAPACITY),
        }
    }

    /// The active version of `tenant/function`, from the cache while fresh, else from `store`.
    pub async fn active(
        &self,
        store: &Store,
        tenant: &TenantName,
        function: &FunctionName,
    ) -> crate::Result<Option<ActiveFunction>> {
        if self.cache.ttl().is_zero() {
            return store.active_function(tenant, function).await;
        }
        let key = key(tenant, function);
        if let Some(active) = self.cache.get(&key) {
            return Ok(Some(active));
        }
        let seen = self.cache.generation();
        let found = store.active_function(tenant, function).await?;
        if let Some(active) = &found {
            self.cache.insert(key, active.clone(), seen);
        }
        Ok(found)
    }

    /// Forgets `tenant/function` (after a deploy, rollback or delete through this node).
    pub fn invalidate(&self, tenant: &TenantName, function: &FunctionName) {
        self.cache.invalidate(&key(tenant, function));
    }

    /// Forgets every function of `tenant` (after it was disabled or enabled through this node).
    pub fn invalidate_tenant(&self, tenant: &TenantName) {
        let prefix = format!("{tenant}/");
        self.cache.invalidate_where(|key| key.starts_with(&prefix));
    }
}
