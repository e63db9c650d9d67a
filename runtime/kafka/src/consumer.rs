//! One binding's consumer: a consumer group member that hands each assigned partition to its
//! own worker task. Ordered bindings process a partition's records one at a time, in batches
//! that share one database transaction (each record undone alone if it fails); unordered ones up to
//! a limit at once, each in its own transaction. An offset is stored for commit only after its
//! record was processed (the function returned ok and its processed mark committed) or
//! dead-lettered. A worker that falls behind pauses its partition instead of buffering without
//! bound.

use crate::producer::{Outgoing, Publisher};
use crate::retry::{Attempt, RetryPolicy, Step};
use crate::stats::BindingStats;
use geyser_engine::{Event, InvocationExtras, Invoker};
use geyser_functions::{
    KafkaBinding, RouteCache, Selector, SharedKvTransaction, StartFrom, Store, TenantName,
    TriggerKind,
};
use geyser_quotas::{QuotaGuard, QuotaKv};
use rdkafka::TopicPartitionList;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::statistics::Statistics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Tuning shared by every binding of a node (from `[kafka]` in the config).
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub connection: crate::KafkaConnection,
    pub partition_buffer: usize,
    pub partition_buffer_bytes: usize,
    pub unordered_concurrency: usize,
    pub max_backoff: Duration,
    /// Records of an ordered binding's partition committed in one transaction, at most.
    pub batch_records: usize,
    /// A batch stops taking records after running this long (it holds SQLite's write lock).
    pub batch_time: Duration,
}

/// How a batch of an ordered partition's records ended.
enum BatchEnd {
    /// The first `committed` records are processed (their marks committed); the rest were not
    /// started (the batch's time ran out, or the partition was cancelled).
    Committed { committed: usize },
    /// The first `committed` records are processed; the next one failed its first attempt
    /// with `outcome` (its writes undone) and continues alone.
    Failed { committed: usize, outcome: Attempt },
    /// The transaction failed (nothing committed): the first record is delivered alone.
    Unbatched,
}

/// What a binding's workers share.
pub(crate) struct BindingWorker {
    pub binding: KafkaBinding,
    pub tenant: TenantName,
    pub invoker: Invoker,
    pub store: Store,
    pub routes: Arc<RouteCache>,
    /// Wraps each delivery's transaction in the tenant's kv key quota.
    pub quotas: Arc<QuotaGuard>,
    pub publisher: Publisher,
    pub settings: ConsumerSettings,
    pub stats: Arc<BindingStats>,
}

/// One assigned partition as the receive loop and its worker see it.
struct PartitionState {
    /// Cancelled when the partition is revoked or the binding stops: the worker ends after the
    /// record in hand (waits and backoffs end at once), and stores no offset for records it did
    /// not finish.
    cancelled: CancellationToken,
    paused: AtomicBool,
    queued: AtomicUsize,
    /// Key and payload bytes of the queued records.
    queued_bytes: AtomicUsize,
    records: mpsc::UnboundedSender<OwnedMessage>,
}

type Partitions = Arc<Mutex<HashMap<i32, Arc<PartitionState>>>>;

fn lock(partitions: &Partitions) -> std::sync::MutexGuard<'_, HashMap<i32, Arc<PartitionState>>> {
    partitions.lock().unwrap_or_else(|e| e.into_inner())
}

/// librdkafka callbacks: revocations cancel partition workers; statistics give the lag.
struct BindingContext {
    topic: String,
    partitions: Partitions,
    stats: Arc<BindingStats>,
}

impl ClientContext for BindingContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            // Only the partitions this member fetches now: librdkafka keeps reporting the last
            // lag of partitions a rebalance took away ("none" fetch state), which would count
            // another node's backlog twice.
            let lag: i64 = topic
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.fetch_state != "none")
                .map(|p| {
                    if p.consumer_lag_stored >= 0 {
                        p.consumer_lag_stored
                    } else {
                        p.consumer_lag.max(0)
                    }
                })
                .sum();
            self.stats.lag.store(lag, Ordering::Relaxed);
        } else {
            // No partition of the topic left here (a rebalance gave them all to other
            // members): this member has no backlog of its own.
            self.stats.lag.store(0, Ordering::Relaxed);
        }
    }
}

