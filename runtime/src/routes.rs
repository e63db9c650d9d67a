//! Which version answers a call to `tenant/function`: the gateway, the Kafka workers and the
//! cron runner ask for every invocation. The answer (active version, artifact, limits, owner)
//! is kept for `http.route_cache_ms` so a warm call does not go to the database. A deploy,
//! rollback or delete through this node drops the entry at once; one through another node is
//! seen when the entry expires. Only found functions are kept: a function deployed anywhere is
//! callable on its first call here.

use geyser_functions::{ActiveFunction, FunctionName, Store, TenantName};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; beyond it expired ones are dropped, then all (they are refetched).
const CAPACITY: usize = 100_000;

pub struct RouteCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (ActiveFunction, Instant)>>,
}

fn key(tenant: &TenantName, function: &FunctionName) -> String {
    // Names never contain '/', so the pair maps to one string and back.
    format!("{tenant}/{function}")
}

impl RouteCache {
    /// `ttl` zero: every lookup goes to the database.
    pub fn new(ttl: Duration) -> Self {
        RouteCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The active version of `tenant/function`, from the cache while fresh, else from `store`.
    pub async fn active(
        &self,
        store: &Store,
        tenant: &TenantName,
        function: &FunctionName,
    ) -> geyser_functions::Result<Option<ActiveFunction>> {
        if self.ttl.is_zero() {
            return store.active_function(tenant, function).await;
        }
        let key = key(tenant, function);
        if let Some(active) = self.fresh(&key) {
            return Ok(Some(active));
        }
        let found = store.active_function(tenant, function).await?;
        if let Some(active) = &found {
            self.insert(key, active.clone());
        }
        Ok(found)
    }

    /// Forgets `tenant/function` (after a deploy, rollback or delete through this node).
    pub fn invalidate(&self, tenant: &TenantName, function: &FunctionName) {
        self.lock().remove(&key(tenant, function));
    }

    /// Forgets every function of `tenant` (after it was disabled or enabled through this node).
    pub fn invalidate_tenant(&self, tenant: &TenantName) {
        let prefix = format!("{tenant}/");
        self.lock().retain(|key, _| !key.starts_with(&prefix));
    }

    fn fresh(&self, key: &str) -> Option<ActiveFunction> {
        let entries = self.lock();
        let (active, fetched) = entries.get(key)?;
        (fetched.elapsed() < self.ttl).then(|| active.clone())
    }

    fn insert(&self, key: String, active: ActiveFunction) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, (_, fetched)| fetched.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (active, Instant::now()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ActiveFunction, Instant)>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
