//! Billing endpoints: `GET /v1/billing/statement` (JSON or CSV), `GET|PUT|DELETE
//! /v1/billing/budget`, and `GET /v1/usage/series` (hourly figures per function, for charts).
//! A tenant sees its own; the admin names a tenant with `?tenant=NAME`.

use super::AppState;
use super::auth::{Caller, TenantQuery};
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use geyser_billing::{self as billing, BudgetState, Month, PriceTable, Quantities, Statement};
use geyser_functions::Change;
use geyser_functions::{Budget, BudgetPolicy, HOUR_MS, Tenant, hour_of, latency, now_ms};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementParams {
    month: Option<String>,
    tenant: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also selects CSV.
    format: Option<String>,
}

#[derive(Serialize)]
struct PricesDto {
    currency: &'static str,
    per_million_requests: f64,
    per_gb_second: f64,
    per_cpu_second: f64,
    free_requests: f64,
    free_gb_seconds: f64,
    free_cpu_seconds: f64,
}

#[derive(Serialize)]
struct LineDto {
    function: String,
    trigger: &'static str,
    requests: u64,
    errors: u64,
    rejected: u64,
    gb_seconds: f64,
    cpu_seconds: f64,
    cost_usd: f64,
    allocated_gb_seconds: f64,
    allocated_cost_usd: f64,
}

#[derive(Serialize)]
pub struct BudgetDto {
    monthly_usd: f64,
    policy: &'static str,
    spent_usd: f64,
    used_ratio: f64,
    state: &'static str,
    message: String,
}

#[derive(Serialize)]
struct AdviceDto {
    function: String,
    cost_usd: f64,
    projected_monthly_usd: f64,
    dedicated_monthly_usd: f64,
    move_to_dedicated: bool,
    message: String,
}

#[derive(Serialize)]
struct StatementDto {
    tenant: String,
    month: String,
    prices: PricesDto,
    lines: Vec<LineDto>,
    requests: u64,
    errors: u64,
    rejected: u64,
    gb_seconds: f64,
    cpu_seconds: f64,
    subtotal_usd: f64,
    free_tier_credit_usd: f64,
    total_usd: f64,
    allocated_gb_seconds: f64,
    allocated_total_usd: f64,
    /// The month's total at the pace so far (the total itself for a past month).
    projected_total_usd: f64,
    budget: Option<BudgetDto>,
    advice: Vec<AdviceDto>,
    /// Per version of each function: what a canary cost next to its stable version.
    versions: Vec<VersionLineDto>,
}

#[derive(Serialize)]
struct VersionLineDto {
    function: String,
    version: i64,
    requests: u64,
    errors: u64,
    gb_seconds: f64,
    cpu_seconds: f64,
    cost_usd: f64,
}

fn state_name(state: BudgetState) -> &'static str {
    match state {
        BudgetState::Ok => "ok",
        BudgetState::Warning => "warning",
        BudgetState::Exceeded => "exceeded",
    }
}

fn budget_dto(status: &billing::BudgetStatus) -> BudgetDto {
    BudgetDto {
        monthly_usd: status.budget.monthly_usd,
        policy: status.budget.policy.as_str(),
        spent_usd: status.spent_usd,
        used_ratio: status.used_ratio,
        state: state_name(status.state),
        message: status.message(),
    }
}

fn statement_dto(tenant: &Tenant, s: &Statement) -> StatementDto {
    StatementDto {
        tenant: tenant.name.to_string(),
        month: s.month.to_string(),
        prices: PricesDto {
            currency: "USD",
            per_million_requests: s.prices.per_million_requests,
            per_gb_second: s.prices.per_gb_second,
            per_cpu_second: s.prices.per_cpu_second,
            free_requests: s.prices.free.requests,
            free_gb_seconds: s.prices.free.gb_seconds,
            free_cpu_seconds: s.prices.free.cpu_seconds,
        },
        lines: s
            .lines
            .iter()
            .map(|l| LineDto {
                function: l.function.to_string(),
                trigger: l.trigger.as_str(),
                requests: l.requests,
                errors: l.errors,
                rejected: l.rejected,
                gb_seconds: l.gb_seconds,
                cpu_seconds: l.cpu_seconds,
                cost_usd: l.cost_usd,
                allocated_gb_seconds: l.allocated_gb_seconds,
                allocated_cost_usd: l.allocated_cost_usd,
            })
            .collect(),
        requests: s.requests,
        errors: s.errors,
        rejected: s.rejected,
        gb_seconds: s.gb_seconds,
        cpu_seconds: s.cpu_seconds,
        subtotal_usd: s.subtotal_usd,
        free_tier_credit_usd: s.free_tier_credit_usd,
        total_usd: s.total_usd,
        allocated_gb_seconds: s.allocated_gb_seconds,
        allocated_total_usd: s.allocated_total_usd,
        projected_total_usd: s.projected_total_usd,
        budget: s.budget.as_ref().map(budget_dto),
        advice: s
            .advice
            .iter()
            .map(|a| AdviceDto {
                function: a.function.to_string(),
                cost_usd: a.cost_usd,
                projected_monthly_usd: a.projected_monthly_usd,
                dedicated_monthly_usd: a.dedicated_monthly_usd,
                move_to_dedicated: a.move_to_dedicated,
                message: if a.move_to_dedicated {
                    format!(
                        "projected ${:.2}/month exceeds a dedicated instance (${:.2}/month): \
                         this function's traffic is no longer rare; a dedicated instance is cheaper",
                        a.projected_monthly_usd, a.dedicated_monthly_usd
                    )
                } else {
                    format!(
                        "projected ${:.4}/month, below a dedicated instance (${:.2}/month): \
                         FaaS is cheaper",
                        a.projected_monthly_usd, a.dedicated_monthly_usd
                    )
                },
            })
            .collect(),
        versions: s
            .versions
            .iter()
            .map(|v| VersionLineDto {
                function: v.function.to_string(),
                version: v.version.0,
                requests: v.requests,
                errors: v.errors,
                gb_seconds: v.gb_seconds,
                cpu_seconds: v.cpu_seconds,
                cost_usd: v.cost_usd,
            })
            .collect(),
    }
}

