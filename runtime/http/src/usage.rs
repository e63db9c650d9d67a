//! `GET /v1/usage`: per-function usage of the calling tenant (the admin names a tenant).

use super::AppState;
use super::auth::{Caller, TenantQuery};
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use geyser_functions::UsageFigures;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
pub struct FiguresDto {
    invocations: u64,
    errors: u64,
    wall_ms: f64,
    cpu_ms: f64,
    peak_memory_bytes: u64,
    gb_seconds: f64,
    outcomes: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
pub struct FunctionUsageDto {
    function: String,
    #[serde(flatten)]
    figures: FiguresDto,
}

#[derive(Serialize)]
pub struct UsageDto {
    tenant: String,
    functions: Vec<FunctionUsageDto>,
    totals: FiguresDto,
}

impl From<&UsageFigures> for FiguresDto {
    fn from(f: &UsageFigures) -> Self {
        FiguresDto {
            invocations: f.invocations,
            errors: f.errors,
            wall_ms: f.wall_ns as f64 / 1e6,
            cpu_ms: f.cpu_ns as f64 / 1e6,
            peak_memory_bytes: f.peak_memory_bytes,
            gb_seconds: f.gb_seconds,
            outcomes: f.outcomes.iter().map(|(o, n)| (o.as_str(), *n)).collect(),
        }
    }
}

pub async fn show(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<Json<UsageDto>, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    let tenant = caller
        .target(&state, params.tenant.as_deref(), "usage")
        .await?;
    // Records of finished invocations may still be queued; write them first.
    state.meter.flush().await;
    let report = state.store.usage(tenant.id).await?;
    Ok(Json(UsageDto {
        tenant: tenant.name.to_string(),
        functions: report
            .functions
            .iter()
            .map(|f| FunctionUsageDto {
                function: f.function.to_string(),
                figures: FiguresDto::from(&f.figures),
            })
            .collect(),
        totals: FiguresDto::from(&report.totals()),
    }))
}
