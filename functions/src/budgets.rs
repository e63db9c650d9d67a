//! Monthly budgets: what a tenant is willing to spend, and what happens when it is reached.

use crate::{Result, Store, TenantId, now_ms};

geyser_core::text_enum! {
    /// What happens to new invocations once the month's cost reaches the budget.
    pub enum BudgetPolicy ("budget policy") {
        /// Refused (HTTP 402) until the budget is raised or the month ends.
        Refuse = "refuse",
        /// Still run; the statement and `/metrics` show the overrun.
        Warn = "warn",
    }
}

/// A tenant's monthly budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub monthly_usd: f64,
    pub policy: BudgetPolicy,
}

#[derive(sqlx::FromRow)]
struct BudgetRow {
    tenant_id: i64,
    monthly_usd: f64,
    policy: String,
}

impl BudgetRow {
    fn budget(&self) -> Result<Budget> {
        Ok(Budget {
            monthly_usd: self.monthly_usd,
            policy: self.policy.parse()?,
        })
    }
}

impl Store {
    pub async fn budget(&self, tenant: TenantId) -> Result<Option<Budget>> {
        let row: Option<BudgetRow> = sqlx::query_as(
            "SELECT tenant_id, monthly_usd, policy FROM budgets WHERE tenant_id = $1",
        )
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.budget()).transpose()
    }

    /// Every budget, for the admin's view and `/metrics`.
    pub async fn budgets(&self) -> Result<Vec<(TenantId, Budget)>> {
        let rows: Vec<BudgetRow> =
            sqlx::query_as("SELECT tenant_id, monthly_usd, policy FROM budgets ORDER BY tenant_id")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|row| Ok((TenantId(row.tenant_id), row.budget()?)))
            .collect()
    }

    pub async fn set_budget(&self, tenant: TenantId, budget: Budget) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO budgets (tenant_id, monthly_usd, policy, updated_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
             monthly_usd = excluded.monthly_usd, policy = excluded.policy, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.0)
        .bind(budget.monthly_usd)
        .bind(budget.policy.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Removes the budget; `false` if there was none.
    pub async fn delete_budget(&self, tenant: TenantId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM budgets WHERE tenant_id = $1")
            .bind(tenant.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}
