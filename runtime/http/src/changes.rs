//! What a change made through this node does to the node's caches, and how the other nodes
//! hear of it: [`ChangeTargets::changed`] applies it here and announces it (PostgreSQL
//! `NOTIFY`); each node's listener (`geyser-runtime`) applies what others announce with
//! [`ChangeTargets::apply`].

use geyser_billing::BudgetGuard;
use geyser_core::EventBusControl;
use geyser_functions::{Change, RouteCache, Store};
use geyser_quotas::QuotaGuard;
use std::sync::Arc;

/// The caches a change makes stale.
#[derive(Clone)]
pub struct ChangeTargets {
    pub store: Store,
    pub routes: Arc<RouteCache>,
    pub quotas: Arc<QuotaGuard>,
    pub budgets: Arc<BudgetGuard>,
    pub bus: Option<Arc<dyn EventBusControl>>,
}

impl ChangeTargets {
    /// Makes this node see `change`.
    pub fn apply(&self, change: &Change) {
        match change {
            Change::Function { tenant, function } => self.routes.invalidate(tenant, function),
            Change::Tenant { tenant } => self.routes.invalidate_tenant(tenant),
            Change::Quotas => self.refresh_quotas(),
            Change::Budget { tenant } => self.budgets.forget(*tenant),
            Change::KafkaBindings => {
                if let Some(bus) = &self.bus {
                    bus.bindings_changed();
                }
            }
        }
    }

    /// Anything may have changed (a listener lost its connection for a while).
    pub fn apply_all(&self) {
        self.routes.invalidate_all();
        self.refresh_quotas();
        self.budgets.forget_all();
        if let Some(bus) = &self.bus {
            bus.bindings_changed();
        }
    }

    fn refresh_quotas(&self) {
        let (store, quotas) = (self.store.clone(), self.quotas.clone());
        tokio::spawn(async move {
            if let Err(err) = quotas.refresh(&store).await {
                tracing::warn!(error = %err, "reading quota overrides failed");
            }
        });
    }

    /// A change committed through this node: applied here at once, then announced to the
    /// others (a failed announcement is logged; they catch up by polling).
    pub async fn changed(&self, change: Change) {
        self.apply(&change);
        if let Err(err) = self.store.announce(&change).await {
            tracing::warn!(error = %err, change = %change.payload(), "announcing a change failed");
        }
    }
}
