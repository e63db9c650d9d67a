//! Invocation records (one per invocation, written in batches by the host's metering writer)
//! and the per-function usage computed from them.

use crate::stored;
use crate::{
    FunctionName, InvocationId, InvocationRecord, Outcome, Result, Store, TenantId, TriggerKind,
    Version,
};

/// Usage figures summed over invocation records (peak memory is the maximum).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageFigures {
    pub invocations: u64,
    pub errors: u64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub peak_memory_bytes: u64,
    pub gb_seconds: f64,
    /// Invocations per outcome, for outcomes that occurred.
    pub outcomes: Vec<(Outcome, u64)>,
}

impl UsageFigures {
    fn add(&mut self, other: &UsageFigures) {
        self.invocations += other.invocations;
        self.errors += other.errors;
        self.wall_ns += other.wall_ns;
        self.cpu_ns += other.cpu_ns;
        self.peak_memory_bytes = self.peak_memory_bytes.max(other.peak_memory_bytes);
        self.gb_seconds += other.gb_seconds;
        for (outcome, n) in &other.outcomes {
            match self.outcomes.iter_mut().find(|(o, _)| o == outcome) {
                Some((_, sum)) => *sum += n,
                None => self.outcomes.push((*outcome, *n)),
            }
        }
    }
}

/// Usage of one function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionUsage {
    pub function: FunctionName,
    pub figures: UsageFigures,
}

/// Usage of a tenant: one row per function.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageReport {
    pub functions: Vec<FunctionUsage>,
}

impl UsageReport {
    pub fn totals(&self) -> UsageFigures {
        let mut total = UsageFigures::default();
        for f in &self.functions {
            total.add(&f.figures);
        }
        total
    }
}

/// Records per `INSERT` statement. Only each record's five texts are bound parameters; its
/// numbers are written into the statement (they are integers and one finite float, formatted
/// here, so nothing a guest or client controls reaches the SQL text). sqlx's SQLite driver looks
/// up parameter names per bound value, a cost that grows with the square of a statement's
/// parameters: with every column bound, three more columns (the outbound figures) cost 15 % of
/// warm throughput (bench/RESULTS.md, #15).
const ROWS_PER_INSERT: usize = 16;
/// Bound parameters per record: id, function name, trigger, outcome, traceparent.
const BOUND_PER_RECORD: usize = 5;

fn sql_int(v: u64) -> String {
    i64::try_from(v).unwrap_or(i64::MAX).to_string()
}

/// `INSERT INTO invocations ... VALUES (...), (...)` for `records`: `$n` placeholders for the
/// texts (bound in the order id, function, trigger, outcome, traceparent per record), numbers
/// inline.
fn insert_invocations_sql(records: &[InvocationRecord]) -> String {
    let mut sql = String::from(
        "INSERT INTO invocations (id, tenant_id, function_name, version, trigger_kind, \
         started_at_ms, wall_ns, cpu_ns, peak_memory_bytes, gb_seconds, outcome, \
         memory_limit_bytes, traceparent, outbound_requests, outbound_bytes, outbound_wait_ns, \
         http_status) VALUES ",
    );
    for (row, r) in records.iter().enumerate() {
        let p = |i: usize| format!("${}", row * BOUND_PER_RECORD + i);
        let gb_seconds = Some(r.gb_seconds())
            .filter(|v| v.is_finite())
            .unwrap_or(0.0);
        sql.push_str(if row == 0 { "(" } else { ", (" });
        sql.push_str(
            &[
                p(1),
                r.tenant.0.to_string(),
                p(2),
                r.version.0.to_string(),
                p(3),
                r.started_at_ms.to_string(),
                sql_int(r.wall_ns),
                sql_int(r.cpu_ns),
                sql_int(r.peak_memory_bytes),
                format!("{gb_seconds:e}"),
                p(4),
                sql_int(r.memory_limit_bytes),
                p(5),
                sql_int(r.outbound_requests),
                sql_int(r.outbound_bytes),
                sql_int(r.outbound_wait_ns),
                r.http_status
                    .map_or_else(|| "NULL".to_owned(), |s| s.to_string()),
            ]
            .join(", "),
        );
        sql.push(')');
    }
    // RETURNING lists only the rows this statement wrote (not the ones already there), so a
    // retried batch is rolled up once.
    sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
    sql
}

