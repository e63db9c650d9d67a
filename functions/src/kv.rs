//! The per-tenant key-value store behind the guests' `geyser:function/kv` import. Every
//! operation is scoped by tenant id, so a tenant can never name another tenant's keys, and every
//! read-modify-write is one SQL statement, so it is atomic across invocations and nodes.

use crate::kv_buffer::{Seen, WriteBuffer};
use crate::{Backend, Error, Store, TenantId, now_ms};
use sqlx::{Any, Executor};

pub use geyser_core::kv::{MAX_KEY_BYTES, MAX_VALUE_BYTES};

pub use geyser_core::kv::KvError;

/// A database fault as a kv failure (the guest hears only that it may retry).
fn db_fault(err: impl Into<Error>) -> KvError {
    KvError::Backend(Box::new(err.into()))
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(KvError::InvalidKey(key.len()));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), KvError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLarge(value.len()));
    }
    Ok(())
}

async fn get<'c>(
    exec: impl Executor<'c, Database = Any>,
    tenant: TenantId,
    key: &str,
) -> Result<Option<Vec<u8>>, KvError> {
    check_key(key)?;
    sqlx::query_scalar("SELECT value FROM kv WHERE tenant_id = $1 AND key = $2")
        .bind(tenant.0)
        .bind(key)
        .fetch_optional(exec)
        .await
        .map_err(db_fault)
}

async fn set<'c>(
    exec: impl Executor<'c, Database = Any>,
    tenant: TenantId,
    key: &str,
    value: &[u8],
) -> Result<(), KvError> {
    check_key(key)?;
    check_value(value)?;
    sqlx::query(
        "INSERT INTO kv (tenant_id, key, value, updated_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(tenant.0)
    .bind(key)
    .bind(value)
    .bind(now_ms())
    .execute(exec)
    .await.map_err(db_fault)?;
    Ok(())
}

/// Returns whether the key existed.
async fn delete<'c>(
    exec: impl Executor<'c, Database = Any>,
    tenant: TenantId,
    key: &str,
) -> Result<bool, KvError> {
    check_key(key)?;
    let done = sqlx::query("DELETE FROM kv WHERE tenant_id = $1 AND key = $2")
        .bind(tenant.0)
        .bind(key)
        .execute(exec)
        .await
        .map_err(db_fault)?;
    Ok(done.rows_affected() > 0)
}

/// Adds `delta` to the decimal integer at `key` (absent = 0) in one statement.
async fn increment<'c>(
    exec: impl Executor<'c, Database = Any>,
    backend: Backend,
    tenant: TenantId,
    key: &str,
    delta: i64,
) -> Result<i64, KvError> {
    check_key(key)?;
    // The update applies only to a value that is a canonical decimal integer; otherwise no
    // row comes back and the caller hears "not a number".
    let sql = match backend {
        Backend::Sqlite => {
            "INSERT INTO kv (tenant_id, key, value, updated_at_ms) VALUES ($1, $2, CAST($3 AS BLOB), $5) \
             ON CONFLICT (tenant_id, key) DO UPDATE \
             SET value = CAST(CAST(CAST(CAST(kv.value AS TEXT) AS INTEGER) + $4 AS TEXT) AS BLOB), \
                 updated_at_ms = excluded.updated_at_ms \
             WHERE CAST(CAST(CAST(kv.value AS TEXT) AS INTEGER) AS TEXT) = CAST(kv.value AS TEXT) \
             RETURNING CAST(value AS TEXT) AS value"
        }
        Backend::Postgres => {
            "INSERT INTO kv (tenant_id, key, value, updated_at_ms) VALUES ($1, $2, convert_to($3, 'UTF8'), $5) \
             ON CONFLICT (tenant_id, key) DO UPDATE \
             SET value = convert_to((convert_from(kv.value, 'UTF8')::bigint + $4)::text, 'UTF8'), \
                 updated_at_ms = excluded.updated_at_ms \
             WHERE convert_from(kv.value, 'UTF8') ~ '^(0|-?[1-9][0-9]{0,17})$' \
             RETURNING convert_from(value, 'UTF8') AS value"
        }
    };
    let text: Option<String> = sqlx::query_scalar(sql)
        .bind(tenant.0)
        .bind(key)
        .bind(delta.to_string())
        .bind(delta)
        .bind(now_ms())
        .fetch_optional(exec)
        .await
        .map_err(db_fault)?;
    let Some(text) = text else {
        return Err(KvError::NotANumber(key.to_owned()));
    };
    text.parse()
        .map_err(|_| db_fault(Error::Corrupt(format!("counter {key:?} holds {text:?}"))))
}

