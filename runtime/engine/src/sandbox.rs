//! The invocation lifetime: the data of one fresh `Store` — WASI context with no files and no
//! sockets, whose environment is the version's variables and secrets (also served through
//! wasi:config), stdout/stderr captured; the tenant's capabilities; the wasi:http hooks that
//! let outgoing requests through only to the version's allowed hosts ([`crate::outbound`]);
//! and the memory limiter that enforces the function's limit and records its peak.

use crate::capabilities::{
    Capabilities, CapabilitiesView, CapturedOutput, LOG_CAPTURE_BYTES, LogBuffer, PublishContext,
};
use crate::cpu::CpuClock;
use crate::fair::{FairGate, HeldTurn};
use crate::memory::{MemoryAccount, MemoryShortage};
use crate::outbound::{NodeOutbound, OutboundHooks, OutboundStats};
use geyser_core::{FunctionConfig, Kv, TenantId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// A guest tried to grow its memory past the function's limit, or past what the node (or the
/// tenant's share of it) had left.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit_bytes} bytes exceeded (wanted {wanted_bytes})")]
pub struct MemoryLimitExceeded {
    pub limit_bytes: u64,
    pub wanted_bytes: u64,
    /// `None`: the function's own limit; else the node's budget or the tenant's share of it.
    pub shortage: Option<MemoryShortage>,
}

/// A guest used more CPU time than its function's limit.
#[derive(Debug, thiserror::Error)]
#[error("CPU limit of {limit_ms} ms exceeded")]
pub struct CpuLimitExceeded {
    pub limit_ms: u64,
}

/// A guest ran past the function's timeout.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {timeout_ms} ms")]
pub struct TimedOut {
    pub timeout_ms: u64,
}

/// Enforces a memory limit over all of a store's linear memories and records the peak (in a
/// shared cell, so it survives the store being dropped on a timeout). With an account, every
/// grow is also charged to the node's budget, and everything is given back when the store (and
/// with it the limiter) is dropped.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit_bytes: u64,
    current_bytes: u64,
    peak_bytes: Arc<AtomicU64>,
    account: Option<MemoryAccount>,
}

/// Table growth beyond this many elements is refused (tables hold function references; no
/// sane guest needs more).
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl MemoryLimiter {
    pub fn new(limit_bytes: u64, account: Option<MemoryAccount>) -> Self {
        Self {
            limit_bytes,
            current_bytes: 0,
            peak_bytes: Arc::new(AtomicU64::new(0)),
            account,
        }
    }

    #[cfg(test)]
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes.load(Ordering::Relaxed)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = (desired as u64).saturating_sub(current as u64);
        let wanted = self.current_bytes.saturating_add(growth);
        if wanted > self.limit_bytes {
            // Trap instead of failing `memory.grow` quietly: the invocation is then classified
            // as `memory-limit` rather than as whatever the guest does on allocation failure.
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit_bytes: self.limit_bytes,
                wanted_bytes: wanted,
                shortage: None,
            }));
        }
        if let Some(account) = &self.account
            && let Err(shortage) = account
                .node
                .charge(account.tenant, account.share_bytes, growth)
        {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit_bytes: match shortage {
                    MemoryShortage::Node => account.node.budget_bytes(),
                    MemoryShortage::TenantShare => account.share_bytes,
                },
                wanted_bytes: growth,
                shortage: Some(shortage),
            }));
        }
        self.current_bytes = wanted;
        self.peak_bytes.fetch_max(wanted, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        if let Some(account) = &self.account {
            account.node.release(account.tenant, self.current_bytes);
        }
    }
}

/// Everything one invocation's `Store` owns. Never shared across invocations or tenants.
pub struct InvocationState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    config: WasiConfigVariables,
    table: ResourceTable,
    limiter: MemoryLimiter,
    capabilities: Capabilities,
}

impl CapabilitiesView for InvocationState {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.capabilities
    }
}

impl InvocationState {
    /// What `wasi:config/store` serves: the same variables and secrets as the environment.
    pub fn wasi_config(&mut self) -> wasmtime_wasi_config::WasiConfig<'_> {
        wasmtime_wasi_config::WasiConfig::from(&self.config)
    }
}