/// The statement as CSV: a header, one row per line, then a `TOTAL` row (free tier applied).
fn statement_csv(tenant: &Tenant, s: &Statement) -> String {
    let mut out = String::from(
        "tenant,month,function,trigger,requests,errors,rejected,gb_seconds,cpu_seconds,cost_usd,\
         allocated_gb_seconds,allocated_cost_usd\n",
    );
    // Names are [a-z0-9-] (checked at creation), so no field needs quoting.
    for l in &s.lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{:.9},{:.9},{:.9},{:.9},{:.9}\n",
            tenant.name,
            s.month,
            l.function,
            l.trigger.as_str(),
            l.requests,
            l.errors,
            l.rejected,
            l.gb_seconds,
            l.cpu_seconds,
            l.cost_usd,
            l.allocated_gb_seconds,
            l.allocated_cost_usd
        ));
    }
    out.push_str(&format!(
        "{},{},TOTAL,,{},{},{},{:.9},{:.9},{:.9},{:.9},{:.9}\n",
        tenant.name,
        s.month,
        s.requests,
        s.errors,
        s.rejected,
        s.gb_seconds,
        s.cpu_seconds,
        s.total_usd,
        s.allocated_gb_seconds,
        s.allocated_total_usd
    ));
    out
}

fn prices(state: &AppState) -> PriceTable {
    PriceTable::from_config(&state.config.billing)
}

/// Builds `tenant`'s statement of `month` (records still queued are written first).
async fn statement_of(
    state: &AppState,
    tenant: &Tenant,
    month: Month,
) -> Result<Statement, ApiError> {
    state.meter.flush().await;
    let rows = state
        .store
        .rollup_rows(tenant.id, month.start_ms(), month.end_ms())
        .await?;
    let by_version = state
        .store
        .version_rollup_rows(tenant.id, month.start_ms(), month.end_ms())
        .await?;
    let budget = state.store.budget(tenant.id).await?;
    let prices = prices(state);
    let mut statement = billing::build(
        month,
        &rows,
        &prices,
        budget,
        state.config.billing.dedicated_instance_monthly_usd,
        now_ms(),
    );
    statement.versions = billing::version_lines(&by_version, &prices);
    Ok(statement)
}

pub async fn statement(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<StatementParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    let tenant = caller
        .target(&state, params.tenant.as_deref(), "statement")
        .await?;
    let month = match &params.month {
        Some(text) => Month::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => Month::containing(now_ms()),
    };
    let wants_csv = match params.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown format {other:?}: want json or csv"
            )));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv")),
    };
    let statement = statement_of(&state, &tenant, month).await?;
    Ok(if wants_csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            statement_csv(&tenant, &statement),
        )
            .into_response()
    } else {
        Json(statement_dto(&tenant, &statement)).into_response()
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    monthly_usd: f64,
    /// `refuse` (new invocations get 402 once spent) or `warn`; default from config.
    policy: Option<String>,
}

