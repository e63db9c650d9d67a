//! A function's aliases: `GET /v1/functions/{name}/aliases` lists them (`live`, the active
//! version, always first); `PUT …/aliases/{alias}` sets one — its version, a canary with a
//! weight, a sticky header and a rollback rule; `DELETE` removes one; `POST …/promote` makes
//! the canary the version; `GET …/events` is its history, rollbacks by the node included.

use super::AppState;
use super::auth::TenantCaller;
use super::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use geyser_core::{AliasName, AliasSpec, Canary};
use geyser_functions::{AliasEvent, AliasInfo, FunctionName, Tenant};
use serde::Serialize;

#[derive(Serialize)]
pub struct AliasDto {
    alias: String,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary: Option<Canary>,
    auto_promote: bool,
    updated_at_ms: i64,
}

impl From<AliasInfo> for AliasDto {
    fn from(info: AliasInfo) -> Self {
        let auto_promote = info.spec.auto_promotes();
        AliasDto {
            alias: info.alias.to_string(),
            version: info.spec.version,
            canary: info.spec.canary,
            auto_promote,
            updated_at_ms: info.updated_at_ms,
        }
    }
}

#[derive(Serialize)]
pub struct AliasListDto {
    function: String,
    aliases: Vec<AliasDto>,
}

#[derive(Serialize)]
pub struct AliasEventDto {
    at_ms: i64,
    kind: &'static str,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_weight: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    detail: String,
}

impl From<AliasEvent> for AliasEventDto {
    fn from(event: AliasEvent) -> Self {
        AliasEventDto {
            at_ms: event.at_ms,
            kind: event.kind.as_str(),
            version: event.version.0,
            canary_version: event.canary_version.map(|v| v.0),
            canary_weight: event.canary_weight,
            detail: event.detail,
        }
    }
}

#[derive(Serialize)]
pub struct AliasEventsDto {
    function: String,
    alias: String,
    events: Vec<AliasEventDto>,
}

fn names(name: &str, alias: &str) -> Result<(FunctionName, AliasName), ApiError> {
    Ok((FunctionName::parse(name)?, AliasName::parse(alias)?))
}

/// The alias a trigger names (`live` when none), which must exist: 400 for a bad name, 404
/// for an alias the function does not have.
pub async fn existing(
    state: &AppState,
    tenant: &Tenant,
    function: &FunctionName,
    alias: Option<&str>,
) -> Result<AliasName, ApiError> {
    let alias = match alias {
        None => return Ok(AliasName::live()),
        Some(text) => AliasName::parse(text)?,
    };
    state.store.alias(tenant.id, function, &alias).await?;
    Ok(alias)
}

pub async fn list(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<AliasListDto>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let aliases = state.store.aliases(tenant.id, &name).await?;
    Ok(Json(AliasListDto {
        function: name.to_string(),
        aliases: aliases.into_iter().map(AliasDto::from).collect(),
    }))
}

pub async fn show(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Json<AliasDto>, ApiError> {
    let (name, alias) = names(&name, &alias)?;
    Ok(Json(
        state.store.alias(tenant.id, &name, &alias).await?.into(),
    ))
}

/// `PUT …/aliases/{alias}`: 200 with the alias as stored; 400 naming the field, or 404 for a
/// version that does not exist, with nothing changed.
pub async fn put(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    body: bytes::Bytes,
) -> Result<Json<AliasDto>, ApiError> {
    let (name, alias) = names(&name, &alias)?;
    // Parsed here so every bad body is a 400 that names the field.
    let spec: AliasSpec = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid alias body: {e}")))?;
    let info = state
        .store
        .put_alias(tenant.id, &name, &alias, spec)
        .await?;
    state.function_changed(&tenant.name, &name).await;
    tracing::info!(tenant = %tenant.name, function = %name, alias = %alias, version = info.spec.version,
        canary = ?info.spec.canary.as_ref().map(|c| (c.version, c.weight)), "alias set");
    Ok(Json(info.into()))
}

pub async fn delete(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (name, alias) = names(&name, &alias)?;
    state.store.delete_alias(tenant.id, &name, &alias).await?;
    state.function_changed(&tenant.name, &name).await;
    tracing::info!(tenant = %tenant.name, function = %name, alias = %alias, "alias removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/aliases/{alias}/promote`: the canary becomes the alias's version.
pub async fn promote(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Json<AliasDto>, ApiError> {
    let (name, alias) = names(&name, &alias)?;
    let info = state.store.promote(tenant.id, &name, &alias).await?;
    state.function_changed(&tenant.name, &name).await;
    tracing::info!(tenant = %tenant.name, function = %name, alias = %alias, version = info.spec.version, "canary promoted");
    Ok(Json(info.into()))
}

pub async fn events(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Json<AliasEventsDto>, ApiError> {
    let (name, alias) = names(&name, &alias)?;
    let events = state.store.alias_events(tenant.id, &name, &alias).await?;
    Ok(Json(AliasEventsDto {
        function: name.to_string(),
        alias: alias.to_string(),
        events: events.into_iter().map(AliasEventDto::from).collect(),
    }))
}
