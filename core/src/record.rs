//! What an invocation leaves behind: how it ended, what started it, its metered record and
//! the lines it logged.

use crate::{FunctionName, InvocationId, TenantId, Version};

crate::text_enum! {
    /// How an invocation ended. `Ok` means the guest produced a result (an HTTP answer below
    /// 500); `Error` that it reported a failure or answered 5xx; `Cancelled` that the client
    /// went away before the response ended (billed for what ran, not an error).
    pub enum Outcome ("outcome") {
        Ok = "ok",
        Error = "error",
        Timeout = "timeout",
        MemoryLimit = "memory-limit",
        Trap = "trap",
        Rejected = "rejected",
        Cancelled = "cancelled",
        /// The guest used more CPU time than its function's `cpu_limit_ms`.
        CpuLimit = "cpu-limit",
    }
}

impl Outcome {
    /// Counted as a failed invocation (usage, statements, metrics, canary analysis): all but
    /// `ok`, `rejected` (nothing ran) and `cancelled` (the client left; the function did not fail).
    pub fn is_error(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Rejected | Outcome::Cancelled)
    }
}

crate::text_enum! {
    /// What started an invocation.
    pub enum TriggerKind ("trigger") {
        Http = "http",
        Kafka = "kafka",
        Cron = "cron",
        Manual = "manual",
        /// Taken from the asynchronous queue (`Prefer: respond-async`).
        Async = "async",
    }
}

/// One metered invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRecord {
    pub id: InvocationId,
    pub tenant: TenantId,
    pub function: FunctionName,
    pub version: Version,
    pub trigger: TriggerKind,
    pub started_at_ms: i64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
    pub peak_memory_bytes: u64,
    /// The memory limit the invocation ran under (what allocated-memory billing would charge).
    pub memory_limit_bytes: u64,
    pub outcome: Outcome,
    /// The invocation's W3C `traceparent` (its own span in the caller's trace).
    pub traceparent: Option<String>,
    /// Outgoing HTTP requests the guest made (that got past its allow-list).
    pub outbound_requests: u64,
    /// Request and response body bytes of those requests.
    pub outbound_bytes: u64,
    /// Time spent waiting for their responses' heads, summed over requests.
    pub outbound_wait_ns: u64,
    /// The HTTP status the guest answered with (`None`: no answer, or not an HTTP handler).
    pub http_status: Option<u16>,
}

const GIB: f64 = (1u64 << 30) as f64;

impl InvocationRecord {
    /// Peak memory in GiB × wall seconds: what the tenant is billed for memory.
    pub fn gb_seconds(&self) -> f64 {
        (self.peak_memory_bytes as f64 / GIB) * (self.wall_ns as f64 / 1e9)
    }

    /// Memory limit in GiB × wall seconds: what billing by allocated memory would charge.
    pub fn allocated_gb_seconds(&self) -> f64 {
        (self.memory_limit_bytes as f64 / GIB) * (self.wall_ns as f64 / 1e9)
    }

    /// The start of the hour the invocation started in (its rollup row).
    pub fn hour_ms(&self) -> i64 {
        hour_of(self.started_at_ms)
    }
}

/// Milliseconds in an hour, the rollup granularity.
pub const HOUR_MS: i64 = 3_600_000;

/// The start of the UTC hour `at_ms` falls in.
pub fn hour_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub tenant: TenantId,
    pub function: FunctionName,
    pub invocation: InvocationId,
    pub at_ms: i64,
    /// `trace` … `error`, or `stdout` / `stderr` for captured output.
    pub level: String,
    pub message: String,
}
