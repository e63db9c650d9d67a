//! `[engine]`: sizing of the wasmtime engine and the per-function limits it enforces.

use serde::Deserialize;
use std::time::Duration;

/// Sizing of the wasmtime engine and the per-function limits it enforces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Memory limit of a function that does not ask for one.
    pub default_memory_mb: u32,
    /// Largest memory limit a function may ask for; also sizes pooling-allocator slots.
    pub max_memory_mb: u32,
    pub default_timeout_ms: u64,
    pub max_timeout_ms: u64,
    /// A function version unused this long is dropped from memory (scale to zero).
    pub idle_ttl_ms: u64,
    /// Instances that may run at once; the pooling allocator reserves this many slots.
    /// Requests beyond it wait up to `queue_timeout_ms`, then get 503.
    pub max_instances: u32,
    pub queue_timeout_ms: u64,
    /// Invocations that may wait for an instance slot (and, per tenant, for the tenant's
    /// slots); beyond it requests are shed at once with `Retry-After`: 503 `saturated` when the
    /// node's slots are the bottleneck, 429 `concurrency_limited` when the tenant's are.
    pub max_queued: u64,
    /// Epoch tick: the granularity of timeouts and of cooperative yielding. A running guest
    /// yields its worker thread every tick, so this bounds how long other tenants' requests wait
    /// behind a busy guest: with 10 ms, tenant B's hello took p50 255 ms while tenant A ran four
    /// endless loops on 2 cores; with 1 ms, 33 ms (tests/tests/quotas.rs, noisy neighbour).
    pub epoch_tick_ms: u64,
    /// Initialize linear memory by mapping the module's data copy-on-write (wasmtime's
    /// `memory_init_cow`) instead of copying it into each new instance. Off by default: for
    /// small guests the copy is cheaper than the copy-on-write faults and TLB shootdowns of
    /// every invocation (bench/RESULTS.md: +11 % warm throughput on examples/hello). Guests
    /// with megabytes of static data may do better with it on.
    pub memory_init_cow: bool,
    /// Bytes of a reused linear memory slot reset by `memset` and kept resident rather than
    /// returned to the kernel (`linear_memory_keep_resident`). 0 by default: on examples/hello
    /// 256 KiB cost 10 % of throughput against 0, 1 MiB 21 % (bench/RESULTS.md).
    pub keep_resident_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_memory_mb: 128,
            max_memory_mb: 512,
            default_timeout_ms: 10_000,
            max_timeout_ms: 300_000,
            idle_ttl_ms: 300_000,
            max_instances: 1000,
            queue_timeout_ms: 5_000,
            max_queued: 10_000,
            epoch_tick_ms: 1,
            memory_init_cow: false,
            keep_resident_bytes: 0,
        }
    }
}

impl EngineConfig {
    pub fn idle_ttl(&self) -> Duration {
        Duration::from_millis(self.idle_ttl_ms)
    }
}