/// Sets `key` to `new` if it currently holds `expected` (`None`: absent). Returns whether it did.
async fn compare_and_swap<'c>(
    exec: impl Executor<'c, Database = Any>,
    tenant: TenantId,
    key: &str,
    expected: Option<&[u8]>,
    new: &[u8],
) -> Result<bool, KvError> {
    check_key(key)?;
    check_value(new)?;
    let done = match expected {
        Some(old) => sqlx::query(
            "UPDATE kv SET value = $3, updated_at_ms = $4 \
                 WHERE tenant_id = $1 AND key = $2 AND value = $5",
        )
        .bind(tenant.0)
        .bind(key)
        .bind(new)
        .bind(now_ms())
        .bind(old)
        .execute(exec)
        .await
        .map_err(db_fault)?,
        None => sqlx::query(
            "INSERT INTO kv (tenant_id, key, value, updated_at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(key)
        .bind(new)
        .bind(now_ms())
        .execute(exec)
        .await
        .map_err(db_fault)?,
    };
    Ok(done.rows_affected() == 1)
}

/// Keys starting with `prefix`, ordered, at most `limit`.
async fn list_keys<'c>(
    exec: impl Executor<'c, Database = Any>,
    tenant: TenantId,
    prefix: &str,
    limit: u32,
) -> Result<Vec<String>, KvError> {
    if prefix.len() > MAX_KEY_BYTES {
        return Err(KvError::InvalidKey(prefix.len()));
    }
    list_query(exec, tenant, prefix, limit)
        .await
        .map_err(db_fault)
}

async fn list_query<'c>(
    exec: impl Executor<'c, Database = Any>,
    tenant: TenantId,
    prefix: &str,
    limit: u32,
) -> Result<Vec<String>, sqlx::Error> {
    let prefix_chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
    sqlx::query_scalar(
        "SELECT key FROM kv WHERE tenant_id = $1 AND substr(key, 1, CAST($2 AS INTEGER)) = $3 ORDER BY key LIMIT $4",
    )
    .bind(tenant.0)
    .bind(prefix_chars)
    .bind(prefix)
    .bind(i64::from(limit))
    .fetch_all(exec)
    .await
}

/// The per-tenant kv operations, on the pool (each statement its own transaction).
impl Store {
    pub async fn kv_get(&self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        get(&self.pool, tenant, key).await
    }

    pub async fn kv_set(&self, tenant: TenantId, key: &str, value: &[u8]) -> Result<(), KvError> {
        set(&self.pool, tenant, key, value).await
    }

    /// Returns whether the key existed.
    pub async fn kv_delete(&self, tenant: TenantId, key: &str) -> Result<bool, KvError> {
        delete(&self.pool, tenant, key).await
    }

    /// Adds `delta` to the decimal integer at `key` (absent = 0) in one statement.
    pub async fn kv_increment(
        &self,
        tenant: TenantId,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        increment(&self.pool, self.backend(), tenant, key, delta).await
    }

    /// Sets `key` to `new` if it currently holds `expected` (`None`: absent). Returns whether it did.
    pub async fn kv_compare_and_swap(
        &self,
        tenant: TenantId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        compare_and_swap(&self.pool, tenant, key, expected, new).await
    }

