//! The cron trigger: every pass, each schedule's due ticks are computed (`geyser-scheduler`),
//! claimed in the store (one node wins each tick), and fired on the scheduled function. Time
//! comes from an injected clock. A claim is a lease on real time: each pass also takes over
//! runs whose lease lapsed (their node died mid-tick, or a failed tick's retry is due) and fires
//! them again with the same scheduled time — the tick's id, by which a function keeps its
//! effects idempotent. A run's end is recorded only while the claim is still this node's.
//! (The guest's kv calls do not run in a transaction held for the whole tick: on SQLite that
//! would hold the node's one write lock for as long as a report takes.)

use chrono::{DateTime, TimeZone, Utc};
use geyser_engine::{Invoker, Tick};
use geyser_functions::{
    CronBinding, CronClaim, InvocationId, MissedTicks, Overlap, RouteCache, Selector, Store,
    TriggerKind, now_ms,
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
    /// How long a claim holds before another node may take the run over; extended to the
    /// function's timeout plus `lease_margin` before each run.
    pub lease: Duration,
    pub lease_margin: Duration,
    /// Wait before a failed tick's second attempt, doubling up to `max_retry_backoff`.
    pub retry_backoff: Duration,
    pub max_retry_backoff: Duration,
}

impl CronSettings {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        geyser_core::backoff::doubling(self.retry_backoff, self.max_retry_backoff, attempt)
    }
}

/// The run's claim was taken over by another node (this one was too slow to extend it).
const TAKEN_OVER: &str = "taken-over";

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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

    /// One pass over every schedule, after taking over the runs whose lease lapsed.
    pub async fn pass(&self) -> Result<(), geyser_functions::Error> {
        let now = self.clock.now();
        let bindings = self.store.all_cron().await?;
        let lease_until = now_ms().saturating_add(ms(self.settings.lease));
        for claim in self.store.reclaim_cron_runs(now_ms(), lease_until).await? {
            let Some(binding) = bindings.iter().find(|b| b.id == claim.schedule) else {
                continue;
            };
            tracing::info!(schedule = %binding.name, function = %binding.function, scheduled_ms = claim.scheduled_ms, attempt = claim.attempts, "taking over a cron run whose lease lapsed");
            let runner = self.clone();
            let binding = binding.clone();
            self.tasks.spawn(async move {
                runner.fire(&binding, claim, false).await;
            });
        }
        for binding in bindings {
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
                if let Some(claim) = self
                    .store
                    .claim_cron_tick(binding.id, tick.timestamp_millis(), lease_until)
                    .await?
                {
                    let runner = self.clone();
                    let binding = binding.clone();
                    self.tasks.spawn(async move {
                        runner.fire(&binding, claim, false).await;
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

    /// Fires one claimed tick (scheduled, or manual) and records how it ended; a failure of a
    /// schedule with attempts left is left for a retry after the backoff (scheduled ticks only).
    pub async fn fire(
        &self,
        binding: &CronBinding,
        claim: CronClaim,
        manual: bool,
    ) -> (Option<InvocationId>, &'static str) {
        let (invocation, outcome) = self.run_tick(binding, &claim, manual).await;
        if outcome != "ok" {
            if outcome == TAKEN_OVER {
                return (invocation, outcome);
            }
            let retryable = !matches!(outcome, "skipped-overlap" | "function-missing");
            if retryable && !manual && claim.attempts < binding.max_attempts {
                let next_at = now_ms().saturating_add(ms(self.settings.backoff(claim.attempts)));
                tracing::info!(schedule = %binding.name, function = %binding.function, attempt = claim.attempts, outcome, "cron tick failed; retrying");
                if let Err(err) = self
                    .store
                    .retry_cron_run(&claim, invocation, outcome, next_at)
                    .await
                {
                    tracing::error!(schedule = %binding.name, error = %err, "cannot record cron run");
                }
                return (invocation, outcome);
            }
        }
        self.record(binding, &claim, invocation, outcome).await;
        (invocation, outcome)
    }

    async fn record(
        &self,
        binding: &CronBinding,
        claim: &CronClaim,
        invocation: Option<InvocationId>,
        outcome: &str,
    ) {
        match self.store.finish_cron_run(claim, invocation, outcome).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(schedule = %binding.name, function = %binding.function, scheduled_ms = claim.scheduled_ms, "cron run was taken over by another node; its end is theirs to record")
            }
            Err(err) => {
                tracing::error!(schedule = %binding.name, error = %err, "cannot record cron run")
            }
        }
    }

    async fn run_tick(
        &self,
        binding: &CronBinding,
        claim: &CronClaim,
        manual: bool,
    ) -> (Option<InvocationId>, &'static str) {
        let scheduled = to_utc(claim.scheduled_ms);
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
        // The run must not be taken over while it still runs: its lease covers the timeout.
        let lease_until = now_ms()
            .saturating_add(i64::try_from(function.limits.timeout_ms).unwrap_or(i64::MAX / 2))
            .saturating_add(ms(self.settings.lease_margin));
        if !manual {
            match self.store.extend_cron_lease(claim, lease_until).await {
                Ok(true) => {}
                Ok(false) => return (None, TAKEN_OVER),
                Err(err) => {
                    tracing::error!(error = %err, "cannot extend a cron lease");
                    return (None, "error");
                }
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
