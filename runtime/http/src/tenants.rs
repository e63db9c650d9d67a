//! `POST /v1/tenants` and `GET /v1/tenants` (admin only).

use super::AppState;
use super::auth::AdminCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use geyser_functions::Change;
use geyser_functions::TenantName;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    name: String,
}

#[derive(Serialize)]
pub struct CreatedTenantDto {
    id: i64,
    name: String,
    /// Shown once; only its hash is stored.
    api_key: String,
}

#[derive(Serialize)]
pub struct TenantDto {
    id: i64,
    name: String,
    disabled: bool,
}

impl From<geyser_functions::Tenant> for TenantDto {
    fn from(t: geyser_functions::Tenant) -> Self {
        TenantDto {
            id: t.id.0,
            name: t.name.to_string(),
            disabled: t.disabled,
        }
    }
}

pub async fn create(
    _admin: AdminCaller,
    State(state): State<AppState>,
    body: Result<Json<CreateTenant>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedTenantDto>), ApiError> {
    let Json(body) = body.map_err(rejection)?;
    let name = TenantName::parse(&body.name)?;
    let created = state.store.create_tenant(&name).await?;
    tracing::info!(tenant = %created.tenant.name, "tenant created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenantDto {
            id: created.tenant.id.0,
            name: created.tenant.name.to_string(),
            api_key: created.api_key.expose().to_owned(),
        }),
    ))
}

pub async fn list(
    _admin: AdminCaller,
    State(state): State<AppState>,
) -> Result<Json<Vec<TenantDto>>, ApiError> {
    let tenants = state.store.list_tenants().await?;
    Ok(Json(tenants.into_iter().map(TenantDto::from).collect()))
}

/// `POST /v1/tenants/{tenant}/disable`: the tenant's functions stop answering (every trigger)
/// and its keys are refused; functions, keys, kv data and records stay.
pub async fn disable(
    admin: AdminCaller,
    state: State<AppState>,
    name: Path<String>,
) -> Result<Json<TenantDto>, ApiError> {
    set_disabled(admin, state, name, true).await
}

/// `POST /v1/tenants/{tenant}/enable`: undoes `disable`.
pub async fn enable(
    admin: AdminCaller,
    state: State<AppState>,
    name: Path<String>,
) -> Result<Json<TenantDto>, ApiError> {
    set_disabled(admin, state, name, false).await
}

async fn set_disabled(
    _admin: AdminCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    disabled: bool,
) -> Result<Json<TenantDto>, ApiError> {
    let name = TenantName::parse(&name)?;
    let tenant = state.store.set_tenant_disabled(&name, disabled).await?;
    // Routes cached on every node carry the old flag.
    state
        .changes
        .changed(Change::Tenant {
            tenant: tenant.name.clone(),
        })
        .await;
    tracing::info!(tenant = %tenant.name, disabled, "tenant access changed");
    Ok(Json(tenant.into()))
}
