//! Scheduled functions: `#[geyser_sdk::schedule] fn on_tick(tick: Tick) -> Result<(), String>`.

/// One tick of a schedule. `scheduled_time` identifies the tick (a retried or manual run of the
/// same tick carries the same value), so use it to stay idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub schedule: String,
    /// When the tick was due, RFC 3339.
    pub scheduled_time: String,
    /// When it fired, RFC 3339.
    pub fire_time: String,
    /// The schedule's configured payload (JSON text), if any.
    pub payload: Option<String>,
}
