//! CPU time of a future: the thread CPU clock read around every poll and summed, so time the
//! future spends waiting (I/O, queueing, other tasks on the same thread) is not counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// A future that adds the CPU time of each of its polls to a shared counter (or, without a
/// counter, just polls: metering switched off).
pub struct CpuTimed<F> {
    inner: Pin<Box<F>>,
    cpu_ns: Option<Arc<AtomicU64>>,
}

impl<F> CpuTimed<F> {
    pub fn new(inner: F, cpu_ns: Option<Arc<AtomicU64>>) -> Self {
        Self {
            inner: Box::pin(inner),
            cpu_ns,
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
        let Some(cpu_ns) = &this.cpu_ns else {
            return this.inner.as_mut().poll(cx);
        };
        let start = thread_cpu_ns();
        let result = this.inner.as_mut().poll(cx);
        cpu_ns.fetch_add(thread_cpu_ns().saturating_sub(start), Ordering::Relaxed);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_busy_polls_but_not_sleeping() {
        let cpu = Arc::new(AtomicU64::new(0));
        CpuTimed::new(
            tokio::time::sleep(std::time::Duration::from_millis(50)),
            Some(cpu.clone()),
        )
        .await;
        let slept = cpu.load(Ordering::Relaxed);
        assert!(slept < 20_000_000, "sleeping cost {slept} ns of CPU");

        let busy = Arc::new(AtomicU64::new(0));
        CpuTimed::new(
            async {
                // Spin until this thread has used 30 ms of CPU (wall time would depend on how
                // busy the machine is).
                let start = thread_cpu_ns();
                let mut x = 0u64;
                while thread_cpu_ns() - start < 30_000_000 {
                    x = x.wrapping_add(1);
                }
                std::hint::black_box(x);
            },
            Some(busy.clone()),
        )
        .await;
        assert!(busy.load(Ordering::Relaxed) >= 30_000_000);
    }
}
