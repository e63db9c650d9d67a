//! Compile admission: compiling a component takes whole cores for seconds (a 14 MB JavaScript
//! engine: 6–11 s of both), so compiles go through a gate — at most
//! `engine.max_concurrent_compiles` at once, on a pool of their own threads at a lower
//! scheduling priority than guests and the HTTP front, each under a deadline. A deploy that finds
//! the gate full waits `compile_wait_ms`, then is refused with `Retry-After`; a tenant may have
//! one compile waiting or running at a time.

use geyser_core::TenantId;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Why a compile was not run (or not waited for).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileRefusal {
    #[error(
        "the node is compiling other components ({running} at once at most); try again in a few \
         seconds"
    )]
    Busy { running: usize },
    #[error("a deploy of this tenant is already compiling; wait for it to finish")]
    TenantBusy,
    #[error("compiling took longer than {timeout_ms} ms (engine.compile_timeout_ms)")]
    TimedOut { timeout_ms: u64 },
    #[error("compile thread failed: {0}")]
    Failed(String),
}

/// Settings of the gate (from `[engine]`).
#[derive(Debug, Clone, Copy)]
pub struct CompileLimits {
    pub max_concurrent: usize,
    pub wait: Duration,
    pub timeout: Duration,
    /// Threads of the compile pool (wasmtime compiles a component's functions in parallel).
    pub threads: usize,
}

/// The node's compile gate.
pub struct CompileGate {
    permits: Arc<Semaphore>,
    limits: CompileLimits,
    /// Tenants with a compile waiting or running.
    tenants: Mutex<HashSet<TenantId>>,
    pool: rayon::ThreadPool,
    waiting: AtomicU64,
    running: Arc<AtomicU64>,
    refused_busy: AtomicU64,
    refused_tenant: AtomicU64,
    timed_out: AtomicU64,
    compiled: Arc<AtomicU64>,
}

/// Nice value of compile threads: the scheduler gives guests and the HTTP front the cores first.
const COMPILE_NICE: libc::c_int = 10;

fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` and `setpriority` take plain integers and touch no memory of ours; on
    // Linux the nice value set for a thread id applies to that thread only.
    #[allow(unsafe_code)]
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, COMPILE_NICE);
    }
}

/// Removes the tenant from the busy set when its compile (or its wait) is over.
struct TenantSlot<'a> {
    gate: &'a CompileGate,
    tenant: Option<TenantId>,
}

impl Drop for TenantSlot<'_> {
    fn drop(&mut self) {
        if let Some(tenant) = self.tenant {
            self.gate.lock().remove(&tenant);
        }
    }
}

impl CompileGate {
    pub fn new(limits: CompileLimits) -> std::io::Result<CompileGate> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(limits.threads.max(1))
            .thread_name(|i| format!("geyser-compile-{i}"))
            .start_handler(|_| lower_this_threads_priority())
            .build()
            .map_err(std::io::Error::other)?;
        Ok(CompileGate {
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            limits,
            tenants: Mutex::new(HashSet::new()),
            pool,
            waiting: AtomicU64::new(0),
            running: Arc::new(AtomicU64::new(0)),
            refused_busy: AtomicU64::new(0),
            refused_tenant: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            compiled: Arc::new(AtomicU64::new(0)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<TenantId>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `work` on the compile pool once the gate lets it in. `tenant` is the deploying
    /// tenant (one compile each); `None` for a node compiling a version it has not seen, which
    /// waits up to the compile deadline instead of `compile_wait_ms`.
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: Option<TenantId>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CompileRefusal> {
        if let Some(tenant) = tenant
            && !self.lock().insert(tenant)
        {
            self.refused_tenant.fetch_add(1, Ordering::Relaxed);
            return Err(CompileRefusal::TenantBusy);
        }
        let _tenant = TenantSlot { gate: self, tenant };
        let wait = match tenant {
            Some(_) => self.limits.wait,
            None => self.limits.timeout,
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let Ok(Ok(permit)) = permit else {
            self.refused_busy.fetch_add(1, Ordering::Relaxed);
            return Err(CompileRefusal::Busy {
                running: self.limits.max_concurrent,
            });
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let running = self.running.clone();
        let compiled = self.compiled.clone();
        running.fetch_add(1, Ordering::Relaxed);
        self.pool.spawn(move || {
            // The permit is held until the compile really ends, even past its deadline: a
            // compile cannot be stopped, and the gate must count what uses the cores.
            let _permit = permit;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            running.fetch_sub(1, Ordering::Relaxed);
            compiled.fetch_add(1, Ordering::Relaxed);
            let _ = sender.send(result);
        });
        match tokio::time::timeout(self.limits.timeout, receiver).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(_))) => Err(CompileRefusal::Failed("compile panicked".into())),
            Ok(Err(_)) => Err(CompileRefusal::Failed("compile thread went away".into())),
            Err(_) => {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(CompileRefusal::TimedOut {
                    timeout_ms: u64::try_from(self.limits.timeout.as_millis()).unwrap_or(u64::MAX),
                })
            }
        }
    }

    /// Compiles waiting for the gate now.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Compiles running now.
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::Relaxed)
    }

    /// Compiles that ran to their end.
    pub fn compiled(&self) -> u64 {
        self.compiled.load(Ordering::Relaxed)
    }

    /// Refusals by reason: the gate stayed full, the tenant had one already, the deadline passed.
    pub fn refusals(&self) -> [(&'static str, u64); 3] {
        [
            ("busy", self.refused_busy.load(Ordering::Relaxed)),
            ("tenant_busy", self.refused_tenant.load(Ordering::Relaxed)),
            ("timeout", self.timed_out.load(Ordering::Relaxed)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_gate(wait_ms: u64, timeout_ms: u64) -> CompileGate {
        CompileGate::new(CompileLimits {
            max_concurrent: 1,
            wait: Duration::from_millis(wait_ms),
            timeout: Duration::from_millis(timeout_ms),
            threads: 1,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn one_compile_at_a_time_one_per_tenant_and_a_deadline() {
        let gate = Arc::new(new_gate(50, 10_000));
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let first = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(Some(TenantId(1)), move || blocked.recv().map(|()| 1))
                    .await
            })
        };
        while gate.running() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            gate.run(Some(TenantId(1)), || 2).await,
            Err(CompileRefusal::TenantBusy)
        );
        assert_eq!(
            gate.run(Some(TenantId(2)), || 3).await,
            Err(CompileRefusal::Busy { running: 1 })
        );
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(Ok(1)));
        assert_eq!(gate.run(Some(TenantId(2)), || 4).await, Ok(4));
        assert_eq!(
            gate.refusals(),
            [("busy", 1), ("tenant_busy", 1), ("timeout", 0)]
        );

        let slow = new_gate(50, 20);
        let err = slow
            .run(Some(TenantId(3)), || {
                std::thread::sleep(Duration::from_millis(200))
            })
            .await
            .unwrap_err();
        assert_eq!(err, CompileRefusal::TimedOut { timeout_ms: 20 });
        // The tenant may deploy again once its timed-out deploy answered.
        assert!(slow.lock().is_empty());
    }

    #[test]
    fn compile_threads_run_at_a_lower_priority() {
        let gate = new_gate(50, 1000);
        let nice = gate.pool.install(|| {
            // SAFETY: `getpriority` reads the calling thread's nice value.
            #[allow(unsafe_code)]
            unsafe {
                libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
            }
        });
        assert_eq!(nice, COMPILE_NICE);
    }
}
