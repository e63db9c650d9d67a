//! The node's admission policy, registered with the engine as its [`Admission`] hook: a
//! disabled tenant is refused, then a spent `refuse` budget, then the tenant's quotas (HTTP
//! rate, tenant and function slots). Each refusal becomes one typed [`Refusal`].

use geyser_billing::BudgetGuard;
use geyser_core::{ActiveFunction, TriggerKind};
use geyser_engine::{Admission, AdmissionPermit, Refusal, RefusalReason};
use geyser_quotas::{QuotaGuard, QuotaRefusal};
use geyser_telemetry::Metrics;
use std::sync::Arc;
use std::time::Duration;

pub struct NodeAdmission {
    pub budgets: Arc<BudgetGuard>,
    pub quotas: Arc<QuotaGuard>,
    /// Counts budget refusals (`geyser_budget_refusals_total`).
    pub metrics: Arc<Metrics>,
}

fn quota_refusal(refusal: QuotaRefusal) -> Refusal {
    let reason = match refusal {
        QuotaRefusal::RateLimited { .. } => RefusalReason::RateLimited,
        QuotaRefusal::Concurrency { .. } | QuotaRefusal::QueueFull { .. } => {
            RefusalReason::ConcurrencyLimited
        }
    };
    Refusal::new(reason, refusal.to_string())
        .retry_after(Duration::from_secs(refusal.retry_after_s()))
}

#[async_trait::async_trait]
impl Admission for NodeAdmission {
    async fn admit(
        &self,
        function: &ActiveFunction,
        trigger: TriggerKind,
    ) -> Result<AdmissionPermit, Refusal> {
        let tenant = &function.tenant;
        if tenant.disabled {
            return Err(Refusal::new(
                RefusalReason::TenantDisabled,
                format!(
                    "tenant {} is disabled; ask the operator to enable it",
                    tenant.name
                ),
            ));
        }
        if let Err(refusal) = self.budgets.admit(tenant).await {
            self.metrics.budget_refused();
            return Err(Refusal::new(
                RefusalReason::BudgetExceeded,
                refusal.to_string(),
            ));
        }
        let permit = self
            .quotas
            .admit(tenant, function.function, trigger == TriggerKind::Http)
            .await
            .map_err(quota_refusal)?;
        Ok(AdmissionPermit {
            hold: Box::new(permit),
            node_memory_percent: self.quotas.quotas(tenant.id).node_memory_percent,
        })
    }
}
