//! A function's captured log lines: `GET /v1/functions/{name}/logs` (the latest, or those after
//! a cursor) and `GET /v1/functions/{name}/logs/stream`, a live tail as server-sent events —
//! what `geyser logs --follow` and the console read. Both filter by invocation id and by the
//! outcome the invocation ended with.

use super::AppState;
use super::auth::TenantCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use geyser_functions::{
    FunctionName, InvocationId, LogQuery, Outcome, Store, StoredLogLine, TenantId,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    limit: Option<u32>,
    /// Only this invocation's lines.
    invocation: Option<String>,
    /// Only lines of invocations that ended so (`ok`, `error`, `trap`, …).
    outcome: Option<String>,
    /// A line's `id`: the lines written after it, oldest first.
    after: Option<i64>,
}

#[derive(Serialize)]
pub struct LogLineDto {
    /// The line's cursor (`after=`, or the stream's `Last-Event-ID`).
    id: i64,
    invocation: String,
    at_ms: i64,
    /// `at_ms` as RFC 3339 UTC.
    at: String,
    level: String,
    message: String,
}

impl From<StoredLogLine> for LogLineDto {
    fn from(l: StoredLogLine) -> Self {
        LogLineDto {
            id: l.id,
            invocation: l.line.invocation.to_string(),
            at_ms: l.line.at_ms,
            at: rfc3339_ms(l.line.at_ms),
            level: l.line.level,
            message: l.line.message,
        }
    }
}

fn rfc3339_ms(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .map(geyser_cron::rfc3339)
        .unwrap_or_default()
}

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 10_000;
/// How often a live tail looks for new lines.
const TAIL_POLL: Duration = Duration::from_millis(250);
/// Lines a tail sends per look.
const TAIL_BATCH: u32 = 500;
/// Live tails one tenant may hold open on a node (each polls the database).
pub const MAX_TAILS_PER_TENANT: usize = 4;

fn query_of(params: LogParams) -> Result<LogQuery, ApiError> {
    let invocation = params
        .invocation
        .as_deref()
        .map(str::parse::<InvocationId>)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.0))?;
    let outcome = params
        .outcome
        .as_deref()
        .map(str::parse::<Outcome>)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.0))?;
    Ok(LogQuery {
        invocation,
        outcome,
        after: params.after,
        limit: params.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
    })
}

pub async fn recent(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Json<Vec<LogLineDto>>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let Query(params) = params.map_err(rejection)?;
    let query = query_of(params)?;
    // A deleted function's logs stay readable; an unknown name simply has none.
    state.meter.flush().await;
    let lines = state.store.query_logs(tenant.id, &name, &query).await?;
    Ok(Json(lines.into_iter().map(LogLineDto::from).collect()))
}

/// The live tails open on this node, per tenant.
#[derive(Default)]
pub struct LogTails {
    open: Mutex<HashMap<TenantId, usize>>,
}

/// One open tail; gives its place back when the stream drops (the client went away).
struct TailSlot {
    tails: Arc<LogTails>,
    tenant: TenantId,
}

impl LogTails {
    fn open(self: &Arc<Self>, tenant: TenantId) -> Option<TailSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(tenant).or_default();
        if *count >= MAX_TAILS_PER_TENANT {
            return None;
        }
        *count += 1;
        Some(TailSlot {
            tails: self.clone(),
            tenant,
        })
    }
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        let mut open = self.tails.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

/// `GET /v1/functions/{name}/logs/stream`: first the latest `limit` lines (default 0 when
/// resuming with `after` or `Last-Event-ID`), then every new line as it is written, one event
/// each (`id:` the cursor, `data:` the line as JSON).
pub async fn stream(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let Query(params) = params.map_err(rejection)?;
    let limit = params.limit;
    let mut query = query_of(params)?;
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        query.after = Some(last);
    }
    let slot = state.log_tails.open(tenant.id).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_tails",
            format!("at most {MAX_TAILS_PER_TENANT} live log tails per tenant on a node"),
        )
        .retry_after(5)
    })?;
    state.meter.flush().await;
    // The tail starts after the newest line (of the filter); the `limit` latest are sent first.
    let mut shown = std::collections::VecDeque::new();
    if query.after.is_none() {
        let shown_first = limit.unwrap_or(0).min(MAX_LIMIT);
        query.limit = shown_first.max(1);
        let latest = state.store.query_logs(tenant.id, &name, &query).await?;
        query.after = Some(latest.last().map_or(0, |l| l.id));
        if shown_first > 0 {
            shown.extend(latest);
        }
    }
    query.limit = TAIL_BATCH;
    let tail = Tail {
        store: state.store.clone(),
        tenant: tenant.id,
        function: name,
        query,
        _slot: slot,
    };
    let events = futures::stream::unfold((tail, shown), |(mut tail, mut ready)| async move {
        loop {
            if let Some(line) = ready.pop_front() {
                return Some((Ok(event(line)), (tail, ready)));
            }
            tokio::time::sleep(TAIL_POLL).await;
            ready.extend(tail.next_lines().await);
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event(line: StoredLogLine) -> Event {
    let id = line.id;
    let data = serde_json::to_string(&LogLineDto::from(line)).unwrap_or_default();
    Event::default().id(id.to_string()).event("log").data(data)
}

struct Tail {
    store: Store,
    tenant: TenantId,
    function: FunctionName,
    query: LogQuery,
    _slot: TailSlot,
}

impl Tail {
    /// The lines written since the last look (none when the database fails: the next look
    /// retries from the same cursor). Lines reach the database with the meter's batches
    /// (`metering.flush_interval_ms`); a tail does not force them out.
    async fn next_lines(&mut self) -> Vec<StoredLogLine> {
        match self
            .store
            .query_logs(self.tenant, &self.function, &self.query)
            .await
        {
            Ok(lines) => {
                if let Some(last) = lines.last() {
                    self.query.after = Some(last.id);
                }
                lines
            }
            Err(err) => {
                tracing::warn!(error = %err, tenant = %self.tenant, "reading logs for a live tail failed");
                Vec::new()
            }
        }
    }
}
