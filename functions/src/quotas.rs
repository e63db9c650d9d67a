//! Per-tenant quota overrides set by the admin. A field left `None` means "the node's
//! configured default"; the defaults themselves live in the runtime's config.

use crate::{Result, Store, TenantId, now_ms};
use sqlx::Row;

/// What the admin changed for one tenant. Every field is optional.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QuotaOverrides {
    pub max_functions: Option<u64>,
    pub max_artifact_bytes: Option<u64>,
    pub max_memory_mb: Option<u64>,
    pub max_concurrency: Option<u64>,
    pub max_function_concurrency: Option<u64>,
    pub rate_per_second: Option<f64>,
    pub rate_burst: Option<u64>,
    pub max_kv_keys: Option<u64>,
}

const COLUMNS: &str = "tenant_id, max_functions, max_artifact_bytes, max_memory_mb, \
     max_concurrency, max_function_concurrency, rate_per_second, rate_burst, max_kv_keys";

fn count(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<u64>> {
    let value: Option<i64> = row.try_get(column)?;
    Ok(value.map(|v| u64::try_from(v).unwrap_or(0)))
}

fn stored(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn overrides_from_row(row: &sqlx::any::AnyRow) -> Result<(TenantId, QuotaOverrides)> {
    Ok((
        TenantId(row.try_get("tenant_id")?),
        QuotaOverrides {
            max_functions: count(row, "max_functions")?,
            max_artifact_bytes: count(row, "max_artifact_bytes")?,
            max_memory_mb: count(row, "max_memory_mb")?,
            max_concurrency: count(row, "max_concurrency")?,
            max_function_concurrency: count(row, "max_function_concurrency")?,
            rate_per_second: row.try_get("rate_per_second")?,
            rate_burst: count(row, "rate_burst")?,
            max_kv_keys: count(row, "max_kv_keys")?,
        },
    ))
}

impl Store {
    /// Every tenant's overrides (one small table; each node keeps a copy in memory).
    pub async fn all_quota_overrides(&self) -> Result<Vec<(TenantId, QuotaOverrides)>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tenant_quotas"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(overrides_from_row).collect()
    }

    pub async fn quota_overrides(&self, tenant: TenantId) -> Result<QuotaOverrides> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tenant_quotas WHERE tenant_id = $1"
        ))
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => overrides_from_row(&row)?.1,
            None => QuotaOverrides::default(),
        })
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
             rate_burst, max_kv_keys, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (tenant_id) DO UPDATE SET max_functions = excluded.max_functions, \
             max_artifact_bytes = excluded.max_artifact_bytes, \
             max_memory_mb = excluded.max_memory_mb, max_concurrency = excluded.max_concurrency, \
             max_function_concurrency = excluded.max_function_concurrency, \
             rate_per_second = excluded.rate_per_second, rate_burst = excluded.rate_burst, \
             max_kv_keys = excluded.max_kv_keys, updated_at_ms = excluded.updated_at_ms",
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
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// How many functions `tenant` has (for the `max_functions` quota).
    pub async fn count_functions(&self, tenant: TenantId) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM functions WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
