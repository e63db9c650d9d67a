//! Policy the binary wires into the engine: [`Admission`] decides whether an invocation may
//! start (tenant disabled, budget, quotas), [`Observer`]s hear how each one ended (metrics,
//! metering, OTLP). The engine has no field per concern; it calls these.

use geyser_core::{ActiveFunction, InvocationRecord, LogLine, TraceContext, TriggerKind};
use std::time::Duration;

/// Why an invocation was refused before it ran. Nothing ran, so nothing is metered or billed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub reason: RefusalReason,
    /// What the caller is told.
    pub message: String,
    /// When a retry may succeed (`Retry-After`); `None`: waiting will not help.
    pub retry_after: Option<Duration>,
}

/// The kinds of refusal, each with its own answer at the edges (HTTP status, Kafka redelivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The admin disabled the tenant.
    TenantDisabled,
    /// The tenant's `refuse` budget is spent.
    BudgetExceeded,
    /// The tenant's HTTP request rate is exceeded.
    RateLimited,
    /// The tenant's (or function's) concurrency is exhausted and no slot freed in time.
    ConcurrencyLimited,
    /// The node's instance slots are exhausted.
    Saturated,
}

impl Refusal {
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, after: Duration) -> Refusal {
        self.retry_after = Some(after);
        self
    }
}

/// What admission hands an invocation: slots it holds until its guest task ends (tenant and
/// function slots), and how much of the node's guest memory its tenant may hold.
pub struct AdmissionPermit {
    pub hold: Box<dyn Send + Sync>,
    /// Percent of the node's guest-memory budget the tenant's running invocations may hold
    /// together (100: all of it).
    pub node_memory_percent: u64,
}

/// Decides whether an invocation may start.
#[async_trait::async_trait]
pub trait Admission: Send + Sync {
    async fn admit(
        &self,
        function: &ActiveFunction,
        trigger: TriggerKind,
    ) -> Result<AdmissionPermit, Refusal>;
}

/// How one admitted invocation ended, as the observer sees it.
#[derive(Debug)]
pub struct Finish<'a> {
    pub function: &'a ActiveFunction,
    pub record: &'a InvocationRecord,
    pub trace: &'a TraceContext,
    pub wall: Duration,
}

/// Hears every admitted invocation's end. Called on the invocation path: must not block.
pub trait Observer: Send + Sync {
    fn finished(&self, finish: &Finish<'_>);
    /// The lines the invocation logged or printed (called before `finished`).
    fn logs(&self, lines: Vec<LogLine>);
}