/// What is observed of an invocation from outside its store: peak memory and everything it
/// logged or printed. Readable after the store is gone (a timed-out guest's store is dropped).
#[derive(Clone)]
pub struct Telemetry {
    peak_bytes: Arc<AtomicU64>,
    logs: LogBuffer,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    outbound: Arc<OutboundStats>,
    /// The HTTP status the guest answered with; 0 until it answers.
    http_status: Arc<AtomicU16>,
    /// Set when the client went away before the response ended.
    client_gone: Arc<AtomicBool>,
    /// The invocation's CPU time (kept by the guest task's `CpuTimed`).
    cpu: Arc<CpuClock>,
    /// The long-guest turn it holds while computing, if it is a long guest.
    turn: HeldTurn,
}

impl Telemetry {
    pub fn http_status(&self) -> Option<u16> {
        Some(self.http_status.load(Ordering::Relaxed)).filter(|s| *s != 0)
    }

    pub(crate) fn answered(&self, status: u16) {
        self.http_status.store(status, Ordering::Relaxed);
    }

    /// The flag the response body sets if the client drops it before its end.
    pub(crate) fn client_gone(&self) -> &Arc<AtomicBool> {
        &self.client_gone
    }

    pub(crate) fn turn(&self) -> &HeldTurn {
        &self.turn
    }

    pub(crate) fn cpu(&self) -> &Arc<CpuClock> {
        &self.cpu
    }

    pub fn client_went_away(&self) -> bool {
        self.client_gone.load(Ordering::Relaxed)
    }

    pub fn peak_memory_bytes(&self) -> u64 {
        self.peak_bytes.load(Ordering::Relaxed)
    }

    pub fn outbound(&self) -> crate::outbound::OutboundTotals {
        self.outbound.totals()
    }

    /// Everything the guest logged or printed, as (time ms, level, line); stdout and stderr
    /// lines come last, stamped with the time of this call.
    pub fn take_logs(&self) -> Vec<(i64, &'static str, String)> {
        let mut lines = self.logs.take();
        let now = geyser_core::now_ms();
        for (stream, output) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (captured, truncated) = output.lines();
            lines.extend(captured.into_iter().map(|line| (now, stream, line)));
            if truncated {
                lines.push((
                    now,
                    "warn",
                    format!("[geyser] {stream} truncated at {LOG_CAPTURE_BYTES} bytes"),
                ));
            }
        }
        lines
    }
}

