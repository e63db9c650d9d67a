//! Kafka topic bindings of event functions, and the processed-event marks that make a
//! redelivered event a no-op. Nothing here speaks Kafka; the runtime's trigger does.

use crate::kv_buffer::PendingMark;
use crate::{
    AliasName, Error, FunctionName, KvTransaction, Result, Store, TenantId, now_ms, stored,
};

/// Database id of a topic binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(pub i64);

impl std::fmt::Display for BindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

geyser_core::text_enum! {
    /// Where a new consumer group starts reading a topic.
    pub enum StartFrom ("start position") {
        Earliest = "earliest",
        Latest = "latest",
    }
}

/// A function bound to a topic, as stored. Names were validated by the API before storing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaBinding {
    pub id: BindingId,
    pub tenant: TenantId,
    pub function: FunctionName,
    pub topic: String,
    pub start: StartFrom,
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub dead_letter_topic: String,
    pub ordered: bool,
    /// The alias whose version each record runs (`live` unless set).
    pub alias: AliasName,
}

/// What a tenant asks for.
#[derive(Debug, Clone)]
pub struct NewKafkaBinding<'a> {
    pub tenant: TenantId,
    pub function: &'a FunctionName,
    pub topic: &'a str,
    pub start: StartFrom,
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub dead_letter_topic: &'a str,
    pub ordered: bool,
    pub alias: &'a AliasName,
}

const COLUMNS: &str = "id, tenant_id, function_name, topic, start_from, max_attempts, backoff_ms, dead_letter_topic, ordered, alias";

#[derive(sqlx::FromRow)]
struct BindingRow {
    id: i64,
    tenant_id: i64,
    function_name: String,
    topic: String,
    start_from: String,
    max_attempts: i64,
    backoff_ms: i64,
    dead_letter_topic: String,
    ordered: i64,
    alias: String,
}

impl TryFrom<BindingRow> for KafkaBinding {
    type Error = Error;
    fn try_from(row: BindingRow) -> Result<KafkaBinding> {
        let corrupt = |what: String| Error::Corrupt(what);
        Ok(KafkaBinding {
            id: BindingId(row.id),
            tenant: TenantId(row.tenant_id),
            function: stored(&row.function_name)?,
            topic: row.topic,
            start: row.start_from.parse()?,
            max_attempts: u32::try_from(row.max_attempts).map_err(|e| corrupt(e.to_string()))?,
            backoff_ms: u64::try_from(row.backoff_ms).map_err(|e| corrupt(e.to_string()))?,
            dead_letter_topic: row.dead_letter_topic,
            ordered: row.ordered != 0,
            alias: stored(&row.alias)?,
        })
    }
}

impl Store {
    /// Creates or replaces the function's binding to `topic`. A replaced binding keeps its id
    /// (and so its consumer group and processed marks).
    pub async fn put_kafka_binding(&self, new: NewKafkaBinding<'_>) -> Result<KafkaBinding> {
        sqlx::query(
            "INSERT INTO kafka_bindings (tenant_id, function_name, topic, start_from, max_attempts, \
             backoff_ms, dead_letter_topic, ordered, created_at_ms, alias) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (tenant_id, function_name, topic) DO UPDATE SET start_from = excluded.start_from, \
             max_attempts = excluded.max_attempts, backoff_ms = excluded.backoff_ms, \
             dead_letter_topic = excluded.dead_letter_topic, ordered = excluded.ordered, alias = excluded.alias",
        )
        .bind(new.tenant.0)
        .bind(new.function.as_str())
        .bind(new.topic)
        .bind(new.start.as_str())
        .bind(i64::from(new.max_attempts))
        .bind(i64::try_from(new.backoff_ms).unwrap_or(i64::MAX))
        .bind(new.dead_letter_topic)
        .bind(i64::from(new.ordered))
        .bind(now_ms())
        .bind(new.alias.as_str())
        .execute(&self.pool)
        .await?;
        self.kafka_bindings(new.tenant, new.function)
            .await?
            .into_iter()
            .find(|b| b.topic == new.topic)
            .ok_or_else(|| Error::Corrupt("binding vanished after upsert".into()))
    }

