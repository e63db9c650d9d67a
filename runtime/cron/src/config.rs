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
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            pass_interval_ms: 1000,
            grace_ms: 60_000,
        }
    }
}
