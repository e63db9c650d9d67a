//! Cron schedules for Geyser functions: the pure part of the scheduler — parsing, time zones,
//! next fire times that are correct across DST changes, and which ticks are due after downtime.
//! Time always comes from a [`Clock`], so tests drive it instead of sleeping.
//!
//! Persistence and the single-fire claim across nodes live with the store; this crate never
//! touches a database.

mod clock;
mod dow;
mod expr;
mod schedule;

pub use clock::{Clock, FixedClock, SystemClock};
pub use expr::{CronExpr, ExprError};
pub use schedule::{MissedPolicy, Schedule, ScheduleError, due_ticks};
