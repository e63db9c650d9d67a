//! Which version answers a call to `tenant/function` (or `@version`, `@alias`): the gateway,
//! the Kafka workers and the cron runner ask for every invocation. The answer (the version —
//! artifact, limits, owner — and the alias's canary) is kept for `http.route_cache_ms` so a warm call does not go to the database. A deploy,
//! rollback or delete through this node drops the entry at once (and a lookup that read the
//! database before the drop cannot put its old answer back: [`TtlCache`] checks generations);
//! one through another node is seen when the entry expires. Only found functions are kept: a
//! function deployed anywhere is callable on its first call here.

use crate::{FunctionName, Route, Selector, Store, TenantName};
use geyser_core::TtlCache;
use std::time::Duration;

/// Entries kept at most; beyond it expired ones are dropped, then all (they are refetched).
const CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct RouteCache {
    cache: TtlCache<String, Route>,
}

fn key(tenant: &TenantName, function: &FunctionName, selector: &Selector) -> String {
    // Names never contain '/' or '@', so the triple maps to one string and back.
    format!("{tenant}/{function}@{selector}")
}

impl RouteCache {
    /// `ttl` zero: every lookup goes to the database.
    pub fn new(ttl: Duration) -> Self {
        RouteCache {
            cache: TtlCache::new(ttl, CAPACITY),
        }
    }

    /// What a call to `tenant/function@selector` runs, from the cache while fresh, else from
    /// `store`.
    pub async fn route(
        &self,
        store: &Store,
        tenant: &TenantName,
        function: &FunctionName,
        selector: &Selector,
    ) -> crate::Result<Option<Route>> {
        if self.cache.ttl().is_zero() {
            return store.route(tenant, function, selector).await;
        }
        let key = key(tenant, function, selector);
        if let Some(route) = self.cache.get(&key) {
            return Ok(Some(route));
        }
        let seen = self.cache.generation();
        let found = store.route(tenant, function, selector).await?;
        if let Some(route) = &found {
            self.cache.insert(key, route.clone(), seen);
        }
        Ok(found)
    }

    /// Forgets `tenant/function` with every selector (after a deploy, rollback, delete or
    /// alias change through this node).
    pub fn invalidate(&self, tenant: &TenantName, function: &FunctionName) {
        let prefix = format!("{tenant}/{function}@");
        self.cache.invalidate_where(|key| key.starts_with(&prefix));
    }

    /// Forgets every function of `tenant` (after it was disabled or enabled through this node).
    pub fn invalidate_tenant(&self, tenant: &TenantName) {
        let prefix = format!("{tenant}/");
        self.cache.invalidate_where(|key| key.starts_with(&prefix));
    }

    /// Forgets every route (changes may have been missed).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_where(|_| true);
    }
}
