//! Log lines captured from invocations (the guest's stdout, stderr and logging calls), kept per
//! function so its tenant can read them.

use crate::{Error, FunctionName, InvocationId, LogLine, Result, Store, TenantId};

#[derive(sqlx::FromRow)]
struct LogRow {
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
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT invocation_id, at_ms, level, message FROM function_logs \
             WHERE tenant_id = $1 AND function_name = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant.0)
        .bind(function.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut lines = rows
            .into_iter()
            .map(|row| {
                let invocation = uuid::Uuid::parse_str(&row.invocation_id)
                    .map(InvocationId)
                    .map_err(|e| Error::Corrupt(e.to_string()))?;
                Ok(LogLine {
                    tenant,
                    function: function.clone(),
                    invocation,
                    at_ms: row.at_ms,
                    level: row.level,
                    message: row.message,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        lines.reverse();
        Ok(lines)
    }
}
