//! Per-tenant quota overrides set by the admin ([`QuotaOverrides`], declared with the quotas
//! themselves in geyser-core). A field left `None` means "the node's configured default".

use crate::{QuotaOverrides, Result, Store, TenantId, now_ms};

/// The `tenant_quotas` table's row: NULL is "the node's default".
#[derive(sqlx::FromRow)]
struct OverridesRow {
    tenant_id: i64,
    max_functions: Option<i64>,
    max_artifact_bytes: Option<i64>,
    max_memory_mb: Option<i64>,
    max_concurrency: Option<i64>,
    max_function_concurrency: Option<i64>,
    rate_per_second: Option<f64>,
    rate_burst: Option<i64>,
    max_kv_keys: Option<i64>,
    max_async_queued: Option<i64>,
    node_memory_percent: Option<i64>,
    max_cpu_limit_ms: Option<i64>,
    max_log_bytes: Option<i64>,
}

const COLUMNS: &str = "tenant_id, max_functions, max_artifact_bytes, max_memory_mb, \
     max_concurrency, max_function_concurrency, rate_per_second, rate_burst, max_kv_keys, max_async_queued, \
     node_memory_percent, max_cpu_limit_ms, max_log_bytes";

fn count(value: Option<i64>) -> Option<u64> {
    value.map(|v| u64::try_from(v).unwrap_or(0))
}

fn stored(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl OverridesRow {
    fn overrides(&self) -> (TenantId, QuotaOverrides) {
        (
            TenantId(self.tenant_id),
            QuotaOverrides {
                max_functions: count(self.max_functions),
                max_artifact_bytes: count(self.max_artifact_bytes),
                max_memory_mb: count(self.max_memory_mb),
                max_concurrency: count(self.max_concurrency),
                max_function_concurrency: count(self.max_function_concurrency),
                rate_per_second: self.rate_per_second,
                rate_burst: count(self.rate_burst),
                max_kv_keys: count(self.max_kv_keys),
                max_async_queued: count(self.max_async_queued),
                node_memory_percent: count(self.node_memory_percent),
                max_cpu_limit_ms: count(self.max_cpu_limit_ms),
                max_log_bytes: count(self.max_log_bytes),
            },
        )
    }
}

impl Store {
    /// Every tenant's overrides (one small table; each node keeps a copy in memory).
    pub async fn all_quota_overrides(&self) -> Result<Vec<(TenantId, QuotaOverrides)>> {
        let rows: Vec<OverridesRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenant_quotas"))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(OverridesRow::overrides).collect())
    }

    pub async fn quota_overrides(&self, tenant: TenantId) -> Result<QuotaOverrides> {
        let row: Option<OverridesRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM tenant_quotas WHERE tenant_id = $1"
        ))
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.overrides().1).unwrap_or_default())
    }

    /// Replaces `tenant`'s overrides (fields left `None` go back to the defaults).
    pub async fn set_quota_overrides(
        &self,
        tenant: TenantId,
        overrides: &QuotaOverrides,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tenant_quotas (tenant_id, max_functions, max_artifact_bytes, \
             max_memory_mb, max_concurrency, max_function_concurrency, rate_per_second, \
             rate_burst, max_kv_keys, max_async_queued, node_memory_percent, max_cpu_limit_ms, \
             max_log_bytes, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id) DO UPDATE SET max_functions = excluded.max_functions, \
             max_artifact_bytes = excluded.max_artifact_bytes, \
             max_memory_mb = excluded.max_memory_mb, max_concurrency = excluded.max_concurrency, \
             max_function_concurrency = excluded.max_function_concurrency, \
             rate_per_second = excluded.rate_per_second, rate_burst = excluded.rate_burst, \
             max_kv_keys = excluded.max_kv_keys, max_async_queued = excluded.max_async_queued, \
             node_memory_percent = excluded.node_memory_percent, \
             max_cpu_limit_ms = excluded.max_cpu_limit_ms, max_log_bytes = excluded.max_log_bytes, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.0)
        .bind(stored(overrides.max_functions))
        .bind(stored(overrides.max_artifact_bytes))
        .bind(stored(overrides.max_memory_mb))
        .bind(stored(overrides.max_concurrency))
        .bind(stored(overrides.max_function_concurrency))
        .bind(overrides.rate_per_second)
        .bind(stored(overrides.rate_burst))
        .bind(stored(overrides.max_kv_keys))
        .bind(stored(overrides.max_async_queued))
        .bind(stored(overrides.node_memory_percent))
        .bind(stored(overrides.max_cpu_limit_ms))
        .bind(stored(overrides.max_log_bytes))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// How many functions `tenant` has (for the `max_functions` quota).
    pub async fn count_functions(&self, tenant: TenantId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) AS n FROM functions WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