    /// Keys starting with `prefix`, ordered, at most `limit`.
    pub async fn kv_list_keys(
        &self,
        tenant: TenantId,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, KvError> {
        list_keys(&self.pool, tenant, prefix, limit).await
    }

    /// How many keys `tenant` holds (for the `max_kv_keys` quota; one index range count).
    pub async fn kv_key_count(&self, tenant: TenantId) -> Result<u64, KvError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) AS n FROM kv WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db_fault)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether `tenant` holds `key` (a write to it creates no key).
    pub async fn kv_contains(&self, tenant: TenantId, key: &str) -> Result<bool, KvError> {
        check_key(key)?;
        let row = sqlx::query("SELECT 1 AS one FROM kv WHERE tenant_id = $1 AND key = $2")
            .bind(tenant.0)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_fault)?;
        Ok(row.is_some())
    }

    /// A unit of kv work that commits all at once, or not at all (see [`KvTransaction`]). On
    /// SQLite it takes the write lock at its first operation and keeps it.
    pub fn kv_transaction(&self) -> KvTransaction {
        KvTransaction {
            store: self.clone(),
            tx: None,
            buffer: matches!(self.backend(), Backend::Sqlite).then(WriteBuffer::default),
            optimistic: false,
            failed: false,
        }
    }

    /// A [`KvTransaction`] for a batch of events that may run beside other batches: on SQLite
    /// it reads outside the write lock and takes the lock only to commit, after checking that
    /// what it read is unchanged ([`Error::ReadsChanged`] otherwise: nothing commits, the
    /// batch runs again). The lock is then held for a few statements, not for the guests'
    /// runs, so batches of several partitions run at once.
    pub fn kv_batch_transaction(&self) -> KvTransaction {
        KvTransaction {
            optimistic: matches!(self.backend(), Backend::Sqlite),
            ..self.kv_transaction()
        }
    }
}

/// Whether `text` is a decimal integer as the kv stores one (no sign but `-`, no leading
/// zeros: what SQLite's cast back to text gives).
fn counter_value(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let value: i64 = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}

/// Kv operations of one event delivery, in one database transaction that begins at the first
/// operation. The delivery's "processed" mark is written in the same transaction
/// ([`Store::commit_event`]), so an event's kv effects and the record that it ran commit
/// together: a redelivered event finds the mark and is skipped, and a failed attempt leaves no
/// kv effects behind. Dropping it rolls back.
///
/// On SQLite, where the transaction holds the database's write lock throughout, reads are
/// cached and writes buffered until [`KvTransaction::commit`] (see [`crate::kv_buffer`]); on
/// PostgreSQL every operation is its own statement, so row locks keep concurrent transactions
/// of other nodes apart.
pub struct KvTransaction {
    pub(crate) store: Store,
    tx: Option<crate::store::WriteTx>,
    pub(crate) buffer: Option<WriteBuffer>,
    /// Reads go to the pool until the write lock is taken (see [`Store::kv_batch_transaction`]).
    optimistic: bool,
    /// Writing the buffer out failed part way, or what it read changed: it must not commit.
    failed: bool,
}

impl std::fmt::Debug for KvTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvTransaction")
            .field("open", &self.tx.is_some())
            .field("buffered", &self.buffer.is_some())
            .field("optimistic", &self.optimistic)
            .finish()
    }
}

