//! The write buffer of a [`crate::KvTransaction`] on SQLite. SQLite's write transaction holds
//! the database's only write lock from its first statement (`BEGIN IMMEDIATE`), so nothing else
//! can change a key between the transaction reading it and writing it: reads may be cached and
//! writes (kv values and processed marks) kept in memory, then written in a few multi-row
//! statements when the transaction commits. A batch's events undo their own writes here, in
//! memory, instead of with savepoints: a statement costs a hand-off to sqlx's SQLite thread,
//! which is most of what a small event costs.
//!
//! Memory is bounded: past [`SPILL_BYTES`] of buffered values the buffer is written out
//! ([`WriteBuffer::take_dirty`]) inside the transaction; an event open at that moment can then no
//! longer be undone alone ([`WriteBuffer::undo_event`] says so) and its batch rolls back whole.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::TenantId;
use crate::kafka::BindingId;

/// Buffered value bytes beyond which the buffer is written to the database.
pub(crate) const SPILL_BYTES: usize = 8 << 20;

type Key = (TenantId, String);

/// A key's value as this transaction sees it (`None`: absent); `dirty`: written here, not yet
/// in the database.
#[derive(Debug, Clone)]
struct Entry {
    value: Option<Vec<u8>>,
    dirty: bool,
}

impl Entry {
    fn dirty_bytes(&self) -> usize {
        if self.dirty {
            self.value.as_ref().map_or(0, Vec::len)
        } else {
            0
        }
    }
}

/// A processed mark to insert with the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingMark {
    pub(crate) binding: BindingId,
    pub(crate) event_id: String,
}

/// What an optimistic batch read outside the write lock, to check again under it before
/// committing: each key's value (by digest: the buffer must not hold every value it read) and
/// each key listing.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    pub(crate) keys: HashMap<Key, Seen>,
    pub(crate) lists: Vec<ListRead>,
}

/// One `list_keys` of the database: `limit` keys asked for, `keys` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListRead {
    pub(crate) tenant: TenantId,
    pub(crate) prefix: String,
    pub(crate) limit: u32,
    pub(crate) keys: Vec<String>,
}

/// What a key held when read (`None`: absent), by digest.
pub(crate) type Seen = Option<[u8; 32]>;

/// The digest a read is checked by.
pub(crate) fn digest(value: Option<&[u8]>) -> Seen {
    value.map(|v| Sha256::digest(v).into())
}

impl Reads {
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.lists.is_empty()
    }
}

/// What [`WriteBuffer::take_dirty`] hands to the database.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    pub(crate) upserts: Vec<(TenantId, String, Vec<u8>)>,
    pub(crate) deletes: Vec<(TenantId, String)>,
    pub(crate) marks: Vec<PendingMark>,
}

impl Dirty {
    pub(crate) fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty() && self.marks.is_empty()
    }
}

/// The open event of a batch: what each key it wrote held before it, and how many marks were
/// pending when it began.
#[derive(Debug)]
struct EventLog {
    before: HashMap<Key, Option<Entry>>,
    marks_before: usize,
    /// False once the buffer was written out during the event (only the database's own
    /// rollback can undo it then).
    undoable: bool,
}

#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    entries: HashMap<Key, Entry>,
    marks: Vec<PendingMark>,
    /// Marks of this transaction (pending or already written out).
    marked: HashSet<(BindingId, String)>,
    /// Events the database was asked about in this transaction and had no mark for.
    unmarked: HashSet<(BindingId, String)>,
    dirty_bytes: usize,
    event: Option<EventLog>,
    /// Reads made outside the write lock (an optimistic batch), not yet checked.
    reads: Reads,
}

fn key_of(tenant: TenantId, key: &str) -> Key {
    (tenant, key.to_owned())
}

impl WriteBuffer {
    /// The key's value if this transaction has read or written it (`Some(None)`: absent).
    pub(crate) fn cached(&self, tenant: TenantId, key: &str) -> Option<Option<&[u8]>> {
        self.entries
            .get(&key_of(tenant, key))
            .map(|entry| entry.value.as_deref())
    }

    /// Remembers what the database holds at `key` (read in this transaction).
    pub(crate) fn remember(&mut self, tenant: TenantId, key: &str, value: Option<Vec<u8>>) {
        self.entries.entry(key_of(tenant, key)).or_insert(Entry {
            value,
            dirty: false,
        });
    }

    /// Notes a read made outside the write lock, to check before committing (the first read of
    /// a key is the one that counts: later ones come from the cache).
    pub(crate) fn note_read(&mut self, tenant: TenantId, key: &str, value: Option<&[u8]>) {
        self.reads
            .keys
            .entry(key_of(tenant, key))
            .or_insert_with(|| digest(value));
    }

