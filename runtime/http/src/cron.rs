//! Cron triggers of a scheduled function: bind, list, delete, run history, and "run now".

use super::AppState;
use super::auth::TenantCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use geyser_cron::{rfc3339, to_utc};
use geyser_functions::{
    CronBinding, CronRun, FunctionKind, FunctionName, MissedTicks, NewCronBinding, Overlap, Tenant,
};
use geyser_scheduler::Schedule;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronBody {
    name: String,
    expression: String,
    timezone: Option<String>,
    payload: Option<serde_json::Value>,
    missed: Option<String>,
    overlap: Option<String>,
    /// The alias whose version each tick runs; default `live`.
    alias: Option<String>,
    /// Attempts of a tick that fails or is refused, 1–10 (default 1: record the failure).
    max_attempts: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// RFC 3339; default now.
    scheduled_time: Option<String>,
}

#[derive(Serialize)]
pub struct CronDto {
    name: String,
    expression: String,
    timezone: String,
    payload: Option<serde_json::Value>,
    missed: &'static str,
    overlap: &'static str,
    alias: String,
    max_attempts: u32,
    /// The next three fire times, RFC 3339 UTC.
    next: Vec<String>,
}

#[derive(Serialize)]
pub struct RunDto {
    scheduled_time: String,
    manual: bool,
    fired_at: String,
    invocation: Option<String>,
    outcome: Option<String>,
    finished_at: Option<String>,
    /// Attempts so far: retries of a failed tick, or a run taken over from a node that died.
    attempts: u32,
}

#[derive(Serialize)]
pub struct RanDto {
    scheduled_time: String,
    invocation: Option<String>,
    outcome: &'static str,
}

fn valid_schedule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn dto(state: &AppState, binding: &CronBinding) -> CronDto {
    let next = Schedule::parse(&binding.expression, &binding.timezone)
        .map(|s| {
            s.fires_between(
                state.cron.clock.now(),
                chrono::DateTime::<chrono::Utc>::MAX_UTC,
                3,
            )
            .into_iter()
            .map(rfc3339)
            .collect()
        })
        .unwrap_or_default();
    CronDto {
        name: binding.name.clone(),
        expression: binding.expression.clone(),
        timezone: binding.timezone.clone(),
        payload: binding
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        missed: binding.missed.as_str(),
        overlap: binding.overlap.as_str(),
        max_attempts: binding.max_attempts,
        alias: binding.alias.to_string(),
        next,
    }
}

async fn scheduled_function(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
) -> Result<FunctionName, ApiError> {
    let function = super::functions::active(state, tenant, name).await?;
    let name = function.name.clone();
    if !function.kind.contains(FunctionKind::Schedule) {
        return Err(ApiError::bad_request(format!(
            "{name} is {} function; cron triggers need a scheduled function (#[geyser_sdk::schedule])",
            geyser_engine::describe(function.kind)
        )));
    }
    Ok(name)
}

async fn binding(
    state: &AppState,
    tenant: &Tenant,
    function: &FunctionName,
    schedule: &str,
) -> Result<CronBinding, ApiError> {
    state
        .store
        .cron(tenant.id, function, schedule)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no schedule {schedule:?} on {function}")))
}

pub async fn put(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<CronBody>, JsonRejection>,
) -> Result<(StatusCode, Json<CronDto>), ApiError> {
    let Json(body) = body.map_err(rejection)?;
    let function = scheduled_function(&state, &tenant, &name).await?;
    if !valid_schedule_name(&body.name) {
        return Err(ApiError::bad_request(
            "schedule name must be 1 to 63 characters of a-z, 0-9 and '-'",
        ));
    }
    let timezone = body.timezone.unwrap_or_else(|| "UTC".into());
    Schedule::parse(&body.expression, &timezone)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let missed = match body.missed.as_deref() {
        None => MissedTicks::Once,
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::bad_request("missed must be \"once\" or \"skip\""))?,
    };
    let overlap = match body.overlap.as_deref() {
        None => Overlap::Skip,
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::bad_request("overlap must be \"skip\" or \"allow\""))?,
    };
    let max_attempts = body.max_attempts.unwrap_or(1);
    if !(1..=10).contains(&max_attempts) {
        return Err(ApiError::bad_request(
            "max_attempts must be between 1 and 10",
        ));
    }
    let alias = super::aliases::existing(&state, &tenant, &function, body.alias.as_deref()).await?;
    let payload = body.payload.map(|p| p.to_string());
    let stored = state
        .store
        .put_cron(NewCronBinding {
            tenant: tenant.id,
            function: &function,
            name: &body.name,
            expression: &body.expression,
            timezone: &timezone,
            payload: payload.as_deref(),
            missed,
            overlap,
            alias: &alias,
            max_attempts,
            now_ms: state.cron.clock.now().timestamp_millis(),
        })
        .await?;
    tracing::info!(tenant = %tenant.name, function = %function, schedule = %stored.name, "cron trigger set");
    Ok((StatusCode::CREATED, Json(dto(&state, &stored))))
}

pub async fn list(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<CronDto>>, ApiError> {
    let function = FunctionName::parse(&name)?;
    let bindings = state.store.list_cron(tenant.id, &function).await?;
    Ok(Json(bindings.iter().map(|b| dto(&state, b)).collect()))
}

pub async fn delete(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, schedule)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let function = FunctionName::parse(&name)?;
    if state
        .store
        .delete_cron(tenant.id, &function, &schedule)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no schedule {schedule:?} on {function}"
        )))
    }
}

pub async fn runs(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, schedule)): Path<(String, String)>,
) -> Result<Json<Vec<RunDto>>, ApiError> {
    let function = FunctionName::parse(&name)?;
    let binding = binding(&state, &tenant, &function, &schedule).await?;
    let runs: Vec<CronRun> = state.store.cron_runs(binding.id, 1000).await?;
    Ok(Json(
        runs.into_iter()
            .map(|r| RunDto {
                scheduled_time: rfc3339(to_utc(r.scheduled_ms)),
                manual: r.manual,
                fired_at: rfc3339(to_utc(r.fired_at_ms)),
                invocation: r.invocation,
                outcome: r.outcome,
                finished_at: r.finished_at_ms.map(|ms| rfc3339(to_utc(ms))),
                attempts: r.attempts,
            })
            .collect(),
    ))
}

/// "Run the report now": fires the schedule with the given scheduled time and waits.
pub async fn run_now(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, schedule)): Path<(String, String)>,
    body: bytes::Bytes,
) -> Result<Json<RanDto>, ApiError> {
    let function = scheduled_function(&state, &tenant, &name).await?;
    let binding = binding(&state, &tenant, &function, &schedule).await?;
    let body: RunBody = super::error::optional_json(&body)?;
    let scheduled = match body.scheduled_time {
        Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map_err(|e| ApiError::bad_request(format!("scheduled_time must be RFC 3339: {e}")))?
            .with_timezone(&chrono::Utc),
        None => state.cron.clock.now(),
    };
    let claim = state
        .store
        .record_manual_cron_run(binding.id, scheduled.timestamp_millis())
        .await?;
    let (invocation, outcome) = state.cron.fire(&binding, claim, true).await;
    Ok(Json(RanDto {
        scheduled_time: rfc3339(scheduled),
        invocation: invocation.map(|i| i.to_string()),
        outcome,
    }))
}
