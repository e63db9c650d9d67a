//! Log lines captured from invocations (the guest's stdout, stderr and logging calls), kept per
//! function so its tenant can read them.

use crate::{Error, FunctionName, InvocationId, LogLine, Outcome, Result, Store, TenantId};

/// Which of a function's log lines to read: the latest `limit`, or the first `limit` after a
/// cursor (a line's id, as a live tail reads them), of one invocation or of the invocations that
/// ended with one outcome.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub invocation: Option<InvocationId>,
    pub outcome: Option<Outcome>,
    pub after: Option<i64>,
    pub limit: u32,
}

/// A stored log line with its cursor (ids grow in the order lines were written).
#[derive(Debug, Clone)]
pub struct StoredLogLine {
    pub id: i64,
    pub line: LogLine,
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    invocation_id: String,
    at_ms: i64,
    level: String,
    message: String,
}

impl Store {
    /// Deletes log lines written before `before_ms` (past their retention). Returns how many.
    pub async fn prune_logs(&self, before_ms: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM function_logs WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Tenants that have log lines, with the characters those lines hold.
    pub async fn log_sizes(&self) -> Result<Vec<(TenantId, u64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT tenant_id, CAST(COALESCE(SUM(LENGTH(message)), 0) AS BIGINT) AS size \
             FROM function_logs GROUP BY tenant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, size)| (TenantId(tenant), u64::try_from(size).unwrap_or(0)))
            .collect())
    }

    /// Drops `tenant`'s oldest log lines until at least `excess` characters are gone. Returns
    /// how many lines were dropped.
    pub async fn drop_oldest_logs(&self, tenant: TenantId, excess: u64) -> Result<u64> {
        let mut dropped = 0;
        let mut freed = 0u64;
        while freed < excess {
            let oldest: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, CAST(LENGTH(message) AS BIGINT) AS size FROM function_logs \
                 WHERE tenant_id = $1 ORDER BY id LIMIT 1000",
            )
            .bind(tenant.0)
            .fetch_all(&self.pool)
            .await?;
            let Some(&(first, _)) = oldest.first() else {
                break;
            };
            let mut last = first;
            for (id, size) in oldest {
                last = id;
                freed = freed.saturating_add(u64::try_from(size).unwrap_or(0));
                if freed >= excess {
                    break;
                }
            }
            let mut tx = self.begin_write().await?;
            let done = sqlx::query("DELETE FROM function_logs WHERE tenant_id = $1 AND id <= $2")
                .bind(tenant.0)
                .bind(last)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            dropped += done.rows_affected();
        }
        Ok(dropped)
    }

    pub async fn insert_logs(&self, lines: &[LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for line in lines {
            sqlx::query(
                "INSERT INTO function_logs (tenant_id, function_name, invocation_id, at_ms, level, message) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(line.tenant.0)
            .bind(line.function.as_str())
            .bind(line.invocation.to_string())
            .bind(line.at_ms)
            .bind(line.level.as_str())
            .bind(line.message.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The last `limit` lines of a function, oldest first.
    pub async fn recent_logs(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        limit: u32,
    ) -> Result<Vec<LogLine>> {
        let query = LogQuery {
            limit,
            ..LogQuery::default()
        };
        let lines = self.query_logs(tenant, function, &query).await?;
        Ok(lines.into_iter().map(|l| l.line).collect())
    }

    /// A function's log lines as `query` selects them, oldest first.
    pub async fn query_logs(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        query: &LogQuery,
    ) -> Result<Vec<StoredLogLine>> {
        // Absent filters bind NULL, so one statement serves every combination; a cursor reads
        // forward, no cursor reads the newest lines (both along the function's index).
        let order = if query.after.is_some() {
            "id"
        } else {
            "id DESC"
        };
        let sql = format!(
            "SELECT id, invocation_id, at_ms, level, message FROM function_logs \
             WHERE tenant_id = $1 AND function_name = $2 \
             AND ($3 IS NULL OR invocation_id = $3) \
             AND ($4 IS NULL OR invocation_id IN (SELECT i.id FROM invocations i \
                  WHERE i.tenant_id = $1 AND i.function_name = $2 AND i.outcome = $4)) \
             AND id > $5 ORDER BY {order} LIMIT $6"
        );
        let rows: Vec<LogRow> = sqlx::query_as(&sql)
            .bind(tenant.0)
            .bind(function.as_str())
            .bind(query.invocation.map(|i| i.to_string()))
            .bind(query.outcome.map(|o| o.as_str()))
            .bind(query.after.unwrap_or(-1))
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await?;
        let mut lines = rows
            .into_iter()
            .map(|row| {
                let invocation = uuid::Uuid::parse_str(&row.invocation_id)
                    .map(InvocationId)
                    .map_err(|e| Error::Corrupt(e.to_string()))?;
                Ok(StoredLogLine {
                    id: row.id,
                    line: LogLine {
                        tenant,
                        function: function.clone(),
                        invocation,
                        at_ms: row.at_ms,
                        level: row.level,
                        message: row.message,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if query.after.is_none() {
            lines.reverse();
        }
        Ok(lines)
    }
}
