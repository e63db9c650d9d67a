//! Every node's workers: a loop that takes due invocations (at most `async.workers` running,
//! none of a tenant already at its `max_concurrency` here), and one task per taken invocation
//! that runs it and ends its row.

use crate::report::report_json;
use crate::{AsyncConfig, AsyncQueue, QueueStats};
use bytes::Bytes;
use geyser_core::{
    ActiveFunction, DESTINATION_SOURCE, Destination, Publish, QueuedRequest, QueuedStatus,
    TenantId, TriggerKind, now_ms,
};
use geyser_engine::{Event, InvocationExtras, InvokeError, Invoker};
use geyser_functions::{
    AttemptResult, Claimed, InvocationId, NewQueued, QueuedEnd, Report, RouteCache, Selector,
    SharedKvTransaction, Store,
};
use geyser_quotas::{QuotaGuard, QuotaKv};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the workers are built from.
pub struct QueueParts {
    pub store: Store,
    pub routes: Arc<RouteCache>,
    pub invoker: Invoker,
    pub quotas: Arc<QuotaGuard>,
    /// The node's event bus, for topic destinations (`None`: such reports wait on the row
    /// for a node that has one).
    pub publish: Option<Arc<dyn Publish>>,
    pub queue: AsyncQueue,
}

/// The running workers of a node.
pub struct QueueWorkers {
    tasks: TaskTracker,
    stop: CancellationToken,
    main: tokio::task::JoinHandle<()>,
}

struct Shared {
    parts: QueueParts,
    config: AsyncConfig,
    stats: Arc<QueueStats>,
    /// Invocations this node's workers run, by tenant.
    running: Mutex<HashMap<TenantId, u64>>,
    finished: tokio::sync::Notify,
}

/// How one attempt went.
enum Attempt {
    Succeeded(AttemptResult),
    /// Failed; retried while attempts and age allow.
    Failed(AttemptResult),
    /// Failed in a way another attempt cannot fix (the function is gone, or cannot be invoked
    /// this way).
    Permanent(AttemptResult),
    /// Refused before it ran; back to the queue without using an attempt.
    Refused(Duration),
}

impl QueueWorkers {
    pub fn start(parts: QueueParts) -> QueueWorkers {
        let config = parts.queue.config().clone();
        let stats = parts.queue.stats();
        let shared = Arc::new(Shared {
            parts,
            config,
            stats,
            running: Mutex::default(),
            finished: tokio::sync::Notify::new(),
        });
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        let main = tokio::spawn(run_loop(shared, tasks.clone(), stop.clone()));
        QueueWorkers { tasks, stop, main }
    }

