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
    /// Components with at least this many KiB of data segments map their data into each new
    /// instance copy-on-write (wasmtime's `memory_init_cow`); smaller ones copy it. For small
    /// guests the copy is cheaper than the copy-on-write faults and TLB shootdowns of every
    /// invocation (+11 % warm throughput on examples/hello); a JavaScript or Python engine's
    /// megabytes of data cost a copy per invocation that mapping them avoids (bench/RESULTS.md).
    /// 0: every component copy-on-write.
    pub memory_init_cow_min_kb: u64,
    /// Bytes of a reused linear memory slot restored and kept resident rather than returned
    /// to the kernel (`linear_memory_keep_resident`), for components that copy their data.
    /// Used only with `pagemap_scan` (then only the pages the last guest wrote are restored):
    /// 2 MiB served examples/hello 1.33× the requests at 0.72× the CPU per request of handing
    /// everything back, and drained Kafka records 1.4–1.7× faster (bench/RESULTS.md). Without
    /// the scan the kept bytes would be `memset` on every reuse (256 KiB cost 10 % of hello's
    /// throughput), so nothing is kept.
    pub keep_resident_bytes: usize,
    /// The same for the engine of copy-on-write components (large data images: a JavaScript
    /// or Python engine), where a reused slot's kept pages are restored by `memcpy` from the
    /// image instead of being faulted in again page by page on the next invocation. 32 MiB by
    /// default: the JavaScript hello served 1.78× and the Python hello 2.49× the requests of
    /// `wasmtime serve`'s best configuration with it (bench/RESULTS.md), at the price of up to
    /// this much resident memory per slot such a component used.
    pub keep_resident_cow_bytes: usize,
    /// Reset a reused memory slot by asking Linux which pages the last guest wrote
    /// (`PAGEMAP_SCAN`, kernel 6.7+; ignored elsewhere) and restoring only those, up to the
    /// kept-resident bytes, instead of assuming the lowest ones: the rest of the slot needs no
    /// `madvise` (whose TLB shootdown interrupts every other core) and no page faults next time.
    pub pagemap_scan: bool,
    /// Guest memory (linear memories of every running guest together) the node may commit;
    /// a grow past it fails that guest with `memory-limit`. Unset: 75 % of the machine's
    /// memory, or of the cgroup's limit when that is lower.
    pub node_memory_mb: Option<u64>,
    /// While more than this percent of `node_memory_mb` is committed, new invocations wait
    /// (up to `queue_timeout_ms`, then 503 `saturated`).
    pub memory_high_water_percent: u8,
    /// Components compiled at once (deploys, and versions first called on a node that never
    /// compiled them); each on the compile pool's threads at a lower priority.
    pub max_concurrent_compiles: usize,
    /// Memory for Cranelift's incremental compilation cache (function bodies already compiled
    /// on this node, reused by later compiles of identical bodies: a second JavaScript or
    /// Python component compiles little of its engine); 0 turns it off.
    pub compile_cache_mb: u64,
    /// How long a deploy waits for the compile gate before 503 with `Retry-After`.
    pub compile_wait_ms: u64,
    /// A compile that takes longer fails its deploy (the work is abandoned, not stopped).
    pub compile_timeout_ms: u64,
    /// Long-running guests that may compute at once (see `long_guest_after_ms`); the others
    /// wait their turn, round-robin over tenants, at every epoch tick. Unset: one fewer than
    /// the machine's cores (at least 1); 0: guests are never throttled.
    pub long_guest_slots: Option<usize>,
    /// A guest that has computed this long (in epoch ticks' worth) in one invocation counts as
    /// long-running.
    pub long_guest_after_ms: u64,
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
            memory_init_cow_min_kb: 1024,
            keep_resident_bytes: 2 << 20,
            keep_resident_cow_bytes: 32 << 20,
            pagemap_scan: true,
            node_memory_mb: None,
            memory_high_water_percent: 90,
            max_concurrent_compiles: 1,
            compile_cache_mb: 256,
            compile_wait_ms: 5_000,
            compile_timeout_ms: 120_000,
            long_guest_slots: None,
            long_guest_after_ms: 10,
        }
    }
}

impl EngineConfig {
    pub fn idle_ttl(&self) -> Duration {
        Duration::from_millis(self.idle_ttl_ms)
    }

    /// How many long guests may compute at once; `None`: not throttled.
    pub fn long_guest_turns(&self) -> Option<usize> {
        match self.long_guest_slots {
            Some(0) => None,
            Some(n) => Some(n),
            None => Some(
                std::thread::available_parallelism()
                    .map_or(1, usize::from)
                    .saturating_sub(1)
                    .max(1),
            ),
        }
    }

    /// `memory_init_cow_min_kb` in bytes.
    pub fn memory_init_cow_min_bytes(&self) -> u64 {
        self.memory_init_cow_min_kb.saturating_mul(1024)
    }

    /// `long_guest_after_ms` in epoch ticks.
    pub fn long_guest_after_ticks(&self) -> u64 {
        self.long_guest_after_ms / self.epoch_tick_ms.max(1)
    }

    /// Threads of the compile pool: the machine's cores (a component's functions compile in
    /// parallel), at a lower priority than everything else.
    pub fn compile_threads(&self) -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    /// The node's guest-memory budget in bytes: `node_memory_mb`, else 75 % of the memory this
    /// process may use (unbounded if that cannot be read).
    pub fn node_memory_bytes(&self) -> u64 {
        match self.node_memory_mb {
            Some(mb) => mb.saturating_mul(1 << 20),
            None => crate::memory::default_budget_bytes().unwrap_or(u64::MAX),
        }
    }
}