/// The budget and where this month stands against it; 404 without a budget.
pub async fn get_budget(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<Json<BudgetDto>, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    let tenant = caller
        .target(&state, params.tenant.as_deref(), "budget")
        .await?;
    let budget = state
        .store
        .budget(tenant.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no budget set: PUT /v1/billing/budget"))?;
    state.meter.flush().await;
    let spent = billing::month_to_date_usd(&state.store, &prices(&state), tenant.id).await?;
    Ok(Json(budget_dto(&billing::BudgetStatus::new(budget, spent))))
}

pub async fn put_budget(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<TenantQuery>, QueryRejection>,
    body: Result<Json<BudgetBody>, JsonRejection>,
) -> Result<Json<BudgetDto>, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    // Who may change it is decided before what the body says.
    let tenant = caller
        .target(&state, params.tenant.as_deref(), "budget")
        .await?;
    let Json(body) = body.map_err(rejection)?;
    if !body.monthly_usd.is_finite() || body.monthly_usd < 0.0 {
        return Err(ApiError::bad_request(
            "monthly_usd must be a number of dollars >= 0",
        ));
    }
    let policy = match &body.policy {
        Some(p) => p.parse::<BudgetPolicy>().map_err(|_| {
            ApiError::bad_request(format!("unknown policy {p:?}: want refuse or warn"))
        })?,
        None => state
            .config
            .billing
            .budget_policy()
            .unwrap_or(BudgetPolicy::Refuse),
    };
    let budget = Budget {
        monthly_usd: body.monthly_usd,
        policy,
    };
    state.store.set_budget(tenant.id, budget).await?;
    state
        .changes
        .changed(Change::Budget { tenant: tenant.id })
        .await;
    state.meter.flush().await;
    let spent = billing::month_to_date_usd(&state.store, &prices(&state), tenant.id).await?;
    Ok(Json(budget_dto(&billing::BudgetStatus::new(budget, spent))))
}

pub async fn delete_budget(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    let tenant = caller
        .target(&state, params.tenant.as_deref(), "budget")
        .await?;
    let removed = state.store.delete_budget(tenant.id).await?;
    state
        .changes
        .changed(Change::Budget { tenant: tenant.id })
        .await;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no budget set"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    tenant: Option<String>,
    /// Hours back from the current one (default 24, at most 1488 = 62 days).
    hours: Option<u32>,
}

#[derive(Serialize, Default)]
struct PointDto {
    hour_ms: i64,
    invocations: u64,
    errors: u64,
    /// Within 25 % (the histogram's bucket width); `null` without invocations.
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    cost_usd: f64,
}

#[derive(Serialize)]
struct FunctionSeriesDto {
    function: String,
    invocations: u64,
    errors: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    cost_usd: f64,
    points: Vec<PointDto>,
}

#[derive(Serialize)]
pub struct SeriesDto {
    tenant: String,
    from_ms: i64,
    to_ms: i64,
    functions: Vec<FunctionSeriesDto>,
}

/// Hourly invocations, errors, latency quantiles and list-price cost per function.
pub async fn series(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<SeriesParams>, QueryRejection>,
) -> Result<Json<SeriesDto>, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    let tenant = caller
        .target(&state, params.tenant.as_deref(), "usage")
        .await?;
    let hours = params.hours.unwrap_or(24).clamp(1, 1488);
    let to_ms = hour_of(now_ms()) + HOUR_MS;
    let from_ms = to_ms - i64::from(hours) * HOUR_MS;
    state.meter.flush().await;
    let rows = state.store.rollup_rows(tenant.id, from_ms, to_ms).await?;
    let cells = state.store.latency_rows(tenant.id, from_ms, to_ms).await?;
    let prices = prices(&state);

    #[derive(Default)]
    struct Acc {
        points: BTreeMap<i64, PointDto>,
        histogram: BTreeMap<i64, Vec<(u32, u64)>>,
    }
    let mut by_function: BTreeMap<String, Acc> = BTreeMap::new();
    for row in &rows {
        let acc = by_function.entry(row.function.to_string()).or_default();
        let point = acc.points.entry(row.hour_ms).or_insert_with(|| PointDto {
            hour_ms: row.hour_ms,
            ..PointDto::default()
        });
        point.invocations += row.invocations;
        if row.outcome.is_error() {
            point.errors += row.invocations;
        }
        point.cost_usd += prices.cost(&Quantities::of(row));
    }
    for cell in &cells {
        let acc = by_function.entry(cell.function.to_string()).or_default();
        acc.histogram
            .entry(cell.hour_ms)
            .or_default()
            .push((cell.bucket, cell.invocations));
    }
    let functions = by_function
        .into_iter()
        .map(|(function, mut acc)| {
            let mut all: Vec<(u32, u64)> = Vec::new();
            for (hour, histogram) in &acc.histogram {
                if let Some(point) = acc.points.get_mut(hour) {
                    point.p50_ms = latency::quantile_ms(histogram, 0.5);
                    point.p99_ms = latency::quantile_ms(histogram, 0.99);
                }
                all.extend_from_slice(histogram);
            }
            let points: Vec<PointDto> = acc.points.into_values().collect();
            FunctionSeriesDto {
                function,
                invocations: points.iter().map(|p| p.invocations).sum(),
                errors: points.iter().map(|p| p.errors).sum(),
                p50_ms: latency::quantile_ms(&all, 0.5),
                p99_ms: latency::quantile_ms(&all, 0.99),
                cost_usd: points.iter().map(|p| p.cost_usd).sum(),
                points,
            }
        })
        .collect();
    Ok(Json(SeriesDto {
        tenant: tenant.name.to_string(),
        from_ms,
        to_ms,
        functions,
    }))
}
