//! `GET /v1/functions/{name}/logs?limit=N`: the function's most recent captured log lines.

use super::AppState;
use super::auth::TenantCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use geyser_functions::FunctionName;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    limit: Option<u32>,
}

#[derive(Serialize)]
pub struct LogLineDto {
    invocation: String,
    at_ms: i64,
    level: String,
    message: String,
}

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 10_000;

pub async fn recent(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Json<Vec<LogLineDto>>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let Query(params) = params.map_err(rejection)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    // A deleted function's logs stay readable; an unknown name simply has none.
    state.meter.flush().await;
    let lines = state.store.recent_logs(tenant.id, &name, limit).await?;
    Ok(Json(
        lines
            .into_iter()
            .map(|l| LogLineDto {
                invocation: l.invocation.to_string(),
                at_ms: l.at_ms,
                level: l.level,
                message: l.message,
            })
            .collect(),
    ))
}
