//! The invocation lifetime: the data of one fresh `Store` — WASI context with no files, no
//! sockets and no environment (stdout/stderr captured), the tenant's capabilities, the wasi:http context that refuses outgoing requests, and the
//! memory limiter that enforces the function's limit and records its peak.

use crate::capabilities::{
    Capabilities, CapabilitiesView, CapturedOutput, LOG_CAPTURE_BYTES, LogBuffer, PublishContext,
};
use geyser_core::{Kv, TenantId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// A guest tried to grow its memory past the function's limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit_bytes} bytes exceeded (wanted {wanted_bytes})")]
pub struct MemoryLimitExceeded {
    pub limit_bytes: u64,
    pub wanted_bytes: u64,
}

/// A guest ran past the function's timeout.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {timeout_ms} ms")]
pub struct TimedOut {
    pub timeout_ms: u64,
}

/// Enforces a memory limit over all of a store's linear memories and records the peak (in a
/// shared cell, so it survives the store being dropped on a timeout).
#[derive(Debug)]
pub struct MemoryLimiter {
    limit_bytes: u64,
    current_bytes: u64,
    peak_bytes: Arc<AtomicU64>,
}

/// Table growth beyond this many elements is refused (tables hold function references; no
/// sane guest needs more).
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl MemoryLimiter {
    pub fn new(limit_bytes: u64) -> Self {
        Self {
            limit_bytes,
            current_bytes: 0,
            peak_bytes: Arc::new(AtomicU64::new(0)),
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

/// wasi:http hooks: guests get no outgoing HTTP (a per-function allow-list is issue #15).
#[derive(Debug, Default)]
pub struct DenyOutgoing;

impl WasiHttpHooks for DenyOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Everything one invocation's `Store` owns. Never shared across invocations or tenants.
pub struct InvocationState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: DenyOutgoing,
    table: ResourceTable,
    limiter: MemoryLimiter,
    capabilities: Capabilities,
}

impl CapabilitiesView for InvocationState {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.capabilities
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
}

impl Telemetry {
    pub fn peak_memory_bytes(&self) -> u64 {
        self.peak_bytes.load(Ordering::Relaxed)
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

/// Who an invocation runs for and what it may reach: the owner's kv (scoped by its id) and
/// the event bus in the owner's namespace.
#[derive(Clone)]
pub struct GuestContext {
    pub tenant: TenantId,
    pub kv: Arc<dyn Kv>,
    pub publish: Option<PublishContext>,
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
        .build();
    let limiter = MemoryLimiter::new(limits.memory_bytes);
    let logs = LogBuffer::default();
    let telemetry = Telemetry {
        peak_bytes: limiter.peak_bytes.clone(),
        logs: logs.clone(),
        stdout,
        stderr,
    };
    let state = InvocationState {
        wasi,
        http: WasiHttpCtx::new(),
        hooks: DenyOutgoing,
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
    let deadline = Instant::now() + std::time::Duration::from_millis(limits.timeout_ms);
    let timeout_ms = limits.timeout_ms;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_ctx: StoreContextMut<'_, InvocationState>| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(TimedOut { timeout_ms }))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    (store, telemetry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_records_peak_and_refuses_growth_past_the_limit() {
        let mut limiter = MemoryLimiter::new(10 << 20);
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(4 << 20, 8 << 20, None).unwrap());
        assert_eq!(limiter.peak_bytes(), 8 << 20);
        let err = limiter.memory_growing(8 << 20, 12 << 20, None).unwrap_err();
        let exceeded = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!(exceeded.limit_bytes, 10 << 20);
        assert_eq!(limiter.peak_bytes(), 8 << 20);
    }
}