    /// Notes a listing made outside the write lock, to check before committing.
    pub(crate) fn note_list(&mut self, list: ListRead) {
        self.reads.lists.push(list);
    }

    /// The reads not yet checked; the buffer then has none.
    pub(crate) fn take_reads(&mut self) -> Reads {
        std::mem::take(&mut self.reads)
    }

    /// Whether anything waits to be written.
    pub(crate) fn has_writes(&self) -> bool {
        !self.marks.is_empty() || self.entries.values().any(|e| e.dirty)
    }

    /// Writes `value` (`None`: deletes) at `key`.
    pub(crate) fn write(&mut self, tenant: TenantId, key: &str, value: Option<Vec<u8>>) {
        let key = key_of(tenant, key);
        let new = Entry { value, dirty: true };
        self.dirty_bytes += new.dirty_bytes();
        let old = self.entries.insert(key.clone(), new);
        if let Some(old) = &old {
            self.dirty_bytes -= old.dirty_bytes();
        }
        if let Some(event) = &mut self.event {
            event.before.entry(key).or_insert(old);
        }
    }

    /// Whether the buffered values outgrew [`SPILL_BYTES`].
    pub(crate) fn over_limit(&self) -> bool {
        self.dirty_bytes > SPILL_BYTES
    }

    /// Whether this transaction marked the event.
    pub(crate) fn is_marked(&self, binding: BindingId, event_id: &str) -> bool {
        self.marked.contains(&(binding, event_id.to_owned()))
    }

    /// Whether the database was found to hold no mark for the event in this transaction.
    pub(crate) fn known_unmarked(&self, binding: BindingId, event_id: &str) -> bool {
        self.unmarked.contains(&(binding, event_id.to_owned()))
    }

    pub(crate) fn note_unmarked(&mut self, binding: BindingId, event_id: String) {
        self.unmarked.insert((binding, event_id));
    }

    /// Marks the event processed with the transaction.
    pub(crate) fn mark(&mut self, binding: BindingId, event_id: String) {
        self.marked.insert((binding, event_id.clone()));
        self.marks.push(PendingMark { binding, event_id });
    }

    /// Starts one event of a batch (ending any open one as kept).
    pub(crate) fn begin_event(&mut self) {
        self.event = Some(EventLog {
            before: HashMap::new(),
            marks_before: self.marks.len(),
            undoable: true,
        });
    }

    /// Keeps the open event's writes.
    pub(crate) fn keep_event(&mut self) {
        self.event = None;
    }

    /// Undoes the open event's writes and marks; `false` if they were already written out, and
    /// only rolling the transaction back undoes them.
    pub(crate) fn undo_event(&mut self) -> bool {
        let Some(event) = self.event.take() else {
            return true;
        };
        if !event.undoable {
            return false;
        }
        for (key, before) in event.before {
            let undone = match before {
                Some(entry) => {
                    self.dirty_bytes += entry.dirty_bytes();
                    self.entries.insert(key, entry)
                }
                None => self.entries.remove(&key),
            };
            if let Some(undone) = undone {
                self.dirty_bytes -= undone.dirty_bytes();
            }
        }
        for mark in self.marks.drain(event.marks_before..) {
            self.marked.remove(&(mark.binding, mark.event_id));
        }
        true
    }

    /// Everything written and not yet in the database; the buffer then holds it as read.
    pub(crate) fn take_dirty(&mut self) -> Dirty {
        let mut dirty = Dirty {
            marks: std::mem::take(&mut self.marks),
            ..Dirty::default()
        };
        for ((tenant, key), entry) in &mut self.entries {
            if !entry.dirty {
                continue;
            }
            entry.dirty = false;
            match &entry.value {
                Some(value) => dirty.upserts.push((*tenant, key.clone(), value.clone())),
                None => dirty.deletes.push((*tenant, key.clone())),
            }
        }
        self.dirty_bytes = 0;
        if let Some(event) = &mut self.event {
            event.undoable = false;
            event.marks_before = 0;
        }
        dirty
    }

    /// How many keys with `prefix` this transaction deleted that the database may still list.
    pub(crate) fn deleted_with_prefix(&self, tenant: TenantId, prefix: &str) -> usize {
        self.entries
            .iter()
            .filter(|((t, key), entry)| {
                *t == tenant && entry.dirty && entry.value.is_none() && key.starts_with(prefix)
            })
            .count()
    }

