//! `GET /v1/functions/{name}/invocations?limit=N`: the function's latest invocation records
//! (within the raw-record retention), newest first, with their trace; and
//! `GET /v1/functions/{name}/invocations/{id}`: one record with the lines it logged.

use super::AppState;
use super::auth::TenantCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use geyser_functions::{FunctionName, InvocationId, InvocationRecord, LogQuery, UnknownValue};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationParams {
    limit: Option<u32>,
}

#[derive(Serialize)]
pub struct InvocationDto {
    id: String,
    version: i64,
    trigger: &'static str,
    started_at_ms: i64,
    wall_ms: f64,
    cpu_ms: f64,
    peak_memory_bytes: u64,
    memory_limit_bytes: u64,
    gb_seconds: f64,
    outcome: &'static str,
    traceparent: Option<String>,
    /// Outgoing HTTP requests, their body bytes and the time spent waiting for them.
    outbound_requests: u64,
    outbound_bytes: u64,
    outbound_wait_ms: f64,
    /// The HTTP status the function answered with, when it answered.
    http_status: Option<u16>,
}

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub async fn recent(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<InvocationParams>, QueryRejection>,
) -> Result<Json<Vec<InvocationDto>>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let Query(params) = params.map_err(rejection)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    state.meter.flush().await;
    let records = state
        .store
        .recent_invocations(tenant.id, &name, limit)
        .await?;
    Ok(Json(records.into_iter().map(InvocationDto::from).collect()))
}

#[derive(Serialize)]
pub struct InvocationDetailDto {
    #[serde(flatten)]
    record: InvocationDto,
    /// The lines it logged, oldest first (up to 10,000).
    logs: Vec<super::logs::LogLineDto>,
}

pub async fn show(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<InvocationDetailDto>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let id: InvocationId = id
        .parse()
        .map_err(|e: UnknownValue| ApiError::bad_request(e.0))?;
    state.meter.flush().await;
    let record = state
        .store
        .invocation(tenant.id, &name, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no invocation {id} of function {name}")))?;
    let query = LogQuery {
        invocation: Some(id),
        after: Some(0),
        limit: 10_000,
        ..LogQuery::default()
    };
    let logs = state.store.query_logs(tenant.id, &name, &query).await?;
    Ok(Json(InvocationDetailDto {
        record: InvocationDto::from(record),
        logs: logs.into_iter().map(Into::into).collect(),
    }))
}

impl From<InvocationRecord> for InvocationDto {
    fn from(r: InvocationRecord) -> Self {
        InvocationDto {
            id: r.id.to_string(),
            version: r.version.0,
            trigger: r.trigger.as_str(),
            started_at_ms: r.started_at_ms,
            wall_ms: r.wall_ns as f64 / 1e6,
            cpu_ms: r.cpu_ns as f64 / 1e6,
            peak_memory_bytes: r.peak_memory_bytes,
            memory_limit_bytes: r.memory_limit_bytes,
            gb_seconds: r.gb_seconds(),
            outcome: r.outcome.as_str(),
            traceparent: r.traceparent,
            outbound_requests: r.outbound_requests,
            outbound_bytes: r.outbound_bytes,
            outbound_wait_ms: r.outbound_wait_ns as f64 / 1e6,
            http_status: r.http_status,
        }
    }
}
