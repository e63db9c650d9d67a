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
use tokio::sync::{Notify, mpsc, oneshot};

/// The queue as the HTTP edge sees it. Cheap to clone.
#[derive(Clone)]
pub struct AsyncQueue {
    wake: Arc<Notify>,
    stats: Arc<QueueStats>,
    config: AsyncConfig,
    accepts: mpsc::Sender<Pending>,
}

/// An accept waiting for the group commit.
struct Pending {
    new: NewQueued,
    max_queued: u64,
    done: oneshot::Sender<Result<bool, String>>,
}

/// Inserts written in one transaction at most.
const GROUP_COMMIT: usize = 256;

/// Why a call could not be queued (the database failed; nothing was written).
#[derive(Debug, thiserror::Error)]
#[error("cannot queue the invocation: {0}")]
pub struct AcceptError(String);

impl AsyncQueue {
    /// The queue and its writer task (which ends when the last clone is dropped).
    pub fn new(store: Store, config: AsyncConfig) -> AsyncQueue {
        let (accepts, pending) = mpsc::channel(GROUP_COMMIT * 4);
        tokio::spawn(group_commit(store, pending));
        AsyncQueue {
            wake: Arc::default(),
            stats: Arc::default(),
            config,
            accepts,
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
    /// Concurrent accepts share one transaction.
    pub async fn accept(&self, new: NewQueued, max_queued: u64) -> Result<bool, AcceptError> {
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            new,
            max_queued,
            done,
        };
        self.accepts
            .send(pending)
            .await
            .map_err(|_| AcceptError("the queue writer stopped".into()))?;
        let accepted = answer
            .await
            .map_err(|_| AcceptError("the queue writer stopped".into()))?
            .map_err(AcceptError)?;
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

/// Writes what is waiting in one transaction, answers each, and goes again.
async fn group_commit(store: Store, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(GROUP_COMMIT);
    while pending.recv_many(&mut batch, GROUP_COMMIT).await > 0 {
        let (items, answers): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|p| ((p.new, p.max_queued), p.done))
            .unzip();
        match store.enqueue_many(&items).await {
            Ok(accepted) => {
                for (done, accepted) in answers.into_iter().zip(accepted) {
                    let _ = done.send(Ok(accepted));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, calls = items.len(), "cannot queue asynchronous calls");
                for done in answers {
                    let _ = done.send(Err(err.to_string()));
                }
            }
        }
    }
}