    /// The first `limit` keys with `prefix`, ordered: the database's (`stored`, listed in this
    /// transaction with room for the deleted ones) as this transaction changed them.
    pub(crate) fn merge_keys(
        &self,
        tenant: TenantId,
        prefix: &str,
        stored: Vec<String>,
        limit: usize,
    ) -> Vec<String> {
        let mut keys: std::collections::BTreeSet<String> = stored
            .into_iter()
            .filter(|key| {
                self.entries
                    .get(&(tenant, key.clone()))
                    .is_none_or(|entry| entry.value.is_some())
            })
            .collect();
        for ((t, key), entry) in &self.entries {
            if *t == tenant && entry.value.is_some() && key.starts_with(prefix) {
                keys.insert(key.clone());
            }
        }
        keys.into_iter().take(limit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: TenantId = TenantId(1);
    const B: BindingId = BindingId(7);

    fn value(buffer: &WriteBuffer, key: &str) -> Option<Option<Vec<u8>>> {
        buffer.cached(T, key).map(|v| v.map(<[u8]>::to_vec))
    }

    #[test]
    fn an_undone_event_restores_what_the_kept_ones_wrote() {
        let mut buffer = WriteBuffer::default();
        buffer.remember(T, "a", Some(b"db".to_vec()));
        buffer.begin_event();
        buffer.write(T, "a", Some(b"one".to_vec()));
        buffer.mark(B, "e1".into());
        buffer.keep_event();
        buffer.begin_event();
        buffer.write(T, "a", Some(b"two".to_vec()));
        buffer.write(T, "a", Some(b"three".to_vec()));
        buffer.write(T, "b", Some(b"new".to_vec()));
        buffer.mark(B, "e2".into());
        assert!(buffer.undo_event());
        assert_eq!(value(&buffer, "a"), Some(Some(b"one".to_vec())));
        assert_eq!(value(&buffer, "b"), None);
        assert!(buffer.is_marked(B, "e1"));
        assert!(!buffer.is_marked(B, "e2"));
        assert_eq!(buffer.dirty_bytes, 3);
        let dirty = buffer.take_dirty();
        assert_eq!(dirty.upserts, vec![(T, "a".to_owned(), b"one".to_vec())]);
        assert_eq!(
            dirty.marks,
            vec![PendingMark {
                binding: B,
                event_id: "e1".into()
            }]
        );
        assert!(buffer.take_dirty().is_empty());
    }

    #[test]
    fn a_read_is_cached_and_an_undone_first_write_forgets_the_key() {
        let mut buffer = WriteBuffer::default();
        buffer.remember(T, "gone", None);
        assert_eq!(value(&buffer, "gone"), Some(None));
        buffer.begin_event();
        buffer.write(T, "fresh", Some(b"x".to_vec()));
        buffer.write(T, "gone", Some(b"y".to_vec()));
        assert!(buffer.undo_event());
        assert_eq!(value(&buffer, "fresh"), None);
        assert_eq!(value(&buffer, "gone"), Some(None));
        assert!(buffer.take_dirty().is_empty());
    }

    #[test]
    fn an_event_written_out_cannot_be_undone_alone() {
        let mut buffer = WriteBuffer::default();
        buffer.begin_event();
        buffer.write(T, "big", Some(vec![0; SPILL_BYTES + 1]));
        assert!(buffer.over_limit());
        let dirty = buffer.take_dirty();
        assert_eq!(dirty.upserts.len(), 1);
        assert!(!buffer.over_limit());
        assert!(!buffer.undo_event());
    }

    #[test]
    fn the_first_read_of_a_key_is_the_one_checked() {
        let mut buffer = WriteBuffer::default();
        buffer.note_read(T, "a", Some(b"one"));
        buffer.note_read(T, "a", Some(b"two"));
        buffer.note_read(T, "gone", None);
        assert!(!buffer.has_writes());
        buffer.write(T, "a", Some(b"three".to_vec()));
        assert!(buffer.has_writes());
        let reads = buffer.take_reads();
        assert_eq!(reads.keys[&(T, "a".to_owned())], digest(Some(b"one")));
        assert_eq!(reads.keys[&(T, "gone".to_owned())], None);
        assert!(buffer.take_reads().is_empty());
    }

    #[test]
    fn listing_applies_this_transactions_writes_and_deletes() {
        let mut buffer = WriteBuffer::default();
        buffer.write(T, "p:b", None);
        buffer.write(T, "p:c", Some(b"1".to_vec()));
        buffer.write(T, "q:z", Some(b"1".to_vec()));
        buffer.write(TenantId(2), "p:other", Some(b"1".to_vec()));
        assert_eq!(buffer.deleted_with_prefix(T, "p:"), 1);
        let stored = vec!["p:a".to_owned(), "p:b".to_owned(), "p:d".to_owned()];
        assert_eq!(
            buffer.merge_keys(T, "p:", stored.clone(), 10),
            ["p:a", "p:c", "p:d"]
        );
        assert_eq!(buffer.merge_keys(T, "p:", stored, 2), ["p:a", "p:c"]);
    }
}
