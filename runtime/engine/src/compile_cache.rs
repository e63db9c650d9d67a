//! Cranelift's incremental compilation cache, shared by every compile of the node: a function
//! body compiled once (keyed by its contents, the ISA and the compiler's settings, not by its
//! index or module) is reused by the next component that holds the same body. Every
//! JavaScript component carries the same StarlingMonkey engine, every Python one the same
//! CPython: the second one on a node compiles little of it.
//!
//! Held in memory, bounded by `engine.compile_cache_mb`; when an insert would pass the bound,
//! the oldest entries go first. A miss only costs a compile, so losing it (restart, eviction)
//! is harmless.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct CompileCache {
    budget_bytes: usize,
    inner: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Entries {
    values: HashMap<Vec<u8>, Vec<u8>>,
    /// Insertion order, for evicting the oldest first.
    order: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl CompileCache {
    pub fn new(budget_bytes: usize) -> Self {
        CompileCache {
            budget_bytes,
            inner: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (bytes held, hits, misses).
    #[cfg(test)]
    fn stats(&self) -> (usize, u64, u64) {
        let bytes = self.inner.lock().map_or(0, |e| e.bytes);
        (
            bytes,
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

impl wasmtime::CacheStore for CompileCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self
            .inner
            .lock()
            .ok()
            .and_then(|e| e.values.get(key).cloned());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let size = key.len() + value.len();
        if size > self.budget_bytes {
            return false;
        }
        let Ok(mut entries) = self.inner.lock() else {
            return false;
        };
        while entries.bytes + size > self.budget_bytes {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some(value) = entries.values.remove(&oldest) {
                entries.bytes -= oldest.len() + value.len();
            }
        }
        if let Some(previous) = entries.values.insert(key.to_vec(), value) {
            entries.bytes -= key.len() + previous.len();
        } else {
            entries.order.push_back(key.to_vec());
        }
        entries.bytes += size;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::CacheStore;

    #[test]
    fn the_oldest_entries_make_room() {
        let cache = CompileCache::new(20);
        assert!(cache.insert(b"a", vec![0; 9]));
        assert!(cache.insert(b"b", vec![0; 9]));
        assert!(cache.get(b"a").is_some());
        assert!(cache.insert(b"c", vec![0; 9]));
        assert!(cache.get(b"a").is_none(), "the oldest went");
        assert_eq!(cache.get(b"c").as_deref(), Some(&[0u8; 9][..]));
        assert!(
            !cache.insert(b"d", vec![0; 40]),
            "larger than the whole budget"
        );
        assert_eq!(cache.stats(), (20, 2, 1));
    }
}
