//! The queue's figures for `/metrics`: invocations accepted and ended by status on this node,
//! retries, reports, and every tenant's queue depth and oldest waiting age (read from the
//! database by the workers at most once a second, so every node shows the cluster's queue).

use geyser_core::prom::{self, Kind, Scope};
use geyser_core::{QueuedStatus, TenantName};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct QueueStats {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused_full: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) reports: AtomicU64,
    pub(crate) running: AtomicU64,
    /// tenant → (depth, oldest age in seconds).
    pub(crate) depths: Mutex<BTreeMap<TenantName, (u64, f64)>>,
}

impl QueueStats {
    pub(crate) fn ended(&self, status: QueuedStatus) {
        let counter = match status {
            QueuedStatus::Succeeded => &self.succeeded,
            QueuedStatus::Failed => &self.failed,
            QueuedStatus::Expired => &self.expired,
            QueuedStatus::Queued | QueuedStatus::Running => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl geyser_core::MetricFamilies for QueueStats {
    fn render(&self, out: &mut String, scope: Scope<'_>) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        if scope.is_node() {
            for (name, help, kind, value) in [
                (
                    "geyser_async_accepted_total",
                    "Asynchronous invocations this node accepted (202).",
                    Kind::Counter,
                    load(&self.accepted),
                ),
                (
                    "geyser_async_refused_total",
                    "Asynchronous calls refused because the tenant's queue was full (429).",
                    Kind::Counter,
                    load(&self.refused_full),
                ),
                (
                    "geyser_async_retries_total",
                    "Failed attempts this node's workers queued again.",
                    Kind::Counter,
                    load(&self.retries),
                ),
                (
                    "geyser_async_reports_total",
                    "Reports sent to destinations (a topic record or a function's event).",
                    Kind::Counter,
                    load(&self.reports),
                ),
                (
                    "geyser_async_running",
                    "Asynchronous invocations this node's workers are running.",
                    Kind::Gauge,
                    load(&self.running),
                ),
            ] {
                prom::header(out, name, help, kind);
                prom::sample(out, name, "", value);
            }
            let name = "geyser_async_ended_total";
            prom::header(
                out,
                name,
                "Asynchronous invocations this node's workers ended, by status.",
                Kind::Counter,
            );
            for (status, counter) in [
                ("succeeded", &self.succeeded),
                ("failed", &self.failed),
                ("expired", &self.expired),
            ] {
                prom::sample(out, name, &format!("status=\"{status}\""), load(counter));
            }
        }
        let depths = self.depths.lock().unwrap_or_else(|e| e.into_inner());
        let shown: Vec<_> = depths
            .iter()
            .filter(|(tenant, _)| scope.shows(tenant.as_str()))
            .collect();
        for (name, help, pick) in [
            (
                "geyser_async_queue_depth",
                "Asynchronous invocations of the tenant waiting or running (whole cluster).",
                0,
            ),
            (
                "geyser_async_oldest_age_seconds",
                "Age of the tenant's oldest waiting or running asynchronous invocation.",
                1,
            ),
        ] {
            prom::header(out, name, help, Kind::Gauge);
            for (tenant, (depth, age)) in &shown {
                let value = if pick == 0 { *depth as f64 } else { *age };
                prom::sample(
                    out,
                    name,
                    &format!("tenant=\"{}\"", prom::escape(tenant.as_str())),
                    value,
                );
            }
        }
    }
}