impl ConsumerContext for BindingContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut partitions = lock(&self.partitions);
            for element in list.elements() {
                if let Some(state) = partitions.remove(&element.partition()) {
                    state.cancelled.cancel();
                    if state.paused.swap(false, Ordering::AcqRel) {
                        self.stats.paused_partitions.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            let revoked = list
                .elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .count();
            let before = self.stats.assigned_partitions.load(Ordering::Relaxed);
            self.stats.assigned_partitions.store(
                (before - i64::try_from(revoked).unwrap_or(0)).max(0),
                Ordering::Relaxed,
            );
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let assigned = list
                .elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .count();
            self.stats
                .assigned_partitions
                .store(i64::try_from(assigned).unwrap_or(0), Ordering::Relaxed);
        }
    }
}

type BindingConsumer = StreamConsumer<BindingContext>;

/// The consumer group of a binding: stable across nodes and restarts, new for a new binding.
pub(crate) fn group_id(worker: &BindingWorker) -> String {
    format!(
        "geyser.{}.{}.{}",
        worker.tenant, worker.binding.function, worker.binding.id
    )
}

fn one_partition(topic: &str, partition: i32) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    list
}

/// Runs the binding's consumer until `stop` is cancelled, then finishes records in hand and
/// commits what was processed.
pub(crate) async fn run(worker: Arc<BindingWorker>, stop: CancellationToken) {
    let binding = &worker.binding;
    let partitions: Partitions = Arc::default();
    let context = BindingContext {
        topic: binding.topic.clone(),
        partitions: partitions.clone(),
        stats: worker.stats.clone(),
    };
    let created: Result<BindingConsumer, _> = worker
        .settings
        .connection
        .client_config()
        .set("group.id", group_id(&worker))
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match binding.start {
                StartFrom::Earliest => "earliest",
                StartFrom::Latest => "latest",
            },
        )
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set("statistics.interval.ms", "1000")
        .set("queued.max.messages.kbytes", "4096")
        // A topic created after its binding is noticed within seconds, not minutes.
        .set("topic.metadata.refresh.interval.ms", "5000")
        .create_with_context(context);
    let consumer = match created.and_then(|c| {
        c.subscribe(&[&binding.topic])?;
        Ok(c)
    }) {
        Ok(consumer) => Arc::new(consumer),
        Err(err) => {
            tracing::error!(tenant = %worker.tenant, function = %binding.function, topic = %binding.topic, error = %err, "cannot start Kafka consumer");
            return;
        }
    };
    tracing::info!(tenant = %worker.tenant, function = %binding.function, topic = %binding.topic, group = %group_id(&worker), "Kafka consumer started");

    let (resume_tx, mut resume_rx) = mpsc::unbounded_channel::<i32>();
    let mut workers = JoinSet::new();
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(partition) = resume_rx.recv() => {
                let state = lock(&partitions).get(&partition).cloned();
                if let Some(state) = state
                    && state.paused.swap(false, Ordering::AcqRel)
                {
                    worker.stats.paused_partitions.fetch_sub(1, Ordering::Relaxed);
                    if let Err(err) = consumer.resume(&one_partition(&binding.topic, partition)) {
                        tracing::warn!(partition, error = %err, "cannot resume partition");
                    }
                }
            }
            received = consumer.recv() => match received {
                Err(err) => {
                    // Logged when it changes, not every retry (a topic that does not exist yet
                    // fails the same way until it is created).
                    let text = err.to_string();
                    if last_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!(topic = %binding.topic, error = %text, "Kafka receive failed; retrying");
                        last_error = Some(text);
                    }
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                Ok(message) => {
                    last_error = None;
                    let message = message.detach();
                    let partition = message.partition();
                    let state = partition_state(&partitions, partition, || {
                        let (tx, rx) = mpsc::unbounded_channel();
                        let state = Arc::new(PartitionState {
                            cancelled: stop.child_token(),
                            paused: AtomicBool::new(false),
                            queued: AtomicUsize::new(0),
                            queued_bytes: AtomicUsize::new(0),
                            records: tx,
                        });
                        workers.spawn(partition_worker(
                            worker.clone(),
                            consumer.clone(),
                            state.clone(),
                            rx,
                            resume_tx.clone(),
                            partition,
                        ));
                        state
                    });
                    let queued = state.queued.fetch_add(1, Ordering::AcqRel) + 1;
                    let size = record_bytes(&message);
                    let bytes = state.queued_bytes.fetch_add(size, Ordering::AcqRel) + size;
                    let _ = state.records.send(message);
                    let full = queued >= worker.settings.partition_buffer
                        || bytes >= worker.settings.partition_buffer_bytes;
                    if full && !state.paused.swap(true, Ordering::AcqRel)
                    {
                        worker.stats.paused_partitions.fetch_add(1, Ordering::Relaxed);
                        worker.stats.pauses.fetch_add(1, Ordering::Relaxed);
                        if let Err(err) = consumer.pause(&one_partition(&binding.topic, partition)) {
                            tracing::warn!(partition, error = %err, "cannot pause partition");
                        }
                    }
                }
            }
        }
    }

    // Stop: workers finish the record in hand; unfinished records are not committed and will
    // be delivered again (to this group) later.
    for (_, state) in lock(&partitions).drain() {
        state.cancelled.cancel();
    }
    while workers.join_next().await.is_some() {}
    worker.stats.paused_partitions.store(0, Ordering::Relaxed);
    let closing = consumer.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(err) = closing.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %err, "final offset commit");
        }
        closing.unsubscribe();
    })
    .await;
    tracing::info!(tenant = %worker.tenant, function = %binding.function, topic = %binding.topic, "Kafka consumer stopped");
}

