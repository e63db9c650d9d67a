//! The metering writer: invocations send their records (and captured log lines) over a bounded
//! channel; one background task writes them in batches. A batch is written when it is full or
//! when its *first* record has waited `flush_interval_ms`, whichever comes first — so the
//! interval bounds how long any record waits, however steady the traffic (what a `kill -9`
//! can lose). A flush or a shutdown writes everything received so far, so a clean stop loses
//! nothing.

use crate::MeteringConfig;
use geyser_functions::{InvocationRecord, LogLine, Store};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
        Meter::spawn_with(store, config)
    }

    /// [`Meter::spawn`] writing to any [`RecordSink`].
    pub fn spawn_with<S: RecordSink>(sink: S, config: &MeteringConfig) -> (Meter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let writer = Writer {
            sink,
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

/// Where batches go: the store in a node.
pub trait RecordSink: Send + Sync + 'static {
    type Error: std::fmt::Display + Send;
    fn insert_invocations(
        &self,
        records: &[InvocationRecord],
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
    fn insert_logs(
        &self,
        lines: &[LogLine],
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

impl RecordSink for Store {
    type Error = geyser_functions::Error;
    async fn insert_invocations(&self, records: &[InvocationRecord]) -> Result<(), Self::Error> {
        Store::insert_invocations(self, records).await
    }
    async fn insert_logs(&self, lines: &[LogLine]) -> Result<(), Self::Error> {
        Store::insert_logs(self, lines).await
    }
}

struct Writer<S> {
    sink: S,
    batch_size: usize,
    interval: Duration,
}

impl<S: RecordSink> Writer<S> {
    async fn run(self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Batch::default();
        let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            let command = match batch.since {
                None => rx.recv().await,
                Some(since) => {
                    match tokio::time::timeout_at(since + self.interval, rx.recv()).await {
                        Ok(command) => command,
                        Err(_elapsed) => {
                            self.write(&mut batch).await;
                            continue;
                        }
                    }
                }
            };
            match command {
                Some(Command::Record(record)) => {
                    batch.push_record(record);
                    if batch.len() >= self.batch_size {
                        self.write(&mut batch).await;
                    }
                }
                Some(Command::Logs(lines)) => {
                    batch.push_logs(lines);
                    if batch.len() >= self.batch_size {
                        self.write(&mut batch).await;
                    }
                }
                Some(Command::Flush(ack)) => {
                    waiting.push(ack);
                    // Take whatever else is already queued, then write and acknowledge.
                    while let Ok(command) = rx.try_recv() {
                        match command {
                            Command::Record(record) => batch.push_record(record),
                            Command::Logs(lines) => batch.push_logs(lines),
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
            while let Err(err) = self.sink.insert_invocations(chunk).await {
                tracing::error!(error = %err, records = chunk.len(), "writing invocation records failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
        for chunk in batch.logs.chunks(self.batch_size) {
            while let Err(err) = self.sink.insert_logs(chunk).await {
                tracing::error!(error = %err, lines = chunk.len(), "writing log lines failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
        batch.clear();
    }
}

/// What the writer holds between writes.
#[derive(Default)]
struct Batch {
    records: Vec<InvocationRecord>,
    logs: Vec<LogLine>,
    /// When the oldest item arrived (`None` while empty): the batch is written at the latest
    /// `flush_interval_ms` after it.
    since: Option<Instant>,
}

impl Batch {
    fn len(&self) -> usize {
        self.records.len() + self.logs.len()
    }

    fn push_record(&mut self, record: InvocationRecord) {
        self.since.get_or_insert_with(Instant::now);
        self.records.push(record);
    }

    fn push_logs(&mut self, lines: Vec<LogLine>) {
        self.since.get_or_insert_with(Instant::now);
        self.logs.extend(lines);
    }

    fn clear(&mut self) {
        self.records.clear();
        self.logs.clear();
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geyser_functions::{FunctionName, InvocationId, Outcome, TenantId, TriggerKind, Version};
    use std::sync::{Arc, Mutex};

    /// Records what reached the "database", with the (paused) time it arrived.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<(Duration, usize)>>>);

    impl RecordSink for (Written, Instant) {
        type Error = String;
        async fn insert_invocations(&self, records: &[InvocationRecord]) -> Result<(), String> {
            let mut written = self.0.0.lock().unwrap();
            written.push((self.1.elapsed(), records.len()));
            Ok(())
        }
        async fn insert_logs(&self, _: &[LogLine]) -> Result<(), String> {
            Ok(())
        }
    }

    fn record() -> InvocationRecord {
        InvocationRecord {
            id: InvocationId::new(),
            tenant: TenantId(1),
            function: FunctionName::parse("f").unwrap(),
            version: Version(1),
            trigger: TriggerKind::Http,
            started_at_ms: 0,
            wall_ns: 1,
            cpu_ns: 1,
            peak_memory_bytes: 1,
            memory_limit_bytes: 1,
            outcome: Outcome::Ok,
            traceparent: None,
            outbound_requests: 0,
            outbound_bytes: 0,
            outbound_wait_ns: 0,
            http_status: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn steady_traffic_cannot_hold_a_record_past_the_flush_interval() {
        let written = Written::default();
        let config = MeteringConfig {
            enabled: true,
            batch_size: 1000,
            flush_interval_ms: 200,
            raw_retention_days: 30,
            ..MeteringConfig::default()
        };
        let (meter, writer) = Meter::spawn_with((written.clone(), Instant::now()), &config);
        // One record every 50 ms for 1 s: never a full batch, never a 200 ms silence.
        for _ in 0..20 {
            meter.record(record());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen = written.0.lock().unwrap().clone();
        assert!(
            !seen.is_empty(),
            "nothing written after 1 s of steady traffic"
        );
        // The first batch went out 200 ms after its first record (t = 0), not at the end.
        assert_eq!(seen[0].0, Duration::from_millis(200));
        // Records at 0, 50, 100, 150 ms (and the one at 200 ms if it arrived first).
        assert!((4..=5).contains(&seen[0].1), "{seen:?}");
        assert!(seen.iter().map(|(_, n)| n).sum::<usize>() >= 16);
        drop(meter);
        writer.await.unwrap();
        let total: usize = written.0.lock().unwrap().iter().map(|(_, n)| n).sum();
        assert_eq!(total, 20, "a clean stop writes the rest");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_is_written_at_once_and_flush_acknowledges_after_writing() {
        let written = Written::default();
        let config = MeteringConfig {
            enabled: true,
            batch_size: 3,
            flush_interval_ms: 10_000,
            raw_retention_days: 30,
            ..MeteringConfig::default()
        };
        let (meter, _writer) = Meter::spawn_with((written.clone(), Instant::now()), &config);
        for _ in 0..4 {
            meter.record(record());
        }
        meter.flush().await;
        let seen = written.0.lock().unwrap().clone();
        assert_eq!(seen, vec![(Duration::ZERO, 3), (Duration::ZERO, 1)]);
    }
}
