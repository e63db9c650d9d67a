//! `/v1/keys`: a tenant's API keys. A tenant creates, lists (prefix only) and revokes its own;
//! the admin does the same for any tenant with `?tenant=NAME`.

use super::AppState;
use super::auth::{Caller, TenantQuery};
use super::error::{ApiError, optional_json, rejection};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bytes::Bytes;
use geyser_functions::{KeyId, KeyInfo, MAX_KEY_NAME_CHARS};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Serialize)]
pub struct KeyDto {
    id: i64,
    /// `gy_` and the first 8 digits: enough to tell keys apart, never the secret.
    prefix: String,
    name: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
    revoked: bool,
}

#[derive(Serialize)]
pub struct CreatedKeyDto {
    #[serde(flatten)]
    key: KeyDto,
    /// Shown once; only its hash is stored.
    api_key: String,
}

impl From<KeyInfo> for KeyDto {
    fn from(info: KeyInfo) -> Self {
        KeyDto {
            id: info.id.0,
            prefix: info.prefix,
            name: info.name,
            created_at_ms: info.created_at_ms,
            revoked: info.revoked_at_ms.is_some(),
            revoked_at_ms: info.revoked_at_ms,
        }
    }
}

pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<Json<Vec<KeyDto>>, ApiError> {
    let Query(query) = query.map_err(rejection)?;
    let tenant = caller
        .target(&state, query.tenant.as_deref(), "keys")
        .await?;
    let keys = state.store.list_keys(tenant.id).await?;
    Ok(Json(keys.into_iter().map(KeyDto::from).collect()))
}

pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<TenantQuery>, QueryRejection>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedKeyDto>), ApiError> {
    let Query(query) = query.map_err(rejection)?;
    let tenant = caller
        .target(&state, query.tenant.as_deref(), "keys")
        .await?;
    // The body is optional: none (or empty) creates an unnamed key.
    let body: CreateKey = optional_json(&body)?;
    let name = body.name.unwrap_or_default();
    if name.chars().count() > MAX_KEY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "a key name is at most {MAX_KEY_NAME_CHARS} characters, without control characters"
        )));
    }
    let created = state.store.create_key(tenant.id, &name).await?;
    tracing::info!(tenant = %tenant.name, key = created.info.id.0, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyDto {
            api_key: created.api_key.expose().to_owned(),
            key: created.info.into(),
        }),
    ))
}

pub async fn revoke(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<Json<KeyDto>, ApiError> {
    let Query(query) = query.map_err(rejection)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("API key {id:?} not found")))?;
    let tenant = caller
        .target(&state, query.tenant.as_deref(), "keys")
        .await?;
    let revoked = state.store.revoke_key(tenant.id, KeyId(id)).await?;
    tracing::info!(tenant = %tenant.name, key = id, "API key revoked");
    Ok(Json(revoked.into()))
}