#[derive(sqlx::FromRow)]
struct UsageHourlyRow {
    function_name: String,
    trigger_kind: String,
    outcome: String,
    hour_ms: i64,
    invocations: i64,
    wall_ns: i64,
    cpu_ns: i64,
    peak_memory_bytes: i64,
    gb_seconds: f64,
    allocated_gb_seconds: f64,
}

#[derive(sqlx::FromRow)]
struct LatencyHourlyRow {
    function_name: String,
    hour_ms: i64,
    bucket: i64,
    invocations: i64,
}

const INVOCATION_COLUMNS: &str = "SELECT id, version, trigger_kind, started_at_ms, wall_ns, cpu_ns, \
     peak_memory_bytes, memory_limit_bytes, outcome, traceparent, outbound_requests, \
     outbound_bytes, outbound_wait_ns, http_status FROM invocations";

#[derive(sqlx::FromRow)]
struct InvocationRow {
    id: String,
    version: i64,
    trigger_kind: String,
    started_at_ms: i64,
    wall_ns: i64,
    cpu_ns: i64,
    peak_memory_bytes: i64,
    memory_limit_bytes: i64,
    outcome: String,
    traceparent: Option<String>,
    outbound_requests: i64,
    outbound_bytes: i64,
    outbound_wait_ns: i64,
    http_status: Option<i64>,
}

fn as_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl InvocationRow {
    fn record(self, tenant: TenantId, function: &FunctionName) -> Result<InvocationRecord> {
        Ok(InvocationRecord {
            id: stored(&self.id)?,
            tenant,
            function: function.clone(),
            version: Version(self.version),
            trigger: stored(&self.trigger_kind)?,
            started_at_ms: self.started_at_ms,
            wall_ns: as_u64(self.wall_ns),
            cpu_ns: as_u64(self.cpu_ns),
            peak_memory_bytes: as_u64(self.peak_memory_bytes),
            memory_limit_bytes: as_u64(self.memory_limit_bytes),
            outcome: stored(&self.outcome)?,
            traceparent: self.traceparent,
            outbound_requests: as_u64(self.outbound_requests),
            outbound_bytes: as_u64(self.outbound_bytes),
            outbound_wait_ns: as_u64(self.outbound_wait_ns),
            http_status: self.http_status.and_then(|s| u16::try_from(s).ok()),
        })
    }
}

