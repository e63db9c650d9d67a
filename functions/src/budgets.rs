//! Monthly budgets: what a tenant is willing to spend, and what happens when it is reached.

use crate::{Error, Result, Store, TenantId, now_ms};
use sqlx::Row;
use std::str::FromStr;

/// What happens to new invocations once the month's cost reaches the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPolicy {
    /// Refused (HTTP 402) until the budget is raised or the month ends.
    Refuse,
    /// Still run; the statement and `/metrics` show the overrun.
    Warn,
}

impl BudgetPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPolicy::Refuse => "refuse",
            BudgetPolicy::Warn => "warn",
        }
    }
}

impl FromStr for BudgetPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "refuse" => Ok(BudgetPolicy::Refuse),
            "warn" => Ok(BudgetPolicy::Warn),
            other => Err(Error::Corrupt(format!("unknown budget policy {other:?}"))),
        }
    }
}

/// A tenant's monthly budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub monthly_usd: f64,
    pub policy: BudgetPolicy,
}

impl Store {
    pub async fn budget(&self, tenant: TenantId) -> Result<Option<Budget>> {
        let row = sqlx::query("SELECT monthly_usd, policy FROM budgets WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let policy: String = row.try_get("policy")?;
            Ok(Budget {
                monthly_usd: row.try_get("monthly_usd")?,
                policy: BudgetPolicy::from_str(&policy)?,
            })
        })
        .transpose()
    }

    /// Every budget, for the admin's view and `/metrics`.
    pub async fn budgets(&self) -> Result<Vec<(TenantId, Budget)>> {
        let rows =
            sqlx::query("SELECT tenant_id, monthly_usd, policy FROM budgets ORDER BY tenant_id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let policy: String = row.try_get("policy")?;
                Ok((
                    TenantId(row.try_get("tenant_id")?),
                    Budget {
                        monthly_usd: row.try_get("monthly_usd")?,
                        policy: BudgetPolicy::from_str(&policy)?,
                    },
                ))
            })
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