/// `$1, $2, ...`: `count` numbered placeholders (for an `IN` list).
pub(crate) fn placeholders(count: usize) -> String {
    (1..=count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per multi-row upsert when a buffer is written out. Only a row's key and value are
/// bound (its tenant id and time are integers written into the statement): sqlx's SQLite driver
/// spends time growing with the square of a statement's bound parameters (see `usage.rs`).
const KV_ROWS_PER_STATEMENT: usize = 32;

impl KvTransaction {
    pub(crate) async fn connection(&mut self) -> Result<&mut sqlx::AnyConnection, Error> {
        if self.tx.is_none() {
            self.tx = Some(self.store.begin_write().await?);
        }
        match self.tx.as_mut() {
            Some(tx) => Ok(&mut **tx),
            None => Err(Error::Corrupt("transaction vanished".into())),
        }
    }

    async fn execute(&mut self, sql: &str) -> Result<(), Error> {
        self.connection().await?.execute(sql).await?;
        Ok(())
    }

    /// Commits everything done in it (nothing to do if nothing was).
    pub async fn commit(mut self) -> Result<(), Error> {
        if self.failed {
            return Err(Error::WriteFailed);
        }
        if self.reads_outside() && !self.buffer.as_ref().is_some_and(WriteBuffer::has_writes) {
            // Read only: nothing to lock, what it read was true when read.
            return Ok(());
        }
        self.check_reads().await?;
        self.write_out().await?;
        match self.tx.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    pub async fn rollback(mut self) -> Result<(), Error> {
        match self.tx.take() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }

    /// Writes what the buffer holds into the transaction (a few multi-row statements). A
    /// failure leaves the transaction unable to commit.
    async fn write_out(&mut self) -> Result<(), Error> {
        let written = self.try_write_out().await;
        if written.is_err() {
            self.failed = true;
        }
        written
    }

    async fn try_write_out(&mut self) -> Result<(), Error> {
        let Some(buffer) = &mut self.buffer else {
            return Ok(());
        };
        let dirty = buffer.take_dirty();
        if dirty.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let conn = self.connection().await?;
        for rows in dirty.upserts.chunks(KV_ROWS_PER_STATEMENT) {
            let values = rows
                .iter()
                .enumerate()
                .map(|(n, (tenant, _, _))| {
                    format!("({}, ${}, ${}, {now})", tenant.0, 2 * n + 1, 2 * n + 2)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO kv (tenant_id, key, value, updated_at_ms) VALUES {values} \
                 ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms"
            );
            let mut query = sqlx::query(&sql);
            for (_, key, value) in rows {
                query = query.bind(key).bind(value);
            }
            query.execute(&mut *conn).await?;
        }
        for (tenant, key) in &dirty.deletes {
            sqlx::query("DELETE FROM kv WHERE tenant_id = $1 AND key = $2")
                .bind(tenant.0)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        crate::kafka::insert_marks(&mut *conn, &dirty.marks, now).await?;
        Ok(())
    }

    /// Writes the buffer out once it holds more than [`crate::kv_buffer::SPILL_BYTES`] (an
    /// optimistic batch takes the write lock for that and keeps it).
    async fn bound_buffer(&mut self) -> Result<(), KvError> {
        if self.buffer.as_ref().is_some_and(WriteBuffer::over_limit) {
            self.check_reads().await.map_err(db_fault)?;
            self.write_out().await.map_err(db_fault)?;
        }
        Ok(())
    }

    /// Whether reads go to the pool (an optimistic batch before it took the write lock).
    pub(crate) fn reads_outside(&self) -> bool {
        self.optimistic && self.tx.is_none()
    }

    /// Takes the write lock and checks that what was read outside it is unchanged; a change
    /// leaves the transaction unable to commit ([`Error::ReadsChanged`]).
    async fn check_reads(&mut self) -> Result<(), Error> {
        let Some(reads) = self.buffer.as_mut().map(WriteBuffer::take_reads) else {
            return Ok(());
        };
        if reads.is_empty() {
            return Ok(());
        }
        let unchanged = self.reads_unchanged(reads).await;
        if !matches!(unchanged, Ok(true)) {
            self.failed = true;
        }
        match unchanged {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::ReadsChanged),
            Err(err) => Err(err),
        }
    }

    async fn reads_unchanged(&mut self, reads: crate::kv_buffer::Reads) -> Result<bool, Error> {
        let conn = self.connection().await?;
        let mut by_tenant: std::collections::HashMap<TenantId, Vec<(String, Seen)>> =
            std::collections::HashMap::new();
        for ((tenant, key), seen) in reads.keys {
            by_tenant.entry(tenant).or_default().push((key, seen));
        }
        for (tenant, keys) in by_tenant {
            for keys in keys.chunks(KV_ROWS_PER_STATEMENT * 2) {
                let sql = format!(
                    "SELECT key, value FROM kv WHERE tenant_id = {} AND key IN ({})",
                    tenant.0,
                    placeholders(keys.len())
                );
                let mut query = sqlx::query_as::<_, (String, Vec<u8>)>(&sql);
                for (key, _) in keys {
                    query = query.bind(key);
                }
                let now: std::collections::HashMap<String, Vec<u8>> =
                    query.fetch_all(&mut *conn).await?.into_iter().collect();
                let changed = keys.iter().any(|(key, seen)| {
                    crate::kv_buffer::digest(now.get(key).map(Vec::as_slice)) != *seen
                });
                if changed {
                    return Ok(false);
                }
            }
        }
        for list in reads.lists {
            let now = list_query(&mut *conn, list.tenant, &list.prefix, list.limit).await?;
            if now != list.keys {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Starts one event of a batch: its writes are then kept with
    /// [`KvTransaction::keep_event`] or undone, alone, with [`KvTransaction::undo_event`] (in
    /// the buffer on SQLite, with a savepoint on PostgreSQL).
    pub async fn begin_event(&mut self) -> Result<(), Error> {
        match &mut self.buffer {
            Some(buffer) => {
                buffer.begin_event();
                Ok(())
            }
            None => self.execute("SAVEPOINT geyser_event").await,
        }
    }

    /// Keeps the current event's writes in the transaction.
    pub async fn keep_event(&mut self) -> Result<(), Error> {
        match &mut self.buffer {
            Some(buffer) => {
                buffer.keep_event();
                Ok(())
            }
            None => self.execute("RELEASE SAVEPOINT geyser_event").await,
        }
    }

    /// Undoes the current event's writes (its mark among them); the events before it stay.
    /// [`Error::EventWrittenOut`]: the event wrote so much that the buffer was written out
    /// during it, and only rolling the whole transaction back undoes it.
    pub async fn undo_event(&mut self) -> Result<(), Error> {
        match &mut self.buffer {
            Some(buffer) => {
                if buffer.undo_event() {
                    Ok(())
                } else {
                    Err(Error::EventWrittenOut)
                }
            }
            None => {
                self.execute("ROLLBACK TO SAVEPOINT geyser_event").await?;
                self.execute("RELEASE SAVEPOINT geyser_event").await
            }
        }
    }

    /// The key's value as this transaction sees it (buffered mode: cached after the first read).
    async fn current(&mut self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        if let Some(cached) = self.buffer.as_ref().and_then(|b| b.cached(tenant, key)) {
            return Ok(cached.map(<[u8]>::to_vec));
        }
        if self.reads_outside() {
            let value = get(&self.store.pool, tenant, key).await?;
            if let Some(buffer) = &mut self.buffer {
                buffer.note_read(tenant, key, value.as_deref());
                buffer.remember(tenant, key, value.clone());
            }
            return Ok(value);
        }
        let value = get(self.connection().await.map_err(db_fault)?, tenant, key).await?;
        if let Some(buffer) = &mut self.buffer {
            buffer.remember(tenant, key, value.clone());
        }
        Ok(value)
    }

    /// Buffers a write (buffered mode only).
    async fn buffer_write(
        &mut self,
        tenant: TenantId,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<(), KvError> {
        if let Some(buffer) = &mut self.buffer {
            buffer.write(tenant, key, value);
        }
        self.bound_buffer().await
    }

    pub async fn get(&mut self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.current(tenant, key).await
    }

    pub async fn set(&mut self, tenant: TenantId, key: &str, value: &[u8]) -> Result<(), KvError> {
        if self.buffer.is_none() {
            return set(
                self.connection().await.map_err(db_fault)?,
                tenant,
                key,
                value,
            )
            .await;
        }
        check_key(key)?;
        check_value(value)?;
        self.buffer_write(tenant, key, Some(value.to_vec())).await
    }

    pub async fn delete(&mut self, tenant: TenantId, key: &str) -> Result<bool, KvError> {
        if self.buffer.is_none() {
            return delete(self.connection().await.map_err(db_fault)?, tenant, key).await;
        }
        check_key(key)?;
        let existed = self.current(tenant, key).await?.is_some();
        if existed {
            self.buffer_write(tenant, key, None).await?;
        }
        Ok(existed)
    }

    pub async fn increment(
        &mut self,
        tenant: TenantId,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        let backend = self.store.backend();
        if self.buffer.is_none() {
            return increment(
                self.connection().await.map_err(db_fault)?,
                backend,
                tenant,
                key,
                delta,
            )
            .await;
        }
        check_key(key)?;
        let value = match self.current(tenant, key).await? {
            None => Some(delta),
            Some(text) => counter_value(&text).and_then(|value| value.checked_add(delta)),
        };
        let Some(value) = value else {
            return Err(KvError::NotANumber(key.to_owned()));
        };
        self.buffer_write(tenant, key, Some(value.to_string().into_bytes()))
            .await?;
        Ok(value)
    }

    pub async fn compare_and_swap(
        &mut self,
        tenant: TenantId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        if self.buffer.is_none() {
            return compare_and_swap(
                self.connection().await.map_err(db_fault)?,
                tenant,
                key,
                expected,
                new,
            )
            .await;
        }
        check_key(key)?;
        check_value(new)?;
        if self.current(tenant, key).await?.as_deref() != expected {
            return Ok(false);
        }
        self.buffer_write(tenant, key, Some(new.to_vec())).await?;
        Ok(true)
    }

    pub async fn list_keys(
        &mut self,
        tenant: TenantId,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, KvError> {
        let deleted = self
            .buffer
            .as_ref()
            .map_or(0, |b| b.deleted_with_prefix(tenant, prefix));
        let room = u32::try_from(deleted).unwrap_or(u32::MAX);
        let asked = limit.saturating_add(room);
        let stored = if self.reads_outside() {
            let stored = list_keys(&self.store.pool, tenant, prefix, asked).await?;
            if let Some(buffer) = &mut self.buffer {
                buffer.note_list(crate::kv_buffer::ListRead {
                    tenant,
                    prefix: prefix.to_owned(),
                    limit: asked,
                    keys: stored.clone(),
                });
            }
            stored
        } else {
            list_keys(
                self.connection().await.map_err(db_fault)?,
                tenant,
                prefix,
                asked,
            )
            .await?
        };
        Ok(match &self.buffer {
            Some(buffer) => buffer.merge_keys(tenant, prefix, stored, limit as usize),
            None => stored,
        })
    }
}

/// A delivery's [`KvTransaction`] shared with the invocation that runs in it: the guest's kv
/// calls go through [`geyser_core::Kv`], the trigger takes the transaction back to commit it.
#[derive(Debug)]
pub struct SharedKvTransaction {
    store: Store,
    inner: tokio::sync::Mutex<KvTransaction>,
}

impl SharedKvTransaction {
    pub fn new(store: &Store) -> Self {
        SharedKvTransaction {
            store: store.clone(),
            inner: tokio::sync::Mutex::new(store.kv_transaction()),
        }
    }

    /// Shares `kv`, open or not, with the next invocation (the next event of a batch).
    pub fn continuing(store: &Store, kv: KvTransaction) -> Self {
        SharedKvTransaction {
            store: store.clone(),
            inner: tokio::sync::Mutex::new(kv),
        }
    }

    /// The transaction with everything done in it so far; a fresh one is left in its place.
    pub async fn take(&self) -> KvTransaction {
        std::mem::replace(&mut *self.inner.lock().await, self.store.kv_transaction())
    }
}

#[async_trait::async_trait]
impl geyser_core::Kv for Store {
    async fn get(&self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv_get(tenant, key).await
    }
    async fn set(&self, tenant: TenantId, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.kv_set(tenant, key, value).await
    }
    async fn delete(&self, tenant: TenantId, key: &str) -> Result<bool, KvError> {
        self.kv_delete(tenant, key).await
    }
    async fn increment(&self, tenant: TenantId, key: &str, delta: i64) -> Result<i64, KvError> {
        self.kv_increment(tenant, key, delta).await
    }
    async fn compare_and_swap(
        &self,
        tenant: TenantId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        self.kv_compare_and_swap(tenant, key, expected, new).await
    }
    async fn list_keys(
        &self,
        tenant: TenantId,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, KvError> {
        self.kv_list_keys(tenant, prefix, limit).await
    }
}

#[async_trait::async_trait]
impl geyser_core::Kv for SharedKvTransaction {
    async fn get(&self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.lock().await.get(tenant, key).await
    }
    async fn set(&self, tenant: TenantId, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.inner.lock().await.set(tenant, key, value).await
    }
    async fn delete(&self, tenant: TenantId, key: &str) -> Result<bool, KvError> {
        self.inner.lock().await.delete(tenant, key).await
    }
    async fn increment(&self, tenant: TenantId, key: &str, delta: i64) -> Result<i64, KvError> {
        self.inner.lock().await.increment(tenant, key, delta).await
    }
    async fn compare_and_swap(
        &self,
        tenant: TenantId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        self.inner
            .lock()
            .await
            .compare_and_swap(tenant, key, expected, new)
            .await
    }
    async fn list_keys(
        &self,
        tenant: TenantId,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, KvError> {
        self.inner
            .lock()
            .await
            .list_keys(tenant, prefix, limit)
            .await
    }
}
