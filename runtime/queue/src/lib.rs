//! Asynchronous invocation. [`AsyncQueue`] is what the HTTP edge holds: it writes an accepted
//! call to the database (the 202 follows the commit) and wakes this node's workers.
//! [`QueueWorkers`] run on every node: they take due invocations from the shared queue, run
//! them through the engine's [`Invoker`](geyser_engine::Invoker) (same admission, quotas,
//! budget and metering, trigger `async`) with their kv writes in one transaction that also
//! ends the row, retry failed attempts with backoff, expire what grew too old, and report ended
//! invocations to their function's destinations.

mod config;
mod report;
mod stats;
mod worker;

pub use config::AsyncConfig;
pub use stats::QueueStats;
pub use worker::{QueueParts, QueueWorkers};

use geyser_functions::{NewQueued, Store};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::Notify;

/// The queue as the HTTP edge sees it. Cheap to clone.
#[derive(Clone)]
pub struct AsyncQueue {
    store: Store,
    wake: Arc<Notify>,
    stats: Arc<QueueStats>,
    config: AsyncConfig,
}

impl AsyncQueue {
    pub fn new(store: Store, config: AsyncConfig) -> AsyncQueue {
        AsyncQueue {
            store,
            wake: Arc::default(),
            stats: Arc::default(),
            config,
        }
    }

    pub fn config(&self) -> &AsyncConfig {
        &self.config
    }

    pub fn stats(&self) -> Arc<QueueStats> {
        self.stats.clone()
    }

    /// Writes `new` to the queue unless its tenant has `max_queued` waiting or running
    /// (`false`); committed when this returns `true`, and this node's workers are woken.
    pub async fn accept(&self, new: &NewQueued, max_queued: u64) -> geyser_functions::Result<bool> {
        let accepted = self.store.enqueue(new, max_queued).await?;
        if accepted {
            self.stats.accepted.fetch_add(1, Ordering::Relaxed);
            self.wake.notify_one();
        } else {
            self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
        }
        Ok(accepted)
    }

    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }
}
