//! CPU time of a future: the thread CPU clock read around every poll and summed, so time the
//! future spends waiting (I/O, queueing, other tasks on the same thread) is not counted. The
//! running total is readable from inside a poll (the epoch callback enforcing a CPU limit).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// The CPU time of one future: the sum over its finished polls, and where the running poll
/// started on its thread's clock.
#[derive(Debug, Default)]
pub struct CpuClock {
    total_ns: AtomicU64,
    poll_started_ns: AtomicU64,
}

impl CpuClock {
    /// CPU time of the finished polls.
    pub fn total_ns(&self) -> u64 {
        self.total_ns.load(Ordering::Relaxed)
    }

    /// CPU time so far, the running poll included. Only meaningful on the thread polling the
    /// future (from inside its poll).
    pub fn in_poll_ns(&self) -> u64 {
        self.total_ns()
            + thread_cpu_ns().saturating_sub(self.poll_started_ns.load(Ordering::Relaxed))
    }
}

/// A future that adds the CPU time of each of its polls to a shared clock (or, without one,
/// just polls: metering switched off and no CPU limit).
pub struct CpuTimed<F> {
    inner: Pin<Box<F>>,
    clock: Option<Arc<CpuClock>>,
}

impl<F> CpuTimed<F> {
    pub fn new(inner: F, clock: Option<Arc<CpuClock>>) -> Self {
        Self {
            inner: Box::pin(inner),
            clock,
        }
    }
}

fn thread_cpu_ns() -> u64 {
    cpu_time::ThreadTime::try_now()
        .map(|t| u64::try_from(t.as_duration().as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl<F: Future> Future for CpuTimed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let Some(clock) = &this.clock else {
            return this.inner.as_mut().poll(cx);
        };
        let start = thread_cpu_ns();
        clock.poll_started_ns.store(start, Ordering::Relaxed);
        let result = this.inner.as_mut().poll(cx);
        clock
            .total_ns
            .fetch_add(thread_cpu_ns().saturating_sub(start), Ordering::Relaxed);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_busy_polls_but_not_sleeping() {
        let cpu = Arc::new(CpuClock::default());
        CpuTimed::new(
            tokio::time::sleep(std::time::Duration::from_millis(50)),
            Some(cpu.clone()),
        )
        .await;
        let slept = cpu.total_ns();
        assert!(slept < 20_000_000, "sleeping cost {slept} ns of CPU");

        let busy = Arc::new(CpuClock::default());
        let inside = busy.clone();
        CpuTimed::new(
            async move {
                // Spin until this thread has used 30 ms of CPU (wall time would depend on how
                // busy the machine is).
                let start = thread_cpu_ns();
                let mut x = 0u64;
                while thread_cpu_ns() - start < 30_000_000 {
                    x = x.wrapping_add(1);
                }
                std::hint::black_box(x);
                // Seen from inside the poll, the running poll counts.
                assert!(inside.in_poll_ns() >= 30_000_000);
            },
            Some(busy.clone()),
        )
        .await;
        assert!(busy.total_ns() >= 30_000_000);
    }
}
