//! Invocation records (one per invocation, written in batches by the host's metering writer)
//! and the per-function usage computed from them.

use crate::{Error, FunctionName, InvocationId, Result, Store, TenantId, Version};
use sqlx::Row;
use std::fmt;
use std::str::FromStr;

/// How an invocation ended. `Ok` means the guest produced a result, whatever HTTP status it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Error,
    Timeout,
    MemoryLimit,
    Trap,
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::MemoryLimit,
        Outcome::Trap,
        Outcome::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::Trap => "trap",
            Outcome::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| Error::Corrupt(format!("unknown outcome {s:?}")))
    }
}

/// What started an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    Http,
    Kafka,
    Cron,
    Manual,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Http => "http",
            TriggerKind::Kafka => "kafka",
            TriggerKind::Cron => "cron",
            TriggerKind::Manual => "manual",
        }
    }
}

/// One metered invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRecord {
    pub id: InvocationId,
    pub tenant: TenantId,
    pub function: FunctionName,
    pub version: Version,
    pub trigger: TriggerKind,
    pub started_at_ms: i64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub peak_memory_bytes: u64,
    pub outcome: Outcome,
}

impl InvocationRecord {
    /// Peak memory in GiB × wall seconds: what the tenant is billed for memory.
    pub fn gb_seconds(&self) -> f64 {
        (self.peak_memory_bytes as f64 / (1u64 << 30) as f64) * (self.wall_ns as f64 / 1e9)
    }
}

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

/// Records per `INSERT` statement (11 parameters each). Not more: sqlx's SQLite driver looks up
/// parameter names per bound value, a cost that grows with the square of a statement's
/// parameters (64 rows spent more in that lookup than 16 rows spend in round trips).
const ROWS_PER_INSERT: usize = 16;
const INVOCATION_COLUMNS: usize = 11;

/// `INSERT INTO invocations ... VALUES (...), (...)` for `rows` records, `$n` placeholders.
fn insert_invocations_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO invocations (id, tenant_id, function_name, version, trigger_kind, \
         started_at_ms, wall_ns, cpu_ns, peak_memory_bytes, gb_seconds, outcome) VALUES ",
    );
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..INVOCATION_COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * INVOCATION_COLUMNS + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    sql
}

fn as_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
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
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let sql = insert_invocations_sql(chunk.len());
            let mut query = sqlx::query(&sql);
            for r in chunk {
                query = query
                    .bind(r.id.to_string())
                    .bind(r.tenant.0)
                    .bind(r.function.as_str())
                    .bind(r.version.0)
                    .bind(r.trigger.as_str())
                    .bind(r.started_at_ms)
                    .bind(i64::try_from(r.wall_ns).unwrap_or(i64::MAX))
                    .bind(i64::try_from(r.cpu_ns).unwrap_or(i64::MAX))
                    .bind(i64::try_from(r.peak_memory_bytes).unwrap_or(i64::MAX))
                    .bind(r.gb_seconds())
                    .bind(r.outcome.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Usage of every function the tenant has invocation records for (deleted ones included).
    pub async fn usage(&self, tenant: TenantId) -> Result<UsageReport> {
        let rows = sqlx::query(
            "SELECT function_name, outcome, CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(SUM(wall_ns) AS BIGINT) AS wall_ns, CAST(SUM(cpu_ns) AS BIGINT) AS cpu_ns, \
             CAST(MAX(peak_memory_bytes) AS BIGINT) AS peak, SUM(gb_seconds) AS gb_seconds \
             FROM invocations WHERE tenant_id = $1 \
             GROUP BY function_name, outcome ORDER BY function_name, outcome",
        )
        .bind(tenant.0)
        .fetch_all(&self.pool)
        .await?;
        let mut functions: Vec<FunctionUsage> = Vec::new();
        for row in &rows {
            let name: String = row.try_get("function_name")?;
            let name = FunctionName::parse(&name).map_err(|e| Error::Corrupt(e.to_string()))?;
            let outcome: String = row.try_get("outcome")?;
            let outcome = Outcome::from_str(&outcome)?;
            let n = as_u64(row.try_get("n")?);
            if functions.last().is_none_or(|f| f.function != name) {
                functions.push(FunctionUsage {
                    function: name,
                    figures: UsageFigures::default(),
                });
            }
            let wall_ns = as_u64(row.try_get("wall_ns")?);
            let cpu_ns = as_u64(row.try_get("cpu_ns")?);
            let peak_memory_bytes = as_u64(row.try_get("peak")?);
            let gb_seconds: f64 = row.try_get("gb_seconds")?;
            let f = functions.last_mut().expect("pushed above");
            f.figures.add(&UsageFigures {
                invocations: n,
                errors: if outcome == Outcome::Ok { 0 } else { n },
                wall_ns,
                cpu_ns,
                peak_memory_bytes,
                gb_seconds,
                outcomes: vec![(outcome, n)],
            });
        }
        Ok(UsageReport { functions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_insert_numbers_every_parameter_once() {
        let sql = insert_invocations_sql(2);
        assert!(sql.ends_with(
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11), \
             ($12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) ON CONFLICT (id) DO NOTHING"
        ));
        let full = insert_invocations_sql(ROWS_PER_INSERT);
        let last = ROWS_PER_INSERT * INVOCATION_COLUMNS;
        assert!(full.contains(&format!("${last})")));
        assert!(!full.contains(&format!("${}", last + 1)));
    }
}