impl Store {
    /// Writes a batch of records in one transaction, up to `ROWS_PER_INSERT` rows per statement
    /// (one statement per record cost a round trip to the database each: the largest part of
    /// metering's cost per invocation).
    pub async fn insert_invocations(&self, records: &[InvocationRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut written: std::collections::HashSet<String> = std::collections::HashSet::new();
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let sql = insert_invocations_sql(chunk);
            // Each batch's text differs (its numbers are in it): not worth a cached statement.
            let mut query = sqlx::query_scalar::<_, String>(&sql).persistent(false);
            for r in chunk {
                query = query
                    .bind(r.id.to_string())
                    .bind(r.function.as_str())
                    .bind(r.trigger.as_str())
                    .bind(r.outcome.as_str())
                    .bind(r.traceparent.clone());
            }
            written.extend(query.fetch_all(&mut *tx).await?);
        }
        // The rollups change in the same transaction, by the records it actually inserted: a
        // batch retried after an ambiguous commit (or a record sent twice) is not counted again.
        let records: Vec<InvocationRecord> = records
            .iter()
            .filter(|r| written.contains(&r.id.to_string()))
            .cloned()
            .collect();
        let records = records.as_slice();
        for (key, sum) in rollup(records) {
            sqlx::query(UPSERT_USAGE_HOURLY)
                .bind(key.tenant)
                .bind(key.function)
                .bind(key.trigger)
                .bind(key.outcome)
                .bind(key.hour_ms)
                .bind(sum.invocations)
                .bind(sum.wall_ns)
                .bind(sum.cpu_ns)
                .bind(sum.peak_memory_bytes)
                .bind(sum.gb_seconds)
                .bind(sum.allocated_gb_seconds)
                .execute(&mut *tx)
                .await?;
        }
        for ((tenant, function, version, outcome, hour_ms), sum) in version_rollup(records) {
            sqlx::query(UPSERT_USAGE_HOURLY_VERSIONS)
                .bind(tenant)
                .bind(function)
                .bind(version)
                .bind(outcome)
                .bind(hour_ms)
                .bind(sum.invocations)
                .bind(sum.cpu_ns)
                .bind(sum.gb_seconds)
                .execute(&mut *tx)
                .await?;
        }
        for ((tenant, function, hour_ms, bucket), n) in latency_rollup(records) {
            sqlx::query(UPSERT_LATENCY_HOURLY)
                .bind(tenant)
                .bind(function)
                .bind(hour_ms)
                .bind(i64::from(bucket))
                .bind(n)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Usage of every function the tenant has invocations of (deleted ones included), from the
    /// hourly rollups, so it covers records already pruned.
    pub async fn usage(&self, tenant: TenantId) -> Result<UsageReport> {
        let rows = self.rollup_rows(tenant, i64::MIN, i64::MAX).await?;
        let mut functions: Vec<FunctionUsage> = Vec::new();
        for row in &rows {
            let at = match functions.iter().position(|f| f.function == row.function) {
                Some(at) => at,
                None => {
                    functions.push(FunctionUsage {
                        function: row.function.clone(),
                        figures: UsageFigures::default(),
                    });
                    functions.len() - 1
                }
            };
            functions[at].figures.add(&row.figures());
        }
        functions.sort_by(|a, b| a.function.as_str().cmp(b.function.as_str()));
        Ok(UsageReport { functions })
    }

    /// Rollup rows of a tenant whose hour starts in `[from_ms, to_ms)`, ordered by hour.
    pub async fn rollup_rows(
        &self,
        tenant: TenantId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RollupRow>> {
        let rows: Vec<UsageHourlyRow> = sqlx::query_as(
            "SELECT function_name, trigger_kind, outcome, hour_ms, invocations, wall_ns, cpu_ns, \
             peak_memory_bytes, gb_seconds, allocated_gb_seconds FROM usage_hourly \
             WHERE tenant_id = $1 AND hour_ms >= $2 AND hour_ms < $3 \
             ORDER BY hour_ms, function_name, trigger_kind, outcome",
        )
        .bind(tenant.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(RollupRow {
                    function: stored(&row.function_name)?,
                    trigger: stored(&row.trigger_kind)?,
                    outcome: stored(&row.outcome)?,
                    hour_ms: row.hour_ms,
                    invocations: as_u64(row.invocations),
                    wall_ns: as_u64(row.wall_ns),
                    cpu_ns: as_u64(row.cpu_ns),
                    peak_memory_bytes: as_u64(row.peak_memory_bytes),
                    gb_seconds: row.gb_seconds,
                    allocated_gb_seconds: row.allocated_gb_seconds,
                })
            })
            .collect()
    }

    /// Rollup rows by version of a tenant whose hour starts in `[from_ms, to_ms)`.
    pub async fn version_rollup_rows(
        &self,
        tenant: TenantId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<VersionRollupRow>> {
        let rows: Vec<(String, i64, String, i64, i64, i64, f64)> = sqlx::query_as(
            "SELECT function_name, version, outcome, hour_ms, invocations, cpu_ns, gb_seconds \
             FROM usage_hourly_versions WHERE tenant_id = $1 AND hour_ms >= $2 AND hour_ms < $3 \
             ORDER BY function_name, version, hour_ms, outcome",
        )
        .bind(tenant.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(function, version, outcome, hour_ms, invocations, cpu_ns, gb_seconds)| {
                    Ok(VersionRollupRow {
                        function: stored(&function)?,
                        version: Version(version),
                        outcome: stored(&outcome)?,
                        hour_ms,
                        invocations: as_u64(invocations),
                        cpu_ns: as_u64(cpu_ns),
                        gb_seconds,
                    })
                },
            )
            .collect()
    }

    /// The wall-time histogram of a tenant's functions per hour in `[from_ms, to_ms)`.
    pub async fn latency_rows(
        &self,
        tenant: TenantId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<LatencyRow>> {
        let rows: Vec<LatencyHourlyRow> = sqlx::query_as(
            "SELECT function_name, hour_ms, bucket, invocations FROM latency_hourly \
             WHERE tenant_id = $1 AND hour_ms >= $2 AND hour_ms < $3 \
             ORDER BY hour_ms, function_name, bucket",
        )
        .bind(tenant.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(LatencyRow {
                    function: stored(&row.function_name)?,
                    hour_ms: row.hour_ms,
                    bucket: u32::try_from(row.bucket).unwrap_or(0),
                    invocations: as_u64(row.invocations),
                })
            })
            .collect()
    }

    /// The latest invocation records of a function, newest first (within raw retention).
    pub async fn recent_invocations(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        limit: u32,
    ) -> Result<Vec<InvocationRecord>> {
        let rows: Vec<InvocationRow> = sqlx::query_as(&format!(
            "{INVOCATION_COLUMNS} WHERE tenant_id = $1 AND function_name = $2 \
             ORDER BY started_at_ms DESC, id DESC LIMIT $3"
        ))
        .bind(tenant.0)
        .bind(function.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| row.record(tenant, function))
            .collect()
    }

    /// One invocation record of a function (`None` when unknown or past raw retention).
    pub async fn invocation(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        id: InvocationId,
    ) -> Result<Option<InvocationRecord>> {
        let row: Option<InvocationRow> = sqlx::query_as(&format!(
            "{INVOCATION_COLUMNS} WHERE tenant_id = $1 AND function_name = $2 AND id = $3"
        ))
        .bind(tenant.0)
        .bind(function.as_str())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.record(tenant, function)).transpose()
    }

    /// Deletes raw invocation records that started before `before_ms` (their rollups stay).
    /// Invocation ids are UUIDv7, whose text sorts by start time, so the primary key finds
    /// them: an index on `started_at_ms` would cost every insert more (bench/RESULTS.md: 10 %
    /// of warm throughput).
    pub async fn prune_invocations(&self, before_ms: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM invocations WHERE id < $1")
            .bind(first_id_at(before_ms))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// The smallest UUIDv7 (as stored: lowercase, hyphenated) of millisecond `at_ms`: every id of
/// an invocation that started earlier sorts below it.
fn first_id_at(at_ms: i64) -> String {
    let ms = u64::try_from(at_ms.max(0)).unwrap_or(0) & ((1 << 48) - 1);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = 0x70; // version 7
    bytes[8] = 0x80; // RFC 4122 variant
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// One rollup row: a tenant's invocations of one function, trigger and outcome in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    pub function: FunctionName,
    pub trigger: TriggerKind,
    pub outcome: Outcome,
    pub hour_ms: i64,
    pub invocations: u64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub peak_memory_bytes: u64,
    pub gb_seconds: f64,
    pub allocated_gb_seconds: f64,
}

impl RollupRow {
    pub fn figures(&self) -> UsageFigures {
        UsageFigures {
            invocations: self.invocations,
            // A cancelled call (the client left) is not the function's failure.
            errors: if matches!(self.outcome, Outcome::Ok | Outcome::Cancelled) {
                0
            } else {
                self.invocations
            },
            wall_ns: self.wall_ns,
            cpu_ns: self.cpu_ns,
            peak_memory_bytes: self.peak_memory_bytes,
            gb_seconds: self.gb_seconds,
            outcomes: vec![(self.outcome, self.invocations)],
        }
    }
}

/// One row of the rollup by version: a tenant's invocations of one version of a function
/// with one outcome in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRollupRow {
    pub function: FunctionName,
    pub version: Version,
    pub outcome: Outcome,
    pub hour_ms: i64,
    pub invocations: u64,
    pub cpu_ns: u64,
    pub gb_seconds: f64,
}

/// One histogram cell: invocations of a function in an hour that fell into `bucket`
/// (see [`crate::latency`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRow {
    pub function: FunctionName,
    pub hour_ms: i64,
    pub bucket: u32,
    pub invocations: u64,
}

const UPSERT_USAGE_HOURLY: &str = "INSERT INTO usage_hourly (tenant_id, function_name, \
     trigger_kind, outcome, hour_ms, invocations, wall_ns, cpu_ns, peak_memory_bytes, gb_seconds, \
     allocated_gb_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (tenant_id, function_name, trigger_kind, outcome, hour_ms) DO UPDATE SET \
     invocations = usage_hourly.invocations + excluded.invocations, \
     wall_ns = usage_hourly.wall_ns + excluded.wall_ns, \
     cpu_ns = usage_hourly.cpu_ns + excluded.cpu_ns, \
     peak_memory_bytes = CASE WHEN excluded.peak_memory_bytes > usage_hourly.peak_memory_bytes \
     THEN excluded.peak_memory_bytes ELSE usage_hourly.peak_memory_bytes END, \
     gb_seconds = usage_hourly.gb_seconds + excluded.gb_seconds, \
     allocated_gb_seconds = usage_hourly.allocated_gb_seconds + excluded.allocated_gb_seconds";

const UPSERT_USAGE_HOURLY_VERSIONS: &str = "INSERT INTO usage_hourly_versions (tenant_id, \
     function_name, version, outcome, hour_ms, invocations, cpu_ns, gb_seconds) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (tenant_id, function_name, version, outcome, hour_ms) DO UPDATE SET \
     invocations = usage_hourly_versions.invocations + excluded.invocations, \
     cpu_ns = usage_hourly_versions.cpu_ns + excluded.cpu_ns, \
     gb_seconds = usage_hourly_versions.gb_seconds + excluded.gb_seconds";

const UPSERT_LATENCY_HOURLY: &str = "INSERT INTO latency_hourly (tenant_id, function_name, \
     hour_ms, bucket, invocations) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (tenant_id, function_name, hour_ms, bucket) DO UPDATE SET \
     invocations = latency_hourly.invocations + excluded.invocations";

/// A rollup row's key, as bound to SQL.
#[derive(PartialEq, Eq, Hash)]
struct RollupKey {
    tenant: i64,
    function: String,
    trigger: &'static str,
    outcome: &'static str,
    hour_ms: i64,
}

#[derive(Default)]
struct RollupSum {
    invocations: i64,
    wall_ns: i64,
    cpu_ns: i64,
    peak_memory_bytes: i64,
    gb_seconds: f64,
    allocated_gb_seconds: f64,
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A batch of records summed per rollup key.
fn rollup(records: &[InvocationRecord]) -> std::collections::HashMap<RollupKey, RollupSum> {
    let mut sums: std::collections::HashMap<RollupKey, RollupSum> = Default::default();
    for r in records {
        let sum = sums
            .entry(RollupKey {
                tenant: r.tenant.0,
                function: r.function.as_str().to_owned(),
                trigger: r.trigger.as_str(),
                outcome: r.outcome.as_str(),
                hour_ms: r.hour_ms(),
            })
            .or_default();
        sum.invocations += 1;
        sum.wall_ns = sum.wall_ns.saturating_add(clamp_i64(r.wall_ns));
        sum.cpu_ns = sum.cpu_ns.saturating_add(clamp_i64(r.cpu_ns));
        sum.peak_memory_bytes = sum.peak_memory_bytes.max(clamp_i64(r.peak_memory_bytes));
        sum.gb_seconds += r.gb_seconds();
        sum.allocated_gb_seconds += r.allocated_gb_seconds();
    }
    sums
}

/// A batch of records summed per (tenant, function, version, outcome, hour).
fn version_rollup(
    records: &[InvocationRecord],
) -> std::collections::HashMap<(i64, String, i64, &'static str, i64), RollupSum> {
    let mut sums: std::collections::HashMap<_, RollupSum> = Default::default();
    for r in records {
        let sum = sums
            .entry((
                r.tenant.0,
                r.function.as_str().to_owned(),
                r.version.0,
                r.outcome.as_str(),
                r.hour_ms(),
            ))
            .or_default();
        sum.invocations += 1;
        sum.cpu_ns = sum.cpu_ns.saturating_add(clamp_i64(r.cpu_ns));
        sum.gb_seconds += r.gb_seconds();
    }
    sums
}

/// A batch of records counted per (tenant, function, hour, latency bucket).
fn latency_rollup(
    records: &[InvocationRecord],
) -> std::collections::HashMap<(i64, String, i64, u32), i64> {
    let mut counts: std::collections::HashMap<(i64, String, i64, u32), i64> = Default::default();
    for r in records {
        *counts
            .entry((
                r.tenant.0,
                r.function.as_str().to_owned(),
                r.hour_ms(),
                crate::latency::bucket_of(r.wall_ns),
            ))
            .or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InvocationId;

    #[test]
    fn ids_sort_by_start_time_around_the_prune_cutoff() {
        let id = InvocationId::new();
        let at = i64::try_from(id.0.get_timestamp().unwrap().to_unix().0).unwrap() * 1000
            + i64::from(id.0.get_timestamp().unwrap().to_unix().1 / 1_000_000);
        let own = id.to_string();
        assert!(first_id_at(at) <= own, "{} > {own}", first_id_at(at));
        assert!(
            first_id_at(at + 1) > own,
            "{} <= {own}",
            first_id_at(at + 1)
        );
        assert!(first_id_at(at - 1) < own);
    }

    #[test]
    fn multi_row_insert_binds_texts_once_and_writes_numbers_inline() {
        let record = |n: u64| InvocationRecord {
            id: geyser_core::InvocationId::new(),
            tenant: TenantId(7),
            function: FunctionName::parse("f").unwrap(),
            version: Version(3),
            trigger: geyser_core::TriggerKind::Http,
            started_at_ms: 1_700_000_000_000,
            wall_ns: n,
            cpu_ns: u64::MAX,
            peak_memory_bytes: 1 << 20,
            memory_limit_bytes: 64 << 20,
            outcome: geyser_core::Outcome::Ok,
            traceparent: None,
            outbound_requests: 2,
            outbound_bytes: 10,
            outbound_wait_ns: 5,
            http_status: Some(201),
        };
        let sql = insert_invocations_sql(&[record(1_000_000_000), record(2)]);
        assert!(sql.contains(&format!(
            "($1, 7, $2, 3, $3, 1700000000000, 1000000000, {}, 1048576, 9.765625e-4, $4, 67108864, $5, 2, 10, 5, 201), \
             ($6, 7, $7, 3, $8, 1700000000000, 2, {}, 1048576, ",
            i64::MAX,
            i64::MAX
        )), "{sql}");
        assert!(
            sql.ends_with(
                ", $9, 67108864, $10, 2, 10, 5, 201) ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            "{sql}"
        );
        let full: Vec<InvocationRecord> = (0..ROWS_PER_INSERT as u64).map(record).collect();
        let full = insert_invocations_sql(&full);
        let last = ROWS_PER_INSERT * BOUND_PER_RECORD;
        assert!(full.contains(&format!("${last},")));
        assert!(!full.contains(&format!("${}", last + 1)));
    }
}