/// Who an invocation runs for and what it may reach: the owner's kv (scoped by its id), the
/// event bus in the owner's namespace, the version's configuration (its environment: variables
/// and opened secrets) and the outbound calls its allow-list permits.
pub struct GuestContext {
    pub tenant: TenantId,
    pub kv: Arc<dyn Kv>,
    pub publish: Option<PublishContext>,
    /// Variables and opened secrets, as environment variables and wasi:config entries.
    pub env: Vec<(String, String)>,
    pub config: Arc<FunctionConfig>,
    pub outbound: Arc<NodeOutbound>,
    /// The invocation's `traceparent`, sent with every outgoing request.
    pub traceparent: String,
    /// Where its memory is charged besides the function's own limit.
    pub memory: Option<MemoryAccount>,
    /// The node's long-guest turns, and after how many epoch ticks of computing this guest
    /// counts as long (`None`: never throttled).
    pub turns: Option<(Arc<FairGate>, u64)>,
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Limits of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct SandboxLimits {
    pub memory_bytes: u64,
    pub timeout_ms: u64,
    /// CPU time the guest may use (`None`: no limit besides the timeout).
    pub cpu_limit_ms: Option<u64>,
}

/// A fresh store for one invocation, with its memory limit and its deadline armed.
///
/// The epoch callback runs every tick while the guest executes: before the deadline it yields
/// to the async runtime (so a busy guest never starves other tasks), after it the guest traps
/// with [`TimedOut`].
pub fn new_store(
    engine: &wasmtime::Engine,
    limits: SandboxLimits,
    guest: GuestContext,
) -> (wasmtime::Store<InvocationState>, Telemetry) {
    let stdout = CapturedOutput::new(LOG_CAPTURE_BYTES);
    let stderr = CapturedOutput::new(LOG_CAPTURE_BYTES);
    let wasi = WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .envs(&guest.env)
        .build();
    let deadline = Instant::now() + std::time::Duration::from_millis(limits.timeout_ms);
    let outbound = Arc::new(OutboundStats::default());
    let hooks = OutboundHooks::new(
        guest.outbound,
        guest.config,
        tokio::time::Instant::from_std(deadline),
        guest.traceparent,
        outbound.clone(),
    );
    let limiter = MemoryLimiter::new(limits.memory_bytes, guest.memory);
    let logs = LogBuffer::default();
    let telemetry = Telemetry {
        peak_bytes: limiter.peak_bytes.clone(),
        logs: logs.clone(),
        stdout,
        stderr,
        outbound,
        http_status: Arc::new(AtomicU16::new(0)),
        client_gone: Arc::new(AtomicBool::new(false)),
        cpu: Arc::new(CpuClock::default()),
        turn: HeldTurn::default(),
    };
    let cpu_limit = limits
        .cpu_limit_ms
        .map(|ms| (telemetry.cpu.clone(), ms, ms.saturating_mul(1_000_000)));
    let state = InvocationState {
        wasi,
        http: WasiHttpCtx::new(),
        hooks,
        config: WasiConfigVariables::from_iter(guest.env),
        table: ResourceTable::new(),
        limiter,
        capabilities: Capabilities {
            tenant: guest.tenant,
            kv: guest.kv,
            logs,
            publish: guest.publish,
        },
    };
    let mut store = wasmtime::Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    let timeout_ms = limits.timeout_ms;
    let tenant = guest.tenant;
    let turns = guest.turns;
    let held = telemetry.turn.clone();
    let mut ticks = 0u64;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_ctx: StoreContextMut<'_, InvocationState>| {
        if Instant::now() >= deadline {
            return Err(wasmtime::Error::new(TimedOut { timeout_ms }));
        }
        // The callback runs inside the guest task's poll, on its thread: the clock's running
        // total includes this poll.
        if let Some((clock, limit_ms, limit_ns)) = &cpu_limit
            && clock.in_poll_ns() > *limit_ns
        {
            return Err(wasmtime::Error::new(CpuLimitExceeded {
                limit_ms: *limit_ms,
            }));
        }
        ticks += 1;
        match &turns {
            Some((gate, after)) if ticks > *after => {
                // A long guest: hand the turn back and queue for the next one.
                held.release();
                let (gate, held) = (gate.clone(), held.clone());
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(async move { held.hold(gate.acquire(tenant).await) }),
                ))
            }
            _ => Ok(UpdateDeadline::Yield(1)),
        }
    });
    (store, telemetry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_records_peak_and_refuses_growth_past_the_limit() {
        let mut limiter = MemoryLimiter::new(10 << 20, None);
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(4 << 20, 8 << 20, None).unwrap());
        assert_eq!(limiter.peak_bytes(), 8 << 20);
        let err = limiter.memory_growing(8 << 20, 12 << 20, None).unwrap_err();
        let exceeded = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!(exceeded.limit_bytes, 10 << 20);
        assert_eq!(limiter.peak_bytes(), 8 << 20);
    }

    #[test]
    fn limiter_charges_the_node_and_gives_everything_back_when_dropped() {
        let node = Arc::new(crate::memory::NodeMemory::new(16 << 20, 90));
        let account = |tenant| MemoryAccount {
            node: node.clone(),
            tenant: TenantId(tenant),
            share_bytes: 12 << 20,
        };
        let mut first = MemoryLimiter::new(64 << 20, Some(account(1)));
        assert!(first.memory_growing(0, 10 << 20, None).unwrap());
        let err = first.memory_growing(10 << 20, 14 << 20, None).unwrap_err();
        let exceeded = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!(exceeded.shortage, Some(MemoryShortage::TenantShare));
        let mut second = MemoryLimiter::new(64 << 20, Some(account(2)));
        let err = second.memory_growing(0, 8 << 20, None).unwrap_err();
        let exceeded = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!(exceeded.shortage, Some(MemoryShortage::Node));
        assert_eq!(exceeded.limit_bytes, 16 << 20);
        assert!(second.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(node.committed_bytes(), 14 << 20);
        drop(first);
        drop(second);
        assert_eq!(node.committed_bytes(), 0);
    }
}