    /// Stops taking invocations and waits for the running ones to end (each ends its row).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.main.await;
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn run_loop(shared: Arc<Shared>, tasks: TaskTracker, stop: CancellationToken) {
    let poll = Duration::from_millis(shared.config.poll_interval_ms);
    let mut gauges_at = Instant::now() - Duration::from_secs(60);
    let mut housekeeping_at = Instant::now();
    loop {
        if let Err(err) = take(&shared, &tasks).await {
            tracing::warn!(error = %err, "cannot take asynchronous invocations");
        }
        if gauges_at.elapsed() >= Duration::from_secs(1) {
            gauges_at = Instant::now();
            refresh_gauges(&shared).await;
        }
        if housekeeping_at.elapsed() >= Duration::from_secs(30) {
            housekeeping_at = Instant::now();
            housekeeping(&shared).await;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = shared.parts.queue.wake().notified() => {}
            _ = shared.finished.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Takes what is due, as far as free workers and tenants' concurrency allow.
async fn take(shared: &Arc<Shared>, tasks: &TaskTracker) -> geyser_functions::Result<()> {
    loop {
        let (free, skip) = {
            let running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
            let total: u64 = running.values().sum();
            let skip: Vec<TenantId> = running
                .iter()
                .filter(|(tenant, n)| **n >= shared.parts.quotas.quotas(**tenant).max_concurrency)
                .map(|(tenant, _)| *tenant)
                .collect();
            (u64::from(shared.config.workers).saturating_sub(total), skip)
        };
        if free == 0 {
            return Ok(());
        }
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        // A function whose timeout outlasts the lease extends it before it runs.
        let lease = shared.config.lease_ms;
        let claimed = shared.parts.store.claim_queued(limit, lease, &skip).await?;
        let taken = claimed.len();
        for claimed in claimed {
            let tenant = claimed.queued.tenant;
            *shared
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(tenant)
                .or_default() += 1;
            shared.stats.running.fetch_add(1, Ordering::Relaxed);
            let shared = shared.clone();
            tasks.spawn(async move {
                run_one(&shared, claimed).await;
                {
                    let mut running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(n) = running.get_mut(&tenant) {
                        *n -= 1;
                        if *n == 0 {
                            running.remove(&tenant);
                        }
                    }
                }
                shared.stats.running.fetch_sub(1, Ordering::Relaxed);
                shared.finished.notify_one();
            });
        }
        if taken < limit as usize {
            return Ok(());
        }
    }
}

async fn refresh_gauges(shared: &Shared) {
    match shared.parts.store.queue_depths().await {
        Ok(depths) => {
            let now = now_ms();
            let map = depths
                .into_iter()
                .map(|d| {
                    let age = (now - d.oldest_accepted_at_ms).max(0) as f64 / 1e3;
                    (d.tenant, (d.depth, age))
                })
                .collect();
            *shared
                .stats
                .depths
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = map;
        }
        Err(err) => tracing::warn!(error = %err, "cannot read the asynchronous queue's depth"),
    }
}

/// Publishes topic reports a stopped worker left behind, and forgets old ended invocations.
async fn housekeeping(shared: &Shared) {
    let store = &shared.parts.store;
    if let Some(bus) = &shared.parts.publish {
        match store.pending_reports(now_ms() - 30_000, 100).await {
            Ok(pending) => {
                for report in pending {
                    publish(shared, bus, report.id, &report.topic, &report.payload).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot read pending reports"),
        }
    }
    let before = now_ms() - i64::try_from(shared.config.result_retention_ms).unwrap_or(i64::MAX);
    match store.prune_queued(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "forgot ended asynchronous invocations"),
        Err(err) => tracing::warn!(error = %err, "cannot prune asynchronous invocations"),
    }
}

async fn publish(
    shared: &Shared,
    bus: &Arc<dyn Publish>,
    id: InvocationId,
    topic: &str,
    payload: &str,
) {
    let key = id.0.to_string();
    let sent = bus
        .publish(geyser_core::OutgoingRecord {
            topic,
            key: Some(key.as_bytes()),
            payload: payload.as_bytes(),
            traceparent: "",
        })
        .await;
    match sent {
        Ok(()) => {
            shared.stats.reports.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = shared.parts.store.report_published(id).await {
                tracing::warn!(invocation = %id, error = %err, "cannot mark a report published");
            }
        }
        Err(err) => {
            tracing::warn!(invocation = %id, topic, error = %err, "cannot publish a report; it waits")
        }
    }
}

async fn run_one(shared: &Shared, claimed: Claimed) {
    let queued = &claimed.queued;
    let store = &shared.parts.store;
    let transaction = Arc::new(SharedKvTransaction::new(store));
    let attempt = if now_ms() >= queued.expires_at_ms {
        None
    } else {
        Some(attempt(shared, &claimed, transaction.clone()).await)
    };
    if !matches!(attempt, Some(Attempt::Succeeded(_))) {
        // Roll the attempt's kv writes back now: on SQLite its transaction holds the one
        // write lock the row's end needs.
        drop(transaction.take().await);
    }
    let now = now_ms();
    let (result, end, kv) = match attempt {
        None => {
            let result = AttemptResult {
                error: Some(format!(
                    "expired after {} attempts: older than its max_age_ms",
                    queued.attempts.saturating_sub(1)
                )),
                ..queued.last.clone()
            };
            let end = final_end(shared, queued, QueuedStatus::Expired, &result).await;
            (result, end, store.kv_transaction())
        }
        Some(Attempt::Succeeded(result)) => {
            let end = final_end(shared, queued, QueuedStatus::Succeeded, &result).await;
            (result, end, transaction.take().await)
        }
        Some(Attempt::Refused(wait)) => {
            let next_at_ms = now + i64::try_from(wait.as_millis()).unwrap_or(1000);
            (
                queued.last.clone(),
                QueuedEnd::Release { next_at_ms },
                store.kv_transaction(),
            )
        }
        Some(Attempt::Permanent(result)) => {
            let end = final_end(shared, queued, QueuedStatus::Failed, &result).await;
            (result, end, store.kv_transaction())
        }
        Some(Attempt::Failed(result)) => {
            let backoff =
                i64::try_from(shared.config.backoff_ms(queued.attempts)).unwrap_or(i64::MAX);
            let next_at_ms = now.saturating_add(backoff);
            let end = if queued.attempts >= queued.max_attempts {
                final_end(shared, queued, QueuedStatus::Failed, &result).await
            } else if next_at_ms >= queued.expires_at_ms {
                final_end(shared, queued, QueuedStatus::Expired, &result).await
            } else {
                shared.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(invocation = %queued.id, tenant = %queued.tenant_name, function = %queued.function, attempt = queued.attempts, error = result.error.as_deref().unwrap_or(""), "asynchronous invocation failed; retrying");
                QueuedEnd::Retry { next_at_ms }
            };
            (result, end, store.kv_transaction())
        }
    };
    match store.end_queued(kv, &claimed, &result, &end).await {
        Ok(true) => {
            if let QueuedEnd::Final { status, report } = &end {
                shared.stats.ended(*status);
                tracing::info!(invocation = %queued.id, tenant = %queued.tenant_name, function = %queued.function, status = status.as_str(), attempts = queued.attempts, "asynchronous invocation ended");
                match report {
                    Some(Report::Publish { topic, payload }) => {
                        if let Some(bus) = &shared.parts.publish {
                            publish(shared, bus, queued.id, topic, payload).await;
                        }
                    }
                    Some(Report::Invoke(_)) => {
                        shared.stats.reports.fetch_add(1, Ordering::Relaxed);
                        shared.parts.queue.wake().notify_one();
                    }
                    None => {}
                }
            }
        }
        // Another worker holds it now (this one's lease ran out): its writes rolled back.
        Ok(false) => {
            tracing::warn!(invocation = %queued.id, "asynchronous invocation was taken over; this attempt's effects are dropped")
        }
        Err(err) => {
            tracing::error!(invocation = %queued.id, error = %err, "cannot end an asynchronous invocation; its lease will run out and it runs again")
        }
    }
}

/// The final end with the function's destination for it.
async fn final_end(
    shared: &Shared,
    queued: &geyser_functions::Queued,
    status: QueuedStatus,
    result: &AttemptResult,
) -> QueuedEnd {
    let report = if queued.request.reports() {
        report_for(shared, queued, status, result).await
    } else {
        None
    };
    QueuedEnd::Final { status, report }
}

async fn report_for(
    shared: &Shared,
    queued: &geyser_functions::Queued,
    status: QueuedStatus,
    result: &AttemptResult,
) -> Option<Report> {
    let store = &shared.parts.store;
    let settings = match store.queued_settings(queued.tenant, &queued.function).await {
        Ok(settings) => settings,
        Err(err) => {
            tracing::warn!(invocation = %queued.id, error = %err, "cannot read the function's destinations");
            return None;
        }
    };
    let destination = match status {
        QueuedStatus::Succeeded => settings.on_success,
        _ => settings.on_failure,
    }?;
    let payload = report_json(queued, status, result);
    Some(match destination {
        Destination::Topic(topic) => Report::Publish { topic, payload },
        Destination::Function(function) => {
            let target = store
                .queued_settings(queued.tenant, &function)
                .await
                .unwrap_or_default();
            Report::Invoke(Box::new(NewQueued {
                id: InvocationId::new(),
                tenant: queued.tenant,
                tenant_name: queued.tenant_name.clone(),
                function,
                selector: Selector::live(),
                request: QueuedRequest::Event {
                    source: DESTINATION_SOURCE.into(),
                    topic: format!("{}.{}", queued.function, status.as_str()),
                    key: Some(queued.id.0.to_string()),
                    headers: vec![
                        ("geyser-invocation".into(), queued.id.0.to_string()),
                        ("geyser-status".into(), status.as_str().into()),
                    ],
                },
                body: payload.into_bytes(),
                max_attempts: target.max_attempts.unwrap_or(shared.config.max_attempts),
                max_age_ms: target.max_age_ms.unwrap_or(shared.config.max_age_ms),
            }))
        }
    })
}

async fn attempt(
    shared: &Shared,
    claimed: &Claimed,
    transaction: Arc<SharedKvTransaction>,
) -> Attempt {
    let queued = &claimed.queued;
    let store = &shared.parts.store;
    let failed = |error: String| AttemptResult {
        error: Some(error),
        ..AttemptResult::default()
    };
    let route = match shared
        .parts
        .routes
        .route(
            store,
            &queued.tenant_name,
            &queued.function,
            &queued.selector,
        )
        .await
    {
        Ok(Some(route)) => route,
        Ok(None) => {
            return Attempt::Permanent(failed(format!(
                "function {}@{} not found",
                queued.function, queued.selector
            )));
        }
        Err(err) => return Attempt::Failed(failed(format!("cannot look up the function: {err}"))),
    };
    let function = match &queued.request {
        QueuedRequest::Http { headers, .. } => {
            let arm = route.arm(|name| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_bytes())
            });
            route.into_function(arm)
        }
        QueuedRequest::Event { .. } => route.pick_without_headers(),
    };
    // Keep the claim for as long as this function may run.
    let needed_ms = function.limits.timeout_ms + shared.config.lease_margin_ms;
    if needed_ms > shared.config.lease_ms
        && let Ok(false) = store
            .extend_claim(
                queued.id,
                &claimed.claim,
                now_ms().saturating_add(i64::try_from(needed_ms).unwrap_or(i64::MAX)),
            )
            .await
    {
        return Attempt::Refused(Duration::from_millis(0));
    }
    let extras = InvocationExtras {
        kv: Some(Arc::new(QuotaKv::new(
            transaction,
            shared.parts.quotas.clone(),
            store.clone(),
        ))),
        traceparent: None,
    };
    let version = function.version;
    match &queued.request {
        QueuedRequest::Http {
            method,
            path,
            headers,
        } => {
            let mut builder = http::Request::builder()
                .method(method.as_str())
                .uri(path.as_str());
            for (name, value) in headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            match builder.body(http_body_util::Full::new(Bytes::from(queued.body.clone()))) {
                Ok(request) => run_http(shared, request, function, extras).await,
                Err(err) => Attempt::Permanent(AttemptResult {
                    error: Some(format!("stored request is not valid: {err}")),
                    ..AttemptResult::default()
                }),
            }
        }
        QueuedRequest::Event {
            source,
            topic,
            key,
            headers,
        } => {
            let event = Event {
                id: queued.id.0.to_string(),
                source: source.clone(),
                topic: topic.clone(),
                key: key.clone().map(String::into_bytes),
                payload: queued.body.clone(),
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
                    .collect(),
                attempt: queued.attempts,
            };
            match shared
                .parts
                .invoker
                .invoke_event_with(function, TriggerKind::Async, event, extras)
                .await
            {
                Ok(id) => Attempt::Succeeded(AttemptResult {
                    invocation: Some(id),
                    outcome: Some(geyser_core::Outcome::Ok),
                    ..AttemptResult::default()
                }),
                Err(err) => classify_error(err),
            }
        }
    }
    .with_version(version)
}

impl Attempt {
    /// The attempt's result names the version that ran (the one route picked).
    fn with_version(self, version: geyser_core::Version) -> Attempt {
        let set = |mut r: AttemptResult| {
            r.version.get_or_insert(version);
            r
        };
        match self {
            Attempt::Succeeded(r) => Attempt::Succeeded(set(r)),
            Attempt::Failed(r) => Attempt::Failed(set(r)),
            Attempt::Permanent(r) => Attempt::Permanent(set(r)),
            refused => refused,
        }
    }
}

fn classify_error(err: InvokeError) -> Attempt {
    let result = |err: &InvokeError| AttemptResult {
        outcome: Some(err.outcome()),
        error: Some(err.to_string()),
        ..AttemptResult::default()
    };
    if let Some(wait) = err.transient() {
        return Attempt::Refused(wait.max(Duration::from_millis(100)));
    }
    match err {
        InvokeError::WrongKind { .. } | InvokeError::BadRequest(_) => {
            Attempt::Permanent(result(&err))
        }
        other => Attempt::Failed(result(&other)),
    }
}

async fn run_http(
    shared: &Shared,
    request: http::Request<http_body_util::Full<Bytes>>,
    function: ActiveFunction,
    extras: InvocationExtras,
) -> Attempt {
    let invoked = match shared
        .parts
        .invoker
        .invoke_http_with(function, TriggerKind::Async, request, extras)
        .await
    {
        Ok(invoked) => invoked,
        Err(err) => return classify_error(err),
    };
    let status = invoked.response.status().as_u16();
    let mut body = invoked.response.into_body();
    let limit = shared.config.max_result_bytes;
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    let room = limit.saturating_sub(kept.len());
                    if data.len() > room {
                        truncated = true;
                    }
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Err(err) => {
                failure = Some(err.to_string());
                break;
            }
        }
    }
    let result = AttemptResult {
        invocation: Some(invoked.id),
        http_status: Some(status),
        response: kept,
        response_truncated: truncated,
        ..AttemptResult::default()
    };
    match failure {
        Some(error) => Attempt::Failed(AttemptResult {
            outcome: Some(geyser_core::Outcome::Error),
            error: Some(error),
            ..result
        }),
        None if status >= 500 => Attempt::Failed(AttemptResult {
            outcome: Some(geyser_core::Outcome::Error),
            error: Some(format!("function answered {status}")),
            ..result
        }),
        None => Attempt::Succeeded(AttemptResult {
            outcome: Some(geyser_core::Outcome::Ok),
            ..result
        }),
    }
}
