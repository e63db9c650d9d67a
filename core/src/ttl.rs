//! `TtlCache`: values kept for a time-to-live, with a generation check so a value read from the
//! database before an invalidation can never be put back after it (the read-then-insert race of
//! a plain cache: reader fetches, writer changes and invalidates, reader inserts the old value).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a reader saw before it went to the source; an insert with an outdated one is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    generation: AtomicU64,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// `ttl` zero: nothing is ever kept. Beyond `capacity` entries, expired ones are dropped,
    /// then all of them (they are refetched).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            ttl,
            capacity,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The value if it is younger than the TTL.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        let (value, fetched) = entries.get(key)?;
        (fetched.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Take this before reading the source; pass it to [`TtlCache::insert`].
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Keeps `value` unless an invalidation happened since `seen` was taken (then the value may
    /// be stale and is dropped). Returns whether it was kept.
    pub fn insert(&self, key: K, value: V, seen: Generation) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let mut entries = self.lock();
        // Checked under the lock: invalidations bump the generation under the same lock.
        if self.generation.load(Ordering::Acquire) != seen.0 {
            return false;
        }
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (_, fetched)| fetched.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
        true
    }

    /// Forgets `key`; a read begun before this call cannot put it back.
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Forgets every entry whose key matches.
    pub fn invalidate_where(&self, mut matches: impl FnMut(&K) -> bool) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|key, _| !matches(key));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        // Single inserts and removes cannot leave the map half-updated: a poisoned lock is usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_begun_before_an_invalidation_is_not_put_back() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        let seen = cache.generation();
        // Meanwhile a writer changes the source and invalidates.
        cache.invalidate("k");
        assert!(!cache.insert("k", 1, seen));
        assert_eq!(cache.get("k"), None);
        let seen = cache.generation();
        assert!(cache.insert("k", 2, seen));
        assert_eq!(cache.get("k"), Some(2));
    }

    #[test]
    fn entries_expire_and_zero_ttl_keeps_nothing() {
        let cache = TtlCache::new(Duration::ZERO, 10);
        assert!(!cache.insert("k", 1, cache.generation()));
        let cache = TtlCache::new(Duration::from_millis(1), 10);
        assert!(cache.insert("k", 1, cache.generation()));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get("k"), None);
    }

    #[test]
    fn capacity_bounds_the_map_and_invalidate_where_matches_keys() {
        let cache = TtlCache::new(Duration::from_secs(60), 2);
        for k in ["a/1", "a/2", "b/1"] {
            cache.insert(k, (), cache.generation());
        }
        assert!(cache.lock().len() <= 2);
        cache.insert("a/1", (), cache.generation());
        cache.invalidate_where(|k| k.starts_with("a/"));
        assert_eq!(cache.get("a/1"), None);
    }
}
