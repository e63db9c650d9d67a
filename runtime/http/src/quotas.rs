//! `/v1/quotas`: a tenant's quotas in force and what it uses of them (the tenant reads its own,
//! the admin any with `?tenant=NAME`); `PUT` (admin) replaces a tenant's overrides.

use super::AppState;
use super::auth::{AdminCaller, Caller};
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use geyser_functions::{QuotaOverrides, Tenant, TenantName};
use geyser_quotas::Quotas;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    tenant: Option<String>,
}

/// The admin's overrides; a field left out (or `null`) goes back to the node's default.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OverridesDto {
    max_functions: Option<u64>,
    max_artifact_bytes: Option<u64>,
    max_memory_mb: Option<u64>,
    max_concurrency: Option<u64>,
    max_function_concurrency: Option<u64>,
    rate_per_second: Option<f64>,
    rate_burst: Option<u64>,
    max_kv_keys: Option<u64>,
}

#[derive(Serialize)]
pub struct QuotasDto {
    max_functions: u64,
    max_artifact_bytes: u64,
    max_memory_mb: u64,
    max_concurrency: u64,
    max_function_concurrency: u64,
    rate_per_second: f64,
    rate_burst: u64,
    max_kv_keys: u64,
}

#[derive(Serialize)]
pub struct UsedDto {
    functions: u64,
    kv_keys: u64,
    /// Invocations holding the tenant's slots on the node that answered.
    in_flight: u64,
}

#[derive(Serialize)]
pub struct QuotaReportDto {
    tenant: String,
    /// In force: the defaults with the overrides applied.
    quotas: QuotasDto,
    overrides: OverridesDto,
    used: UsedDto,
}

impl From<Quotas> for QuotasDto {
    fn from(q: Quotas) -> Self {
        QuotasDto {
            max_functions: q.max_functions,
            max_artifact_bytes: q.max_artifact_bytes,
            max_memory_mb: q.max_memory_mb,
            max_concurrency: q.max_concurrency,
            max_function_concurrency: q.max_function_concurrency,
            rate_per_second: q.rate_per_second,
            rate_burst: q.rate_burst,
            max_kv_keys: q.max_kv_keys,
        }
    }
}

impl From<QuotaOverrides> for OverridesDto {
    fn from(o: QuotaOverrides) -> Self {
        OverridesDto {
            max_functions: o.max_functions,
            max_artifact_bytes: o.max_artifact_bytes,
            max_memory_mb: o.max_memory_mb,
            max_concurrency: o.max_concurrency,
            max_function_concurrency: o.max_function_concurrency,
            rate_per_second: o.rate_per_second,
            rate_burst: o.rate_burst,
            max_kv_keys: o.max_kv_keys,
        }
    }
}

impl OverridesDto {
    /// Checks the values against what the node can give at all.
    fn validate(self, state: &AppState) -> Result<QuotaOverrides, ApiError> {
        let engine = &state.config.engine;
        let upload = state.config.http.max_upload_bytes as u64;
        let bad = |m: String| Err(ApiError::bad_request(m));
        if let Some(rate) = self.rate_per_second
            && !(rate.is_finite() && rate >= 0.0)
        {
            return bad("rate_per_second must be a number >= 0 (0: no limit)".into());
        }
        if self.max_concurrency == Some(0) {
            return bad("max_concurrency must be at least 1".into());
        }
        if let Some(mb) = self.max_memory_mb
            && (mb == 0 || mb > u64::from(engine.max_memory_mb))
        {
            return bad(format!(
                "max_memory_mb must be between 1 and {} (engine.max_memory_mb)",
                engine.max_memory_mb
            ));
        }
        if let Some(bytes) = self.max_artifact_bytes
            && (bytes == 0 || bytes > upload)
        {
            return bad(format!(
                "max_artifact_bytes must be between 1 and {upload} (http.max_upload_bytes)"
            ));
        }
        Ok(QuotaOverrides {
            max_functions: self.max_functions,
            max_artifact_bytes: self.max_artifact_bytes,
            max_memory_mb: self.max_memory_mb,
            max_concurrency: self.max_concurrency,
            max_function_concurrency: self.max_function_concurrency,
            rate_per_second: self.rate_per_second,
            rate_burst: self.rate_burst,
            max_kv_keys: self.max_kv_keys,
        })
    }
}

async fn report(state: &AppState, tenant: &Tenant) -> Result<QuotaReportDto, ApiError> {
    let overrides = state.store.quota_overrides(tenant.id).await?;
    Ok(QuotaReportDto {
        tenant: tenant.name.to_string(),
        quotas: state.quotas.defaults().with(&overrides).into(),
        overrides: overrides.into(),
        used: UsedDto {
            functions: state.store.count_functions(tenant.id).await?,
            kv_keys: state
                .store
                .kv_key_count(tenant.id)
                .await
                .map_err(ApiError::internal)?,
            in_flight: state.quotas.in_flight(tenant.id),
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
    body: Result<Json<OverridesDto>, JsonRejection>,
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
    let overrides = body.validate(&state)?;
    state
        .store
        .set_quota_overrides(tenant.id, &overrides)
        .await?;
    state.quotas.set_overrides(tenant.id, overrides);
    tracing::info!(tenant = %tenant.name, "quotas changed");
    Ok(Json(report(&state, &tenant).await?))
}