/// The live state of `partition`, or a new one (and its worker) after an assignment.
fn partition_state(
    partitions: &Partitions,
    partition: i32,
    create: impl FnOnce() -> Arc<PartitionState>,
) -> Arc<PartitionState> {
    let mut map = lock(partitions);
    match map.get(&partition) {
        Some(state) if !state.cancelled.is_cancelled() => state.clone(),
        _ => {
            let state = create();
            map.insert(partition, state.clone());
            state
        }
    }
}

async fn partition_worker(
    worker: Arc<BindingWorker>,
    consumer: Arc<BindingConsumer>,
    state: Arc<PartitionState>,
    mut records: mpsc::UnboundedReceiver<OwnedMessage>,
    resume: mpsc::UnboundedSender<i32>,
    partition: i32,
) {
    let store_offset =
        |offset: i64| match consumer.store_offset(&worker.binding.topic, partition, offset) {
            Ok(()) => true,
            Err(err) => {
                // The partition was revoked meanwhile; its new owner skips what we processed.
                tracing::debug!(partition, error = %err, "cannot store offset");
                false
            }
        };
    let limit = if worker.binding.ordered {
        worker.settings.batch_records
    } else {
        worker.settings.unordered_concurrency
    };
    loop {
        let first = tokio::select! {
            () = state.cancelled.cancelled() => return,
            record = records.recv() => match record {
                Some(record) => record,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < limit {
            match records.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        if worker.binding.ordered {
            if !worker.deliver_in_order(&batch, &state, &store_offset).await {
                return;
            }
        } else {
            let results = futures::future::join_all(
                batch.iter().map(|record| worker.deliver(record, &state)),
            )
            .await;
            if results.iter().any(|done| !done) {
                return;
            }
            if let Some(last) = batch.iter().map(Message::offset).max()
                && !store_offset(last)
            {
                return;
            }
        }
        let left = state.queued.fetch_sub(batch.len(), Ordering::AcqRel) - batch.len();
        let done_bytes: usize = batch.iter().map(record_bytes).sum();
        let left_bytes = state.queued_bytes.fetch_sub(done_bytes, Ordering::AcqRel) - done_bytes;
        if left <= worker.settings.partition_buffer / 2
            && left_bytes <= worker.settings.partition_buffer_bytes / 2
            && state.paused.load(Ordering::Acquire)
        {
            let _ = resume.send(partition);
        }
        if state.cancelled.is_cancelled() {
            return;
        }
    }
}

fn record_bytes(record: &OwnedMessage) -> usize {
    record.key().map_or(0, <[u8]>::len) + record.payload().map_or(0, <[u8]>::len)
}

/// Sleeps `duration` unless the partition is cancelled first (`false`).
async fn pause_unless_cancelled(state: &PartitionState, duration: Duration) -> bool {
    tokio::select! {
        () = state.cancelled.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

impl BindingWorker {
    fn event_id(record: &OwnedMessage) -> String {
        format!(
            "{}/{}/{}",
            record.topic(),
            record.partition(),
            record.offset()
        )
    }

    fn headers(record: &OwnedMessage) -> Vec<(String, Vec<u8>)> {
        record
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.binding.max_attempts,
            backoff: Duration::from_millis(self.binding.backoff_ms),
            max_backoff: self.settings.max_backoff,
        }
    }

    /// Processes an ordered partition's records in order, in batches: each batch's records run
    /// in one transaction and their offsets are stored once it commits. A record that fails
    /// ends its batch (the ones before it commit) and is retried alone, then batching resumes.
    /// `false`: stopped (partition revoked or node stopping); what was not committed is not
    /// stored and will be delivered again.
    async fn deliver_in_order(
        &self,
        records: &[OwnedMessage],
        state: &PartitionState,
        store_offset: &(dyn Fn(i64) -> bool + Sync),
    ) -> bool {
        let mut next = 0;
        while next < records.len() {
            if state.cancelled.is_cancelled() {
                return false;
            }
            let (committed, alone) = match self.batch(&records[next..], state).await {
                BatchEnd::Committed { committed } => (committed, None),
                BatchEnd::Failed { committed, outcome } => (committed, Some(Some(outcome))),
                BatchEnd::Unbatched => (0, Some(None)),
            };
            if committed > 0 {
                next += committed;
                if !store_offset(records[next - 1].offset()) {
                    return false;
                }
            }
            if let Some(first) = alone {
                let record = &records[next];
                let done = match first {
                    Some(outcome) => {
                        self.retry(record, &Self::event_id(record), state, Some(outcome))
                            .await
                    }
                    None => self.deliver(record, state).await,
                };
                if !done || !store_offset(record.offset()) {
                    return false;
                }
                next += 1;
            }
        }
        true
    }

    /// Runs `records` from the first, each once, in one transaction (an optimistic one: on
    /// SQLite the write lock is taken only to commit, so partitions run side by side): every
    /// record as an event
    /// of the transaction (undone alone if it fails) whose first write is its processed mark (an
    /// already marked record is skipped as a duplicate). Stops at the first failure, after
    /// `batch_time`, or when cancelled, and commits what succeeded.
    async fn batch(&self, records: &[OwnedMessage], state: &PartitionState) -> BatchEnd {
        let started = std::time::Instant::now();
        let mut kv = self.store.kv_batch_transaction();
        let mut committed = 0;
        let mut duplicates = 0u64;
        let mut failed = None;
        // One question for the batch's marks instead of one per record.
        let ids: Vec<String> = records.iter().map(Self::event_id).collect();
        if let Err(err) = self
            .store
            .processed_among(&mut kv, self.binding.id, &ids)
            .await
        {
            tracing::warn!(binding = %self.binding.id, error = %err, "cannot look up the batch's processed marks");
            return BatchEnd::Unbatched;
        }
        for (record, id) in records.iter().zip(ids) {
            if state.cancelled.is_cancelled()
                || (committed > 0 && started.elapsed() >= self.settings.batch_time)
            {
                break;
            }
            if let Err(err) = kv.begin_event().await {
                tracing::warn!(event = %id, error = %err, "cannot start the event in its batch");
                return BatchEnd::Unbatched;
            }
            match self.store.mark_event(&mut kv, self.binding.id, &id).await {
                Ok(true) => {}
                Ok(false) => {
                    if kv.keep_event().await.is_err() {
                        return BatchEnd::Unbatched;
                    }
                    duplicates += 1;
                    committed += 1;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(event = %id, error = %err, "cannot mark the event processed");
                    return BatchEnd::Unbatched;
                }
            }
            let shared = Arc::new(SharedKvTransaction::continuing(&self.store, kv));
            let outcome = self.run(record, &id, 1, shared.clone()).await;
            kv = shared.take().await;
            let kept = match outcome {
                None => kv.keep_event().await,
                Some(_) => kv.undo_event().await,
            };
            if let Err(err) = kept {
                tracing::warn!(event = %id, error = %err, "cannot end the event in its batch");
                return BatchEnd::Unbatched;
            }
            match outcome {
                None => committed += 1,
                Some(outcome) => {
                    failed = Some(outcome);
                    break;
                }
            }
        }
        match kv.commit().await {
            Ok(()) => {}
            // Another writer changed a key the batch read: expected under contention.
            Err(geyser_functions::Error::ReadsChanged) => {
                tracing::info!(binding = %self.binding.id, "a batch's reads changed before it committed; its first record runs alone");
                return BatchEnd::Unbatched;
            }
            Err(err) => {
                tracing::warn!(binding = %self.binding.id, error = %err, "cannot commit a batch of events");
                return BatchEnd::Unbatched;
            }
        }
        if committed > 0 {
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
        }
        // Counted once committed: a batch that did not commit delivered nothing.
        self.stats
            .duplicates
            .fetch_add(duplicates, Ordering::Relaxed);
        self.stats
            .delivered
            .fetch_add(committed as u64 - duplicates, Ordering::Relaxed);
        match failed {
            Some(outcome) => BatchEnd::Failed { committed, outcome },
            None => BatchEnd::Committed { committed },
        }
    }

    /// Processes one record to the end: ok, duplicate or dead-lettered (`true`), or stopped
    /// because the partition was revoked or the node is stopping (`false`: not committed).
    async fn deliver(&self, record: &OwnedMessage, state: &PartitionState) -> bool {
        let id = Self::event_id(record);
        match self.store.event_processed(self.binding.id, &id).await {
            Ok(true) => {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(event = %id, error = %err, "cannot check processed mark"),
        }
        self.retry(record, &id, state, None).await
    }

    /// [`BindingWorker::deliver`] after the processed check; `first`: how the first attempt
    /// already ended (in a batch), so the next one is attempt 2.
    async fn retry(
        &self,
        record: &OwnedMessage,
        id: &str,
        state: &PartitionState,
        mut first: Option<Attempt>,
    ) -> bool {
        let policy = self.retry_policy();
        let mut attempt = 1u32;
        loop {
            if state.cancelled.is_cancelled() {
                return false;
            }
            let outcome = match first.take() {
                Some(outcome) => outcome,
                None => self.attempt(record, id, attempt).await,
            };
            match policy.after(attempt, outcome) {
                Step::Delivered => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Step::Duplicate => {
                    self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Step::DeadLetter(reason) => {
                    return self.dead_letter(record, id, &reason, attempt, state).await;
                }
                Step::Retry {
                    after,
                    attempt: next,
                    failed,
                } => {
                    if let Some(reason) = failed {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(tenant = %self.tenant, function = %self.binding.function, event = %id, attempt, error = %reason, "event failed; retrying");
                    }
                    if !pause_unless_cancelled(state, after).await {
                        return false;
                    }
                    attempt = next;
                }
            }
        }
    }

    /// One attempt in a transaction of its own, committed with the record's mark.
    async fn attempt(&self, record: &OwnedMessage, id: &str, attempt: u32) -> Attempt {
        let transaction = Arc::new(SharedKvTransaction::new(&self.store));
        if let Some(failed) = self.run(record, id, attempt, transaction.clone()).await {
            return failed;
        }
        let transaction = transaction.take().await;
        match self
            .store
            .commit_event(transaction, self.binding.id, id)
            .await
        {
            Ok(true) => Attempt::Done,
            Ok(false) => Attempt::Duplicate,
            Err(err) => Attempt::Failed(format!("cannot record the event: {err}")),
        }
    }

    /// Runs the function on the record with its kv in `transaction`; `None` when it returned
    /// ok (nothing is committed here), else how the attempt failed.
    async fn run(
        &self,
        record: &OwnedMessage,
        id: &str,
        attempt: u32,
        transaction: Arc<SharedKvTransaction>,
    ) -> Option<Attempt> {
        let selector = Selector::Alias(self.binding.alias.clone());
        let function = match self
            .routes
            .route(&self.store, &self.tenant, &self.binding.function, &selector)
            .await
        {
            Ok(Some(route)) => route.pick_without_headers(),
            Ok(None) => return Some(Attempt::Failed("the function no longer exists".into())),
            Err(err) => {
                return Some(Attempt::Failed(format!(
                    "cannot look up the function: {err}"
                )));
            }
        };
        let headers = Self::headers(record);
        let traceparent = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
            .map(str::to_owned);
        let event = Event {
            id: id.to_owned(),
            source: "kafka".into(),
            topic: record.topic().to_owned(),
            key: record.key().map(<[u8]>::to_vec),
            payload: record.payload().unwrap_or_default().to_vec(),
            headers,
            attempt,
        };
        let extras = InvocationExtras {
            kv: Some(Arc::new(QuotaKv::new(
                transaction.clone(),
                self.quotas.clone(),
                self.store.clone(),
            ))),
            traceparent,
        };
        match self
            .invoker
            .invoke_event_with(function, TriggerKind::Kafka, event, extras)
            .await
        {
            Ok(_) => None,
            // Refused before it ran (no free slot, a quota, the tenant's budget is spent or the
            // tenant is disabled), or cut short because the node's guest memory ran out: wait
            // without using an attempt (the record stays in Kafka until it passes).
            Err(err) if err.transient().is_some() => Some(Attempt::Busy),
            Err(err) => Some(Attempt::Failed(err.to_string())),
        }
    }

    /// Parks a record that failed its last attempt in the dead-letter topic, then marks it
    /// processed. Retries the write until it succeeds or the partition is taken away.
    async fn dead_letter(
        &self,
        record: &OwnedMessage,
        id: &str,
        reason: &str,
        attempts: u32,
        state: &PartitionState,
    ) -> bool {
        let mut headers = Self::headers(record);
        headers.extend([
            ("geyser-error".to_owned(), reason.as_bytes().to_vec()),
            (
                "geyser-attempts".to_owned(),
                attempts.to_string().into_bytes(),
            ),
            (
                "geyser-original-topic".to_owned(),
                record.topic().as_bytes().to_vec(),
            ),
            (
                "geyser-original-partition".to_owned(),
                record.partition().to_string().into_bytes(),
            ),
            (
                "geyser-original-offset".to_owned(),
                record.offset().to_string().into_bytes(),
            ),
            (
                "geyser-function".to_owned(),
                self.binding.function.as_str().as_bytes().to_vec(),
            ),
        ]);
        loop {
            let sent = self
                .publisher
                .send(Outgoing {
                    topic: &self.binding.dead_letter_topic,
                    key: record.key(),
                    payload: record.payload().unwrap_or_default(),
                    headers: headers.clone(),
                })
                .await;
            match sent {
                Ok(_) => break,
                Err(err) => {
                    tracing::error!(event = %id, dead_letter_topic = %self.binding.dead_letter_topic, error = %err, "cannot dead-letter event; retrying");
                    let wait = self.settings.max_backoff.min(Duration::from_secs(2));
                    if !pause_unless_cancelled(state, wait).await {
                        return false;
                    }
                }
            }
        }
        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(tenant = %self.tenant, function = %self.binding.function, event = %id, attempts, error = %reason, dead_letter_topic = %self.binding.dead_letter_topic, "event dead-lettered");
        if let Err(err) = self
            .store
            .commit_event(self.store.kv_transaction(), self.binding.id, id)
            .await
        {
            tracing::warn!(event = %id, error = %err, "cannot mark dead-lettered event processed");
        }
        true
    }
}
