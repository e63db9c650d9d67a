//! The per-tenant key-value store behind the guests' `geyser:function/kv` import. Every
//! operation is scoped by tenant id, so a tenant can never name another tenant's keys, and every
//! read-modify-write is one SQL statement, so it is atomic across invocations and nodes.

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
             WHERE convert_from(kv.value, 'UTF8') ~ '^-?[0-9]{1,18}$' \
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
    .map_err(db_fault)
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

    /// A unit of kv work that commits all at once, or not at all (see [`KvTransaction`]).
    pub fn kv_transaction(&self) -> KvTransaction {
        KvTransaction {
            store: self.clone(),
            tx: None,
        }
    }
}

/// Kv operations of one event delivery, in one database transaction that begins at the first
/// operation. The delivery's "processed" mark is written in the same transaction
/// ([`Store::commit_event`]), so an event's kv effects and the record that it ran commit
/// together: a redelivered event finds the mark and is skipped, and a failed attempt leaves no
/// kv effects behind. Dropping it rolls back.
pub struct KvTransaction {
    pub(crate) store: Store,
    pub(crate) tx: Option<crate::store::WriteTx>,
}

impl std::fmt::Debug for KvTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvTransaction")
            .field("open", &self.tx.is_some())
            .finish()
    }
}

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

    /// Starts one event of a batch (a savepoint): its writes are then kept with
    /// [`KvTransaction::keep_event`] or undone, alone, with [`KvTransaction::undo_event`].
    pub async fn begin_event(&mut self) -> Result<(), Error> {
        self.execute("SAVEPOINT geyser_event").await
    }

    /// Keeps the current event's writes in the transaction.
    pub async fn keep_event(&mut self) -> Result<(), Error> {
        self.execute("RELEASE SAVEPOINT geyser_event").await
    }

    /// Undoes the current event's writes (its mark among them); the events before it stay.
    pub async fn undo_event(&mut self) -> Result<(), Error> {
        self.execute("ROLLBACK TO SAVEPOINT geyser_event").await?;
        self.execute("RELEASE SAVEPOINT geyser_event").await
    }

    pub async fn get(&mut self, tenant: TenantId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        get(self.connection().await.map_err(db_fault)?, tenant, key).await
    }

    pub async fn set(&mut self, tenant: TenantId, key: &str, value: &[u8]) -> Result<(), KvError> {
        set(
            self.connection().await.map_err(db_fault)?,
            tenant,
            key,
            value,
        )
        .await
    }

    pub async fn delete(&mut self, tenant: TenantId, key: &str) -> Result<bool, KvError> {
        delete(self.connection().await.map_err(db_fault)?, tenant, key).await
    }

    pub async fn increment(
        &mut self,
        tenant: TenantId,
        key: &str,
        delta: i64,
    ) -> Result<i64, KvError> {
        let backend = self.store.backend();
        increment(
            self.connection().await.map_err(db_fault)?,
            backend,
            tenant,
            key,
            delta,
        )
        .await
    }

    pub async fn compare_and_swap(
        &mut self,
        tenant: TenantId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        compare_and_swap(
            self.connection().await.map_err(db_fault)?,
            tenant,
            key,
            expected,
            new,
        )
        .await
    }

    pub async fn list_keys(
        &mut self,
        tenant: TenantId,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, KvError> {
        list_keys(
            self.connection().await.map_err(db_fault)?,
            tenant,
            prefix,
            limit,
        )
        .await
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
