//! Canary analysis on a node. The gateway asks [`CanaryWatch::admit`] before it sends a call
//! to an alias's canary, which also starts watching that canary; the node's finish observer
//! hands every ended invocation to [`CanaryWatch::finished`]. Each watched canary keeps a
//! sliding window of its own calls and of its stable version's; when the canary crosses its
//! alias's `rollback_on` after `min_requests` calls (and does worse than the stable version),
//! this node stops sending it calls at once, sets its weight to 0 in the store — which every
//! other node reads within its route cache time — and records why: an alias event, a warning
//! in the function's logs, `geyser_canary_rollbacks_total`. The call that tripped it is the
//! last one the canary got from this node.

mod window;

use geyser_core::prom::{self, Kind, Scope};
use geyser_core::{
    ActiveFunction, AliasName, CanaryRoute, InvocationId, LogLine, MetricFamilies, Outcome,
    RollbackOn, Route, now_ms,
};
use geyser_functions::{
    FunctionId, FunctionName, RouteCache, Store, TenantId, TenantName, Version,
};
use geyser_telemetry::Meter;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use window::{Figures, MAX_SAMPLES, Window};

/// How far back a canary's and its stable version's calls are compared.
pub const WINDOW: Duration = Duration::from_secs(300);

/// One canary under watch: the alias's setting it was admitted with, and both windows.
struct Watched {
    alias: AliasName,
    tenant: TenantId,
    tenant_name: TenantName,
    function: FunctionName,
    stable: Version,
    canary: Version,
    /// When the alias was set: a new setting (even to the same versions) starts afresh.
    set_at_ms: i64,
    rule: RollbackOn,
    stable_calls: Window,
    canary_calls: Window,
    tripped: bool,
    /// The last call admitted to the canary: an entry idle for a window is forgotten (its
    /// alias changed, or nobody calls it).
    last_admitted: Instant,
}

impl Watched {
    fn same_setting(&self, route: &Route, canary: &CanaryRoute) -> bool {
        self.stable == route.stable.version
            && self.canary == canary.function.version
            && self.set_at_ms == canary.set_at_ms
    }
}

/// Why a canary is rolled back, or `None` while it may go on.
pub fn verdict(rule: &RollbackOn, canary: &Figures, stable: &Figures) -> Option<String> {
    if (canary.calls as u64) < rule.min_requests {
        return None;
    }
    if let Some(limit) = rule.error_rate
        && canary.error_rate > limit
        && (stable.calls == 0 || canary.error_rate > stable.error_rate)
    {
        return Some(format!(
            "error rate {:.3} over {} calls is above {limit} (stable version: {:.3} over {} calls)",
            canary.error_rate, canary.calls, stable.error_rate, stable.calls
        ));
    }
    if let Some(limit_ms) = rule.p99_ms
        && canary.p99 > Duration::from_millis(limit_ms)
        && (stable.calls == 0 || canary.p99 > stable.p99)
    {
        return Some(format!(
            "p99 {:.1} ms over {} calls is above {limit_ms} ms (stable version: {:.1} ms over {} calls)",
            canary.p99.as_secs_f64() * 1e3,
            canary.calls,
            stable.p99.as_secs_f64() * 1e3,
            stable.calls
        ));
    }
    None
}

/// A canary this node decided to roll back, on its way to the store.
struct Trip {
    function: FunctionId,
    tenant: TenantId,
    tenant_name: TenantName,
    name: FunctionName,
    alias: AliasName,
    canary: Version,
    detail: String,
    invocation: InvocationId,
}

struct Inner {
    store: Store,
    routes: Arc<RouteCache>,
    meter: Meter,
    window: Duration,
    watched: Mutex<HashMap<FunctionId, Vec<Watched>>>,
    /// Set once anything was watched: until then `finished` costs one load.
    any: AtomicBool,
    /// Rollbacks this node recorded, by (tenant, function, alias).
    rollbacks: Mutex<BTreeMap<(String, String, String), u64>>,
}

