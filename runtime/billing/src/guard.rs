//! Budget enforcement on the invocation path: each node keeps every tenant's month-to-date cost
//! and budget for `budget_refresh_ms`, refreshed by one caller while the others use the last
//! figure, so admitting an invocation costs a map lookup.

use super::month::Month;
use super::prices::{PriceTable, Quantities};
use super::statement::{BudgetState, BudgetStatus};
use geyser_core::prom::{self, Kind, Scope};
use geyser_core::{Generation, Lookup, TtlCache};
use geyser_functions::{Budget, BudgetPolicy, Store, Tenant, TenantId, now_ms};
use std::sync::Arc;
use std::time::Duration;

/// Why an invocation was refused: the tenant's budget is spent and its policy is `refuse`.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRefusal {
    pub tenant: String,
    pub status: BudgetStatus,
}

impl std::fmt::Display for BudgetRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tenant {} has spent ${:.4} of its ${:.2} monthly budget; new invocations are refused \
             until the budget is raised (PUT /v1/billing/budget) or the month ends",
            self.tenant, self.status.spent_usd, self.status.budget.monthly_usd
        )
    }
}

/// What a node knows of a tenant's budget.
#[derive(Debug, Clone)]
struct Known {
    tenant: String,
    budget: Option<Budget>,
    spent_usd: f64,
}

impl Known {
    fn status(&self) -> Option<BudgetStatus> {
        self.budget.map(|b| BudgetStatus::new(b, self.spent_usd))
    }
}

/// Tenants a node keeps budgets for before it forgets the least recently useful.
const CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct BudgetGuard {
    store: Store,
    prices: PriceTable,
    /// Generation-checked: a refresh that began before a budget change (`forget`) cannot put
    /// back what it read.
    known: TtlCache<TenantId, Known>,
}

/// A tenant's cost so far this month (after the free tier), from the hourly rollups.
pub async fn month_to_date_usd(
    store: &Store,
    prices: &PriceTable,
    tenant: TenantId,
) -> geyser_functions::Result<f64> {
    let month = Month::containing(now_ms());
    let rows = store
        .rollup_rows(tenant, month.start_ms(), month.end_ms())
        .await?;
    let mut total = Quantities::default();
    for row in &rows {
        total.add(&Quantities::of(row));
    }
    Ok(prices.month_cost(&total))
}

impl BudgetGuard {
    pub fn new(store: Store, prices: PriceTable, refresh: Duration) -> BudgetGuard {
        BudgetGuard {
            store,
            prices,
            known: TtlCache::new(refresh, CAPACITY),
        }
    }

    /// Ok unless the tenant's budget is spent and its policy refuses. A database error lets
    /// the invocation run (logged): billing trouble does not take functions down.
    pub async fn admit(self: &Arc<Self>, tenant: &Tenant) -> Result<(), BudgetRefusal> {
        // One refresh per tenant at a time, on a task of its own: it finishes even if the
        // caller goes away. Only the caller that found nothing known waits for it; everyone
        // else uses the last figure (none yet: admitted), so a burst on a tenant this node has
        // not seen does not send one query per request.
        let status = match self.known.lookup(&tenant.id) {
            Lookup::Use(known) => known.status(),
            Lookup::Pending => None,
            Lookup::Refresh {
                last: Some(known),
                seen,
            } => {
                self.spawn_refresh(tenant, seen);
                known.status()
            }
            Lookup::Refresh { last: None, seen } => {
                self.spawn_refresh(tenant, seen).await.ok().flatten()
            }
        };
        match status {
            Some(status)
                if status.state == BudgetState::Exceeded
                    && status.budget.policy == BudgetPolicy::Refuse =>
            {
                Err(BudgetRefusal {
                    tenant: tenant.name.to_string(),
                    status,
                })
            }
            _ => Ok(()),
        }
    }

    fn spawn_refresh(
        self: &Arc<Self>,
        tenant: &Tenant,
        seen: Generation,
    ) -> tokio::task::JoinHandle<Option<BudgetStatus>> {
        let guard = self.clone();
        let tenant = tenant.clone();
        tokio::spawn(async move { guard.refresh(&tenant, seen).await })
    }

    async fn refresh(&self, tenant: &Tenant, seen: Generation) -> Option<BudgetStatus> {
        let read = async {
            let budget = self.store.budget(tenant.id).await?;
            let spent_usd = match budget {
                Some(_) => month_to_date_usd(&self.store, &self.prices, tenant.id).await?,
                None => 0.0,
            };
            Ok::<_, geyser_functions::Error>((budget, spent_usd))
        };
        let (budget, spent_usd) = match read.await {
            Ok(figures) => figures,
            Err(err) => {
                tracing::error!(tenant = %tenant.name, error = %err, "reading the budget failed; admitting");
                (None, 0.0)
            }
        };
        let known = Known {
            tenant: tenant.name.to_string(),
            budget,
            spent_usd,
        };
        let status = known.status();
        // Dropped if a budget changed meanwhile (maybe another tenant's): read again next time.
        self.known.insert(tenant.id, known, seen);
        status
    }

    /// Forgets what this node knows of a tenant (its budget changed here).
    pub fn forget(&self, tenant: TenantId) {
        self.known.invalidate(&tenant);
    }

    /// Forgets every tenant's budget (changes may have been missed).
    pub fn forget_all(&self) {
        self.known.invalidate_where(|_| true);
    }
}

impl geyser_core::MetricFamilies for BudgetGuard {
    /// Budget gauges of the tenants this node has admitted invocations of.
    fn render(&self, out: &mut String, scope: Scope<'_>) {
        let mut rows: Vec<(String, BudgetStatus)> = self
            .known
            .values()
            .into_iter()
            .filter(|k| scope.shows(&k.tenant))
            .filter_map(|k| {
                k.status()
                    .map(|s| (format!("tenant=\"{}\"", prom::escape(&k.tenant)), s))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        const USED: &str = "geyser_budget_used_ratio";
        prom::header(
            out,
            USED,
            "Month-to-date cost over the monthly budget.",
            Kind::Gauge,
        );
        for (tenant, s) in &rows {
            prom::sample(out, USED, tenant, s.used_ratio);
        }
        const WARNING: &str = "geyser_budget_warning";
        prom::header(
            out,
            WARNING,
            "1 when at least 80 % of the monthly budget is spent.",
            Kind::Gauge,
        );
        for (tenant, s) in &rows {
            prom::sample(
                out,
                WARNING,
                tenant,
                f64::from(u8::from(s.state != BudgetState::Ok)),
            );
        }
    }
}
