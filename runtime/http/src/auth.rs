//! Who is calling: the admin, a tenant, or nobody. Keys come as `Authorization: Bearer KEY`.

use super::AppState;
use super::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use geyser_functions::{ApiKey, KeyLookup, Tenant, TenantName};

/// A caller with a valid key.
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    Tenant(Tenant),
}

/// The bearer key in `parts`, if any.
pub fn bearer(parts: &Parts) -> Option<ApiKey> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| ApiKey::from_presented(key.trim()))
}

/// Why a presented key does not identify a caller.
#[derive(Debug, Clone)]
pub enum Refused {
    /// Not the shape of any key: refused without a lookup.
    Malformed,
    Unknown,
    Revoked,
    /// The key is valid but its tenant is disabled.
    Disabled(TenantName),
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Malformed => ApiError::unauthorized(format!(
                "malformed API key: tenant keys are `{}` followed by 64 hex digits",
                geyser_functions::KEY_PREFIX
            )),
            Refused::Unknown => ApiError::unauthorized("invalid API key"),
            Refused::Revoked => ApiError::unauthorized("this API key was revoked"),
            Refused::Disabled(name) => ApiError::tenant_disabled(&name),
        }
    }
}

/// Resolves a presented key: the admin key (compared in constant time), a tenant's key (looked
/// up by its SHA-256), or a refusal. The outer error is a fault of the store.
pub async fn resolve(state: &AppState, key: &ApiKey) -> Result<Result<Caller, Refused>, ApiError> {
    if key.matches(&state.admin_key) {
        return Ok(Ok(Caller::Admin));
    }
    if !key.is_well_formed() {
        return Ok(Err(Refused::Malformed));
    }
    Ok(match state.store.lookup_key(key).await? {
        KeyLookup::Tenant(tenant) if tenant.disabled => Err(Refused::Disabled(tenant.name)),
        KeyLookup::Tenant(tenant) => Ok(Caller::Tenant(tenant)),
        KeyLookup::Revoked => Err(Refused::Revoked),
        KeyLookup::Unknown => Err(Refused::Unknown),
    })
}

/// `?tenant=NAME`: which tenant a [`Caller::target`] read is about (the admin must name one).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    pub tenant: Option<String>,
}

impl Caller {
    /// The tenant a read is about: a tenant reads its own (naming itself is allowed), the
    /// admin names one with `?tenant=NAME`.
    pub async fn target(
        self,
        state: &AppState,
        named: Option<&str>,
        what: &str,
    ) -> Result<Tenant, ApiError> {
        match (self, named) {
            (Caller::Tenant(tenant), None) => Ok(tenant),
            (Caller::Tenant(tenant), Some(name)) if name == tenant.name.as_str() => Ok(tenant),
            (Caller::Tenant(_), Some(_)) => Err(ApiError::forbidden(format!(
                "a tenant sees only its own {what}"
            ))),
            (Caller::Admin, Some(name)) => Ok(state
                .store
                .tenant_by_name(&geyser_functions::TenantName::parse(name)?)
                .await?),
            (Caller::Admin, None) => Err(ApiError::bad_request(
                "the admin must name a tenant: ?tenant=NAME",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("missing API key: send `Authorization: Bearer KEY`")
        })?;
        Ok(resolve(state, &key).await??)
    }
}

/// A caller that must be a tenant (management of its own functions).
#[derive(Debug, Clone)]
pub struct TenantCaller(pub Tenant);

impl FromRequestParts<AppState> for TenantCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Tenant(tenant) => Ok(TenantCaller(tenant)),
            Caller::Admin => Err(ApiError::forbidden(
                "this endpoint acts for a tenant: use the tenant's API key",
            )),
        }
    }
}

/// A caller that must be the admin.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller;

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Admin => Ok(AdminCaller),
            Caller::Tenant(_) => Err(ApiError::forbidden("this endpoint needs the admin key")),
        }
    }
}
