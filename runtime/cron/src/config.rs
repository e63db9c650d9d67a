//! `[scheduler]`: how often the cron runner passes over the schedules.

use serde::Deserialize;

/// The cron trigger.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Time between scheduler passes.
    pub pass_interval_ms: u64,
    /// A tick this late still fires as on time; older ticks were missed and follow the
    /// schedule's `missed` policy.
    pub grace_ms: u64,
    /// A claimed tick's lease: if its node has not recorded the run's end by then (it died),
    /// another node fires it again with the same scheduled time. Extended before each run to
    /// the function's timeout plus `lease_margin_ms`.
    pub lease_ms: u64,
    pub lease_margin_ms: u64,
    /// Wait before retrying a failed tick of a schedule with `max_attempts` > 1; doubles per
    /// attempt up to `max_retry_backoff_ms`.
    pub retry_backoff_ms: u64,
    pub max_retry_backoff_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            pass_interval_ms: 1000,
            grace_ms: 60_000,
            lease_ms: 60_000,
            lease_margin_ms: 10_000,
            retry_backoff_ms: 1_000,
            max_retry_backoff_ms: 60_000,
        }
    }
}
