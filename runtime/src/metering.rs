//! The metering writer: invocations send their records (and captured log lines) over a bounded
//! channel; one background task writes them in batches. A flush or a shutdown writes everything received so far, so a
//! clean stop loses nothing.

use crate::config::MeteringConfig;
use geyser_functions::{InvocationRecord, LogLine, Store};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

enum Command {
    Record(InvocationRecord),
    Logs(Vec<LogLine>),
    Flush(oneshot::Sender<()>),
}

/// Handle for sending records. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Meter {
    tx: mpsc::Sender<Command>,
    /// `false`: invocation records are dropped (`metering.enabled = false`, for benchmarks).
    enabled: bool,
}

/// Records that wait to be written at most; beyond it, invocations wait (never dropped).
const QUEUE_CAPACITY: usize = 65_536;

impl Meter {
    /// Starts the writer. It stops after every `Meter` clone is dropped, having written all.
    pub fn spawn(store: Store, config: &MeteringConfig) -> (Meter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let writer = Writer {
            store,
            batch_size: config.batch_size,
            interval: Duration::from_millis(config.flush_interval_ms),
        };
        let meter = Meter {
            tx,
            enabled: config.enabled,
        };
        (meter, tokio::spawn(writer.run(rx)))
    }

    /// Whether invocations are metered (records written, CPU time measured).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn record(&self, record: InvocationRecord) {
        if self.enabled {
            self.enqueue(Command::Record(record), "an invocation record");
        }
    }

    /// Queues without waiting: a full queue hands the command to a task that waits for room.
    /// The caller may hold a database transaction the writer needs (a Kafka delivery's kv
    /// transaction), so it must never wait on the writer.
    fn enqueue(&self, command: Command, what: &'static str) {
        match self.tx.try_send(command) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(command)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(command).await.is_err() {
                        tracing::error!("metering writer is gone; {what} was not written");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("metering writer is gone; {what} was not written");
            }
        }
    }

    /// Queues an invocation's captured log lines (written with the next batch).
    pub fn logs(&self, lines: Vec<LogLine>) {
        if lines.is_empty() {
            return;
        }
        self.enqueue(Command::Logs(lines), "log lines");
    }

    /// Returns once every record sent before this call is in the database.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Command::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

struct Writer {
    store: Store,
    batch_size: usize,
    interval: Duration,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Batch::default();
        let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            let command = if batch.is_empty() {
                rx.recv().await
            } else {
                match tokio::time::timeout(self.interval, rx.recv()).await {
                    Ok(command) => command,
                    Err(_elapsed) => {
                        self.write(&mut batch).await;
                        continue;
                    }
                }
            };
            match command {
                Some(Command::Record(record)) => {
                    batch.records.push(record);
                    if batch.len() >= self.batch_size {
                        self.write(&mut batch).await;
                    }
                }
                Some(Command::Logs(lines)) => {
                    batch.logs.extend(lines);
                    if batch.len() >= self.batch_size {
                        self.write(&mut batch).await;
                    }
                }
                Some(Command::Flush(ack)) => {
                    waiting.push(ack);
                    // Take whatever else is already queued, then write and acknowledge.
                    while let Ok(command) = rx.try_recv() {
                        match command {
                            Command::Record(record) => batch.records.push(record),
                            Command::Logs(lines) => batch.logs.extend(lines),
                            Command::Flush(ack) => waiting.push(ack),
                        }
                    }
                    self.write(&mut batch).await;
                    for ack in waiting.drain(..) {
                        let _ = ack.send(());
                    }
                }
                None => {
                    self.write(&mut batch).await;
                    return;
                }
            }
        }
    }

    /// Writes and clears the batch, retrying until the database takes it: records are billing
    /// data and are not dropped because the database was briefly unavailable.
    async fn write(&self, batch: &mut Batch) {
        let mut delay = Duration::from_millis(100);
        for chunk in batch.records.chunks(self.batch_size) {
            while let Err(err) = self.store.insert_invocations(chunk).await {
                tracing::error!(error = %err, records = chunk.len(), "writing invocation records failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
        for chunk in batch.logs.chunks(self.batch_size) {
            while let Err(err) = self.store.insert_logs(chunk).await {
                tracing::error!(error = %err, lines = chunk.len(), "writing log lines failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
        batch.records.clear();
        batch.logs.clear();
    }
}

/// What the writer holds between writes.
#[derive(Default)]
struct Batch {
    records: Vec<InvocationRecord>,
    logs: Vec<LogLine>,
}

impl Batch {
    fn len(&self) -> usize {
        self.records.len() + self.logs.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