/// The node's canary analysis. Cheap to clone.
#[derive(Clone)]
pub struct CanaryWatch {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CanaryWatch {
    pub fn new(store: Store, routes: Arc<RouteCache>, meter: Meter, window: Duration) -> Self {
        CanaryWatch {
            inner: Arc::new(Inner {
                store,
                routes,
                meter,
                window,
                watched: Mutex::new(HashMap::new()),
                any: AtomicBool::new(false),
                rollbacks: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Whether `route`'s canary may take a call; starts watching it if its alias names a
    /// `rollback_on`. `false` once this node has rolled it back (until the alias is set again).
    pub fn admit(&self, route: &Route) -> bool {
        let (Some(canary), Some(alias)) = (&route.canary, &route.alias) else {
            return true;
        };
        let Some(rule) = canary.rollback_on else {
            return true;
        };
        let now = Instant::now();
        let mut watched = lock(&self.inner.watched);
        let entries = watched.entry(route.stable.function).or_default();
        match entries.iter_mut().find(|w| &w.alias == alias) {
            Some(w) if w.same_setting(route, canary) => {
                w.last_admitted = now;
                return !w.tripped;
            }
            Some(w) => *w = self.watch(route, alias, canary, rule),
            None => {
                entries.push(self.watch(route, alias, canary, rule));
                // A new canary: forget the ones nobody called for a window.
                let window = self.inner.window;
                for entries in watched.values_mut() {
                    entries.retain(|w| now.saturating_duration_since(w.last_admitted) <= window);
                }
                watched.retain(|_, entries| !entries.is_empty());
            }
        }
        self.inner.any.store(true, Ordering::Release);
        true
    }

    fn watch(
        &self,
        route: &Route,
        alias: &AliasName,
        canary: &CanaryRoute,
        rule: RollbackOn,
    ) -> Watched {
        Watched {
            alias: alias.clone(),
            tenant: route.stable.tenant.id,
            tenant_name: route.stable.tenant.name.clone(),
            function: route.stable.name.clone(),
            stable: route.stable.version,
            canary: canary.function.version,
            set_at_ms: canary.set_at_ms,
            rule,
            stable_calls: Window::new(self.inner.window),
            canary_calls: Window::new(self.inner.window),
            tripped: false,
            last_admitted: Instant::now(),
        }
    }

    /// Counts an ended invocation into the windows of every watched canary of its function
    /// (as the canary or as the stable version), and rolls back a canary it pushed over its
    /// limit. Refused invocations (`rejected`) say nothing about a version and are skipped.
    pub fn finished(
        &self,
        function: &ActiveFunction,
        outcome: Outcome,
        wall: Duration,
        invocation: InvocationId,
    ) {
        // A cancelled call (the client left) says nothing about the version either.
        if !self.inner.any.load(Ordering::Acquire)
            || matches!(outcome, Outcome::Rejected | Outcome::Cancelled)
        {
            return;
        }
        let failed = outcome.is_error();
        let now = Instant::now();
        let mut trips = Vec::new();
        {
            let mut watched = lock(&self.inner.watched);
            let Some(entries) = watched.get_mut(&function.function) else {
                return;
            };
            for w in entries.iter_mut() {
                if function.version == w.stable {
                    w.stable_calls.add(now, failed, wall);
                } else if function.version == w.canary {
                    w.canary_calls.add(now, failed, wall);
                    if w.tripped {
                        continue;
                    }
                    // The p99s only when the rule has a latency limit.
                    let p99 = w.rule.p99_ms.is_some();
                    let (canary, stable) = (
                        w.canary_calls.figures_with(now, p99),
                        w.stable_calls.figures_with(now, p99),
                    );
                    if let Some(detail) = verdict(&w.rule, &canary, &stable) {
                        w.tripped = true;
                        trips.push(Trip {
                            function: function.function,
                            tenant: w.tenant,
                            tenant_name: w.tenant_name.clone(),
                            name: w.function.clone(),
                            alias: w.alias.clone(),
                            canary: w.canary,
                            detail,
                            invocation,
                        });
                    }
                }
            }
        }
        for trip in trips {
            self.roll_back(trip);
        }
    }

    fn roll_back(&self, trip: Trip) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(function = %trip.name, "canary rollback outside a runtime: not recorded");
            return;
        };
        let inner = self.inner.clone();
        runtime.spawn(async move {
            let recorded = inner
                .store
                .trip_canary(trip.function, &trip.alias, trip.canary, &trip.detail)
                .await;
            inner.routes.invalidate(&trip.tenant_name, &trip.name);
            match recorded {
                Ok(true) => {
                    let change = geyser_functions::Change::Function {
                        tenant: trip.tenant_name.clone(),
                        function: trip.name.clone(),
                    };
                    if let Err(err) = inner.store.announce(&change).await {
                        tracing::warn!(error = %err, "announcing the canary rollback failed");
                    }
                    *lock(&inner.rollbacks)
                        .entry((
                            trip.tenant_name.to_string(),
                            trip.name.to_string(),
                            trip.alias.to_string(),
                        ))
                        .or_default() += 1;
                    let message = format!(
                        "canary version {} of alias {} rolled back: {}",
                        trip.canary.0, trip.alias, trip.detail
                    );
                    tracing::warn!(tenant = %trip.tenant_name, function = %trip.name, alias = %trip.alias, canary = trip.canary.0, reason = %trip.detail, "canary rolled back");
                    inner.meter.logs(vec![LogLine {
                        tenant: trip.tenant,
                        function: trip.name,
                        invocation: trip.invocation,
                        at_ms: now_ms(),
                        level: "warn".to_owned(),
                        message,
                    }]);
                }
                Ok(false) => {
                    tracing::info!(function = %trip.name, alias = %trip.alias, "canary was already rolled back (another node)");
                }
                Err(err) => {
                    tracing::error!(function = %trip.name, alias = %trip.alias, error = %err, "canary rollback not recorded; this node no longer sends it calls");
                }
            }
        });
    }
}

impl MetricFamilies for CanaryWatch {
    fn render(&self, out: &mut String, scope: Scope<'_>) {
        let rollbacks = lock(&self.inner.rollbacks);
        prom::header(
            out,
            "geyser_canary_rollbacks_total",
            "Canaries this node rolled back by itself, by alias.",
            Kind::Counter,
        );
        for ((tenant, function, alias), n) in rollbacks.iter() {
            if scope.shows(tenant) {
                let labels = format!(
                    "tenant=\"{}\",function=\"{}\",alias=\"{}\"",
                    prom::escape(tenant),
                    prom::escape(function),
                    prom::escape(alias)
                );
                prom::sample(out, "geyser_canary_rollbacks_total", &labels, *n as f64);
            }
        }
        // What each watched canary and its stable version did over the window, by version.
        let now = Instant::now();
        let mut windows = Vec::new();
        for w in lock(&self.inner.watched).values_mut().flatten() {
            let idle = now.saturating_duration_since(w.last_admitted) > self.inner.window;
            if w.tripped || idle || !scope.shows(w.tenant_name.as_str()) {
                continue;
            }
            for (role, version, figures) in [
                ("stable", w.stable, w.stable_calls.figures(now)),
                ("canary", w.canary, w.canary_calls.figures(now)),
            ] {
                let labels = format!(
                    "tenant=\"{}\",function=\"{}\",alias=\"{}\",version=\"{}\",role=\"{role}\"",
                    prom::escape(w.tenant_name.as_str()),
                    prom::escape(w.function.as_str()),
                    prom::escape(w.alias.as_str()),
                    version.0
                );
                windows.push((labels, figures));
            }
        }
        for (name, help, value) in [
            (
                "geyser_canary_window_calls",
                "Calls in the canary analysis window, per version of a watched alias.",
                (|f: &Figures| f.calls as f64) as fn(&Figures) -> f64,
            ),
            (
                "geyser_canary_window_error_ratio",
                "Share of failed calls in the canary analysis window.",
                |f: &Figures| f.error_rate,
            ),
            (
                "geyser_canary_window_p99_seconds",
                "p99 wall time in the canary analysis window.",
                |f: &Figures| f.p99.as_secs_f64(),
            ),
        ] {
            prom::header(out, name, help, Kind::Gauge);
            for (labels, figures) in &windows {
                prom::sample(out, name, labels, value(figures));
            }
        }
        if scope.is_node() {
            let watched: usize = lock(&self.inner.watched)
                .values()
                .flatten()
                .filter(|w| {
                    !w.tripped
                        && now.saturating_duration_since(w.last_admitted) <= self.inner.window
                })
                .count();
            prom::single(
                out,
                "geyser_canaries_watched",
                "Canaries this node is watching for rollback.",
                Kind::Gauge,
                watched as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(calls: usize, error_rate: f64, p99_ms: u64) -> Figures {
        Figures {
            calls,
            error_rate,
            p99: Duration::from_millis(p99_ms),
        }
    }

    #[test]
    fn rolls_back_only_past_min_requests_and_worse_than_stable() {
        let rule = RollbackOn {
            error_rate: Some(0.1),
            p99_ms: Some(50),
            min_requests: 10,
        };
        let healthy = figures(100, 0.0, 5);
        assert_eq!(verdict(&rule, &figures(9, 1.0, 5), &healthy), None);
        assert!(
            verdict(&rule, &figures(10, 0.5, 5), &healthy)
                .unwrap()
                .starts_with("error rate 0.500")
        );
        assert!(
            verdict(&rule, &figures(10, 0.0, 80), &healthy)
                .unwrap()
                .starts_with("p99 80.0 ms")
        );
        assert_eq!(
            verdict(&rule, &figures(10, 0.1, 50), &healthy),
            None,
            "at the limit is not above it"
        );
        // The stable version fails as badly: not the canary's fault.
        assert_eq!(
            verdict(&rule, &figures(10, 0.5, 80), &figures(100, 0.6, 90)),
            None
        );
        // No stable calls in the window: the limit alone decides.
        assert!(verdict(&rule, &figures(10, 0.5, 5), &figures(0, 0.0, 0)).is_some());
    }
}
