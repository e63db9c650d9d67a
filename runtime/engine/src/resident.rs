//! The warm set: pre-instantiated function versions kept in memory while they are used, and
//! dropped after an idle TTL — that is scale to zero. Concurrent cold starts of one version
//! share a single load.

use geyser_core::ArtifactHash;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

struct Slot<T> {
    value: OnceCell<T>,
    /// Milliseconds since the set's epoch at the last use.
    last_used_ms: AtomicU64,
}

/// Warm values keyed by artifact hash.
pub struct Resident<T> {
    slots: Mutex<HashMap<ArtifactHash, Arc<Slot<T>>>>,
    epoch: Instant,
}

/// Whether a lookup found the value warm or had to load it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temperature {
    Warm,
    Cold,
}

impl<T: Clone> Resident<T> {
    pub fn new() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn slot(&self, hash: &ArtifactHash) -> Arc<Slot<T>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry(hash.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    value: OnceCell::new(),
                    last_used_ms: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// The warm value, or the result of `load` (run once even under concurrent callers).
    pub async fn get_or_load<E, F, Fut>(
        &self,
        hash: &ArtifactHash,
        load: F,
    ) -> Result<(T, Temperature), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let slot = self.slot(hash);
        slot.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
        if let Some(value) = slot.value.get() {
            return Ok((value.clone(), Temperature::Warm));
        }
        let value = slot.value.get_or_try_init(load).await?;
        slot.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
        Ok((value.clone(), Temperature::Cold))
    }

    /// Puts a freshly compiled value in (at deploy, so the first call is warm).
    pub fn insert(&self, hash: &ArtifactHash, value: T) {
        let slot = self.slot(hash);
        let _ = slot.value.set(value);
        slot.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Drops every loaded value unused for `ttl`; returns how many were dropped.
    pub fn evict_idle(&self, ttl: Duration) -> usize {
        let now = self.now_ms();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let before = slots.len();
        slots.retain(|_, slot| {
            let idle = now.saturating_sub(slot.last_used_ms.load(Ordering::Relaxed)) >= ttl_ms;
            // A slot still loading has no value yet; keep it so its waiters share the load.
            !(idle && slot.value.initialized())
        });
        before - slots.len()
    }

    /// Number of values held in memory now.
    pub fn count(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.values().filter(|s| s.value.initialized()).count()
    }
}

impl<T: Clone> Default for Resident<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn hash(n: u8) -> ArtifactHash {
        ArtifactHash::of(&[n])
    }

    #[tokio::test]
    async fn loads_once_then_is_warm_and_evicts_when_idle() {
        let resident = Resident::<u32>::new();
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(7)
        };
        assert_eq!(
            resident.get_or_load(&hash(1), load).await,
            Ok((7, Temperature::Cold))
        );
        assert_eq!(
            resident
                .get_or_load(&hash(1), || async { Ok::<_, ()>(8) })
                .await,
            Ok((7, Temperature::Warm))
        );
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(resident.count(), 1);
        assert_eq!(resident.evict_idle(Duration::from_secs(3600)), 0);
        assert_eq!(resident.evict_idle(Duration::ZERO), 1);
        assert_eq!(resident.count(), 0);
    }

    #[tokio::test]
    async fn failed_loads_are_not_cached() {
        let resident = Resident::<u32>::new();
        assert_eq!(
            resident
                .get_or_load(&hash(2), || async { Err("boom") })
                .await,
            Err("boom")
        );
        assert_eq!(
            resident
                .get_or_load(&hash(2), || async { Ok::<_, &str>(3) })
                .await,
            Ok((3, Temperature::Cold))
        );
    }
}
