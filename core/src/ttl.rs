//! `TtlCache`: values kept for a time-to-live, with a generation check so a value read from the
//! database before an invalidation can never be put back after it (the read-then-insert race of
//! a plain cache: reader fetches, writer changes and invalidates, reader inserts the old value).
//!
//! Two ways to read: [`TtlCache::get`] (a fresh value or nothing: the caller fetches), and
//! [`TtlCache::lookup`] for stale-while-revalidate — one caller per key is told to refresh,
//! everyone else goes on with the last value, so a burst does not send one query per request.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a reader saw before it went to the source; an insert with an outdated one is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// The answer of [`TtlCache::lookup`].
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<V> {
    /// Younger than the TTL, or older while another caller refreshes it.
    Use(V),
    /// Nothing known yet, and another caller is fetching it.
    Pending,
    /// Missing or older than the TTL and nobody refreshes it: this caller must, then
    /// [`TtlCache::insert`] with `seen` (or [`TtlCache::release`] if the fetch failed).
    Refresh { last: Option<V>, seen: Generation },
}

#[derive(Debug)]
struct Entry<V> {
    value: Option<V>,
    fetched: Instant,
    refreshing: bool,
}

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    generation: AtomicU64,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
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
        let entry = entries.get(key)?;
        if entry.fetched.elapsed() < self.ttl {
            entry.value.clone()
        } else {
            None
        }
    }

    /// Stale-while-revalidate: see [`Lookup`].
    pub fn lookup(&self, key: &K) -> Lookup<V> {
        let mut entries = self.lock();
        let seen = Generation(self.generation.load(Ordering::Acquire));
        match entries.get_mut(key) {
            Some(entry) if entry.refreshing || entry.fetched.elapsed() < self.ttl => {
                match &entry.value {
                    Some(value) => Lookup::Use(value.clone()),
                    None => Lookup::Pending,
                }
            }
            Some(entry) => {
                entry.refreshing = true;
                Lookup::Refresh {
                    last: entry.value.clone(),
                    seen,
                }
            }
            None => {
                self.make_room(&mut entries);
                entries.insert(
                    key.clone(),
                    Entry {
                        value: None,
                        fetched: Instant::now(),
                        refreshing: true,
                    },
                );
                Lookup::Refresh { last: None, seen }
            }
        }
    }

    /// Take this before reading the source; pass it to [`TtlCache::insert`].
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Keeps `value` unless an invalidation happened since `seen` was taken (then the value may
    /// be stale and is dropped, and the key's refresh claim, if any, is given up). Returns
    /// whether it was kept.
    pub fn insert(&self, key: K, value: V, seen: Generation) -> bool {
        let mut entries = self.lock();
        // Checked under the lock: invalidations bump the generation under the same lock.
        if self.ttl.is_zero() || self.generation.load(Ordering::Acquire) != seen.0 {
            Self::unclaim(&mut entries, &key);
            return false;
        }
        if !entries.contains_key(&key) {
            self.make_room(&mut entries);
        }
        entries.insert(
            key,
            Entry {
                value: Some(value),
                fetched: Instant::now(),
                refreshing: false,
            },
        );
        true
    }

    /// Gives up the refresh claim [`TtlCache::lookup`] handed out (the fetch failed): the next
    /// lookup claims it again.
    pub fn release(&self, key: &K) {
        Self::unclaim(&mut self.lock(), key);
    }

    /// Changes the kept value in place (it keeps its age); false if there is none.
    pub fn update(&self, key: &K, change: impl FnOnce(&mut V)) -> bool {
        match self.lock().get_mut(key).and_then(|e| e.value.as_mut()) {
            Some(value) => {
                change(value);
                true
            }
            None => false,
        }
    }

    /// Every kept value, whatever its age (for gauges).
    pub fn values(&self) -> Vec<V> {
        self.lock()
            .values()
            .filter_map(|e| e.value.clone())
            .collect()
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

    fn unclaim(entries: &mut HashMap<K, Entry<V>>, key: &K) {
        match entries.get_mut(key) {
            Some(entry) if entry.value.is_none() => {
                entries.remove(key);
            }
            Some(entry) => entry.refreshing = false,
            None => {}
        }
    }

    fn make_room(&self, entries: &mut HashMap<K, Entry<V>>) {
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, e| e.refreshing || e.fetched.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
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
    fn one_caller_refreshes_the_others_use_the_last_value() {
        let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_millis(20), 10);
        let Lookup::Refresh { last: None, seen } = cache.lookup(&"k") else {
            panic!("the first lookup must claim the fetch");
        };
        // While the first caller fetches, the others know nothing yet and do not fetch.
        assert_eq!(cache.lookup(&"k"), Lookup::Pending);
        assert!(cache.insert("k", 1, seen));
        assert_eq!(cache.lookup(&"k"), Lookup::Use(1));
        assert!(cache.update(&"k", |v| *v += 1));
        std::thread::sleep(Duration::from_millis(30));
        // Stale: one refresh claim with the last value, then the last value for everyone.
        let Lookup::Refresh {
            last: Some(2),
            seen,
        } = cache.lookup(&"k")
        else {
            panic!("a stale entry must be refreshed once");
        };
        assert_eq!(cache.lookup(&"k"), Lookup::Use(2));
        // A failed fetch gives the claim back.
        cache.release(&"k");
        assert!(matches!(cache.lookup(&"k"), Lookup::Refresh { .. }));
        assert!(cache.insert("k", 3, seen));
        assert_eq!(cache.values(), vec![3]);
    }

    #[test]
    fn an_invalidation_during_a_refresh_drops_its_value_and_frees_the_claim() {
        let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_secs(60), 10);
        let Lookup::Refresh { seen, .. } = cache.lookup(&"k") else {
            panic!("claim");
        };
        cache.invalidate("other");
        assert!(!cache.insert("k", 1, seen));
        assert_eq!(cache.get("k"), None);
        // Not stuck "pending": the next caller fetches again.
        assert!(matches!(
            cache.lookup(&"k"),
            Lookup::Refresh { last: None, .. }
        ));
    }

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
