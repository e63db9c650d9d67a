//! `/v1/quotas`: a tenant's quotas in force and what it uses of them (the tenant reads its own,
//! the admin any with `?tenant=NAME`); `PUT` (admin) replaces a tenant's overrides.

use super::AppState;
use super::auth::{AdminCaller, Caller, TenantQuery};
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use geyser_functions::Change;
use geyser_functions::{QuotaOverrides, Tenant, TenantName};
use geyser_quotas::Quotas;
use serde::Serialize;

#[derive(Serialize)]
pub struct UsedDto {
    functions: u64,
    kv_keys: u64,
    /// Invocations holding the tenant's slots on the node that answered.
    in_flight: u64,
    /// Asynchronous invocations waiting or running (the whole cluster's queue).
    async_queued: u64,
    /// Guest memory the tenant's running invocations hold on this node.
    node_memory_bytes: u64,
}

#[derive(Serialize)]
pub struct QuotaReportDto {
    tenant: String,
    /// In force: the defaults with the overrides applied.
    quotas: Quotas,
    overrides: QuotaOverrides,
    used: UsedDto,
}

/// Checks the admin's overrides against what the node can give at all.
fn validate(overrides: QuotaOverrides, state: &AppState) -> Result<QuotaOverrides, ApiError> {
    let engine = &state.config.engine;
    let upload = state.config.http.max_upload_bytes as u64;
    let bad = |m: String| Err(ApiError::bad_request(m));
    if let Some(rate) = overrides.rate_per_second
        && !(rate.is_finite() && rate >= 0.0)
    {
        return bad("rate_per_second must be a number >= 0 (0: no limit)".into());
    }
    if overrides.max_concurrency == Some(0) {
        return bad("max_concurrency must be at least 1".into());
    }
    if let Some(percent) = overrides.node_memory_percent
        && !(1..=100).contains(&percent)
    {
        return bad("node_memory_percent must be between 1 and 100".into());
    }
    if let Some(mb) = overrides.max_memory_mb
        && (mb == 0 || mb > u64::from(engine.max_memory_mb))
    {
        return bad(format!(
            "max_memory_mb must be between 1 and {} (engine.max_memory_mb)",
            engine.max_memory_mb
        ));
    }
    if let Some(bytes) = overrides.max_artifact_bytes
        && (bytes == 0 || bytes > upload)
    {
        return bad(format!(
            "max_artifact_bytes must be between 1 and {upload} (http.max_upload_bytes)"
        ));
    }
    Ok(overrides)
}

async fn report(state: &AppState, tenant: &Tenant) -> Result<QuotaReportDto, ApiError> {
    let overrides = state.store.quota_overrides(tenant.id).await?;
    Ok(QuotaReportDto {
        tenant: tenant.name.to_string(),
        quotas: state.quotas.defaults().with(&overrides),
        overrides,
        used: UsedDto {
            functions: state.store.count_functions(tenant.id).await?,
            kv_keys: state
                .store
                .kv_key_count(tenant.id)
                .await
                .map_err(ApiError::internal)?,
            in_flight: state.quotas.in_flight(tenant.id),
            async_queued: state.store.queue_depth(tenant.id).await?,
            node_memory_bytes: state.invoker.host().memory().tenant_bytes(tenant.id),
        },
    })
}

pub async fn show(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<Json<QuotaReportDto>, ApiError> {
    let Query(query) = query.map_err(rejection)?;
    let tenant = caller
        .target(&state, query.tenant.as_deref(), "quotas")
        .await?;
    Ok(Json(report(&state, &tenant).await?))
}

pub async fn set(
    _admin: AdminCaller,
    State(state): State<AppState>,
    query: Result<Query<TenantQuery>, QueryRejection>,
    body: Result<Json<QuotaOverrides>, JsonRejection>,
) -> Result<Json<QuotaReportDto>, ApiError> {
    let Query(query) = query.map_err(rejection)?;
    let Json(body) = body.map_err(rejection)?;
    let name = query
        .tenant
        .ok_or_else(|| ApiError::bad_request("name the tenant: ?tenant=NAME"))?;
    let tenant = state
        .store
        .tenant_by_name(&TenantName::parse(&name)?)
        .await?;
    let overrides = validate(body, &state)?;
    state
        .store
        .set_quota_overrides(tenant.id, &overrides)
        .await?;
    state.quotas.set_overrides(tenant.id, overrides);
    state.changes.changed(Change::Quotas).await;
    tracing::info!(tenant = %tenant.name, "quotas changed");
    Ok(Json(report(&state, &tenant).await?))
}
