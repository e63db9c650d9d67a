//! The cron trigger: [`CronRunner`] passes over every stored schedule on an injected
//! [`Clock`](geyser_scheduler::Clock), claims each due `(schedule, fire time)` with a unique
//! insert (so with several nodes exactly one fires it), and fires it through the engine's
//! [`Invoker`](geyser_engine::Invoker). The pure part of cron (expressions, zones, next fires)
//! is `geyser-scheduler`.

mod config;
mod runner;

pub use config::SchedulerConfig;
pub use runner::{CronRunner, CronSettings, rfc3339, to_utc};