    /// The function's bindings, by topic.
    pub async fn kafka_bindings(
        &self,
        tenant: TenantId,
        function: &FunctionName,
    ) -> Result<Vec<KafkaBinding>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM kafka_bindings WHERE tenant_id = $1 AND function_name = $2 ORDER BY topic"
        );
        let rows: Vec<BindingRow> = sqlx::query_as(&sql)
            .bind(tenant.0)
            .bind(function.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(KafkaBinding::try_from).collect()
    }

    /// Every binding of every tenant: what the trigger supervisor runs consumers for.
    pub async fn all_kafka_bindings(&self) -> Result<Vec<KafkaBinding>> {
        let sql = format!("SELECT {COLUMNS} FROM kafka_bindings ORDER BY id");
        let rows: Vec<BindingRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(KafkaBinding::try_from).collect()
    }

    /// Returns whether it existed.
    pub async fn delete_kafka_binding(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        topic: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM kafka_bindings WHERE tenant_id = $1 AND function_name = $2 AND topic = $3",
        )
        .bind(tenant.0)
        .bind(function.as_str())
        .bind(topic)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether the binding already processed the event.
    pub async fn event_processed(&self, binding: BindingId, event_id: &str) -> Result<bool> {
        marked(&self.pool, binding, event_id).await
    }

    /// Which of `event_ids` the binding already processed, asked inside `kv`'s transaction (an
    /// optimistic batch's: on the pool) — on SQLite only; on PostgreSQL the answer is empty and
    /// [`Store::mark_event`] finds out per event. On SQLite [`Store::mark_event`] then trusts the answer
    /// for the others: the write lock keeps it true until the commit, or, for an optimistic
    /// batch, the marks' plain `INSERT` fails the commit if one appeared meanwhile.
    pub async fn processed_among(
        &self,
        kv: &mut KvTransaction,
        binding: BindingId,
        event_ids: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        let mut processed = std::collections::HashSet::new();
        if kv.buffer.is_none() {
            // PostgreSQL: each mark's own insert says whether it was there (and a generic plan
            // of this `IN` list scans every mark of the binding).
            return Ok(processed);
        }
        for ids in event_ids.chunks(MARKS_PER_STATEMENT) {
            let sql = format!(
                "SELECT event_id FROM kafka_processed WHERE binding_id = {} AND event_id IN ({})",
                binding.0,
                crate::kv::placeholders(ids.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for id in ids {
                query = query.bind(id);
            }
            let found = if kv.reads_outside() {
                query.fetch_all(&self.pool).await?
            } else {
                query.fetch_all(kv.connection().await?).await?
            };
            processed.extend(found);
        }
        if let Some(buffer) = &mut kv.buffer {
            for id in event_ids.iter().filter(|id| !processed.contains(*id)) {
                buffer.note_unmarked(binding, id.clone());
            }
        }
        Ok(processed)
    }

    /// Marks the event processed in `kv` (committed with it). `false`: it was already marked
    /// (processed elsewhere meanwhile). On SQLite the mark waits in `kv`'s buffer for the commit.
    pub async fn mark_event(
        &self,
        kv: &mut KvTransaction,
        binding: BindingId,
        event_id: &str,
    ) -> Result<bool> {
        if let Some(buffer) = &kv.buffer {
            if buffer.is_marked(binding, event_id) {
                return Ok(false);
            }
            if !buffer.known_unmarked(binding, event_id) {
                // (An optimistic batch's marks are checked again by their insert: a mark
                // that appears meanwhile fails the commit.)
                let found = if kv.reads_outside() {
                    self.event_processed(binding, event_id).await?
                } else {
                    marked(kv.connection().await?, binding, event_id).await?
                };
                if found {
                    return Ok(false);
                }
            }
            if let Some(buffer) = &mut kv.buffer {
                buffer.mark(binding, event_id.to_owned());
            }
            return Ok(true);
        }
        let done = sqlx::query(
            "INSERT INTO kafka_processed (binding_id, event_id, processed_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (binding_id, event_id) DO NOTHING",
        )
        .bind(binding.0)
        .bind(event_id)
        .bind(now_ms())
        .execute(kv.connection().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the event processed and commits the delivery's kv writes with the mark. `false`:
    /// the event was already marked (processed elsewhere meanwhile); its kv writes are rolled back.
    pub async fn commit_event(
        &self,
        mut kv: KvTransaction,
        binding: BindingId,
        event_id: &str,
    ) -> Result<bool> {
        if self.mark_event(&mut kv, binding, event_id).await? {
            kv.commit().await?;
            Ok(true)
        } else {
            kv.rollback().await?;
            Ok(false)
        }
    }

    /// Forgets processed marks older than `before_ms` (their records are long committed).
    pub async fn prune_processed_events(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM kafka_processed WHERE processed_at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Marks per multi-row statement: only event ids are bound (see `KV_ROWS_PER_STATEMENT`).
const MARKS_PER_STATEMENT: usize = 64;

/// Whether `exec` (the pool, or a transaction's connection) holds the event's mark.
async fn marked<'c>(
    exec: impl sqlx::Executor<'c, Database = sqlx::Any>,
    binding: BindingId,
    event_id: &str,
) -> Result<bool> {
    let row =
        sqlx::query("SELECT 1 AS one FROM kafka_processed WHERE binding_id = $1 AND event_id = $2")
            .bind(binding.0)
            .bind(event_id)
            .fetch_optional(exec)
            .await?;
    Ok(row.is_some())
}

/// Inserts buffered processed marks (checked absent in the same transaction, so a conflict is
/// a fault and fails the commit).
pub(crate) async fn insert_marks(
    conn: &mut sqlx::AnyConnection,
    marks: &[PendingMark],
    now: i64,
) -> Result<()> {
    for marks in marks.chunks(MARKS_PER_STATEMENT) {
        let values = marks
            .iter()
            .enumerate()
            .map(|(n, mark)| format!("({}, ${}, {now})", mark.binding.0, n + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO kafka_processed (binding_id, event_id, processed_at_ms) VALUES {values}"
        );
        let mut query = sqlx::query(&sql);
        for mark in marks {
            query = query.bind(&mark.event_id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
