//! The cron trigger: every pass, each schedule's due ticks are computed (`geyser-scheduler`),
//! claimed in the store (one node wins each tick), and fired on the scheduled function. Time
//! comes from an injected clock.

use chrono::{DateTime, TimeZone, Utc};
use geyser_engine::{Invoker, Tick};
use geyser_functions::{
    CronBinding, InvocationId, MissedTicks, Overlap, RouteCache, Selector, Store, TriggerKind,
};
use geyser_scheduler::{Clock, MissedPolicy, Schedule, due_ticks};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::task::TaskTracker;

/// Settings of the cron runner.
#[derive(Debug, Clone, Copy)]
pub struct CronSettings {
    /// Real time between passes.
    pub pass_interval: Duration,
    /// A tick this late is still on time; older ones follow the schedule's missed policy.
    pub grace: chrono::Duration,
}

#[derive(Clone)]
pub struct CronRunner {
    pub store: Store,
    pub invoker: Invoker,
    /// Resolves a schedule's function to its active version.
    pub routes: Arc<RouteCache>,
    /// Passes made (`geyser_cron_passes_total`).
    pub passes: Arc<AtomicU64>,
    pub clock: Arc<dyn Clock>,
    pub settings: CronSettings,
    pub tasks: TaskTracker,
}

pub fn to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl CronRunner {
    /// Runs passes until the process stops.
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.settings.pass_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(err) = self.pass().await {
                tracing::error!(error = %err, "cron pass failed");
            }
            self.passes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One pass over every schedule.
    pub async fn pass(&self) -> Result<(), geyser_functions::Error> {
        let now = self.clock.now();
        for binding in self.store.all_cron().await? {
            let schedule = match Schedule::parse(&binding.expression, &binding.timezone) {
                Ok(schedule) => schedule,
                Err(err) => {
                    tracing::error!(schedule = %binding.name, error = %err, "stored schedule no longer parses");
                    continue;
                }
            };
            let policy = match binding.missed {
                MissedTicks::Skip => MissedPolicy::Skip,
                MissedTicks::Once => MissedPolicy::Once,
            };
            let last = to_utc(binding.last_handled_ms);
            let fire = due_ticks(&schedule, Some(last), now, policy, self.settings.grace);
            for tick in &fire {
                if self
                    .store
                    .claim_cron_tick(binding.id, tick.timestamp_millis())
                    .await?
                {
                    let runner = self.clone();
                    let binding = binding.clone();
                    let tick = *tick;
                    self.tasks.spawn(async move {
                        runner.fire(&binding, tick, false).await;
                    });
                }
            }
            // Every tick up to now has been fired, claimed elsewhere, or dropped by policy.
            if let Some(handled) = schedule.fires_between(last, now, 100_000).last() {
                self.store
                    .advance_cron(binding.id, handled.timestamp_millis())
                    .await?;
            }
        }
        Ok(())
    }

    /// Fires one tick (already claimed, or manual) and records how it ended.
    pub async fn fire(
        &self,
        binding: &CronBinding,
        scheduled: DateTime<Utc>,
        manual: bool,
    ) -> (Option<InvocationId>, &'static str) {
        let scheduled_ms = scheduled.timestamp_millis();
        let (invocation, outcome) = self.run_tick(binding, scheduled, manual).await;
        if let Err(err) = self
            .store
            .finish_cron_run(binding.id, scheduled_ms, manual, invocation, outcome)
            .await
        {
            tracing::error!(schedule = %binding.name, error = %err, "cannot record cron run");
        }
        (invocation, outcome)
    }

    async fn run_tick(
        &self,
        binding: &CronBinding,
        scheduled: DateTime<Utc>,
        manual: bool,
    ) -> (Option<InvocationId>, &'static str) {
        let tenant = match self.store.tenant(binding.tenant).await {
            Ok(Some(tenant)) => tenant,
            _ => return (None, "error"),
        };
        let selector = Selector::Alias(binding.alias.clone());
        let function = match self
            .routes
            .route(&self.store, &tenant.name, &binding.function, &selector)
            .await
        {
            Ok(Some(route)) => route.pick_without_headers(),
            Ok(None) => return (None, "function-missing"),
            Err(err) => {
                tracing::error!(error = %err, "cannot load scheduled function");
                return (None, "error");
            }
        };
        if !manual && binding.overlap == Overlap::Skip {
            let horizon = self.clock.now().timestamp_millis()
                - i64::try_from(function.limits.timeout_ms).unwrap_or(i64::MAX / 2)
                - 60_000;
            match self
                .store
                .cron_run_in_progress(binding.id, horizon, scheduled.timestamp_millis())
                .await
            {
                Ok(true) => return (None, "skipped-overlap"),
                Ok(false) => {}
                Err(err) => tracing::error!(error = %err, "cannot check for overlapping runs"),
            }
        }
        let tick = Tick {
            schedule: binding.name.clone(),
            scheduled_time: rfc3339(scheduled),
            fire_time: rfc3339(self.clock.now()),
            payload: binding.payload.clone(),
        };
        let trigger = if manual {
            TriggerKind::Manual
        } else {
            TriggerKind::Cron
        };
        match self.invoker.invoke_tick(function, trigger, tick).await {
            Ok(id) => (Some(id), "ok"),
            Err(err) => (None, err.outcome().as_str()),
        }
    }
}

impl geyser_core::MetricFamilies for CronRunner {
    /// Node-wide only.
    fn render(&self, out: &mut String, scope: geyser_core::prom::Scope<'_>) {
        if !scope.is_node() {
            return;
        }
        geyser_core::prom::single(
            out,
            "geyser_cron_passes_total",
            "Scheduler passes over all cron schedules.",
            geyser_core::prom::Kind::Counter,
            self.passes.load(Ordering::Relaxed) as f64,
        );
    }
}
