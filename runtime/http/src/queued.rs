//! Asynchronous invocation at the edge: `Prefer: respond-async` on a gateway call or a manual
//! event delivery queues it and answers 202 (`x-geyser-invocation`, `Location`);
//! `GET /v1/invocations/{id}` follows it; `GET|PUT /v1/functions/{name}/async` are the
//! function's attempts, maximum age and destinations.

use super::AppState;
use super::auth::TenantCaller;
use super::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use geyser_functions::{
    ActiveFunction, FunctionName, InvocationId, NewQueued, Queued, QueuedRequest, QueuedSettings,
    Selector, Tenant,
};
use http_body_util::BodyExt;
use serde::Serialize;

/// Whether the caller asked for an asynchronous answer (RFC 7240 `Prefer: respond-async`).
pub fn wants_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| {
            token
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("respond-async"))
        })
}

/// Reads a body up to `async.max_body_bytes`; more is 413.
pub async fn read_body(state: &AppState, body: axum::body::Body) -> Result<Bytes, ApiError> {
    let limit = state.queue.config().max_body_bytes;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err)
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large(limit))
        }
        Err(err) => Err(ApiError::bad_request(format!(
            "cannot read the body: {err}"
        ))),
    }
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "an asynchronous call's body may have at most {limit} bytes (async.max_body_bytes)"
        ),
    )
}

/// Queues `request` for `function` (as `selector` names it) and answers 202.
pub async fn accept(
    state: &AppState,
    function: &ActiveFunction,
    selector: Selector,
    request: QueuedRequest,
    body: Bytes,
) -> Result<Response, ApiError> {
    let settings = state
        .store
        .queued_settings(function.tenant.id, &function.name)
        .await?;
    let defaults = state.queue.config();
    let new = NewQueued {
        id: InvocationId::new(),
        tenant: function.tenant.id,
        tenant_name: function.tenant.name.clone(),
        function: function.name.clone(),
        selector,
        request,
        body: body.to_vec(),
        max_attempts: settings.max_attempts.unwrap_or(defaults.max_attempts),
        max_age_ms: settings.max_age_ms.unwrap_or(defaults.max_age_ms),
    };
    let max_queued = state.quotas.quotas(function.tenant.id).max_async_queued;
    let id = new.id.0.to_string();
    let accepted = state
        .queue
        .accept(new, max_queued)
        .await
        .map_err(ApiError::internal)?;
    if !accepted {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            format!(
                "tenant {} has {max_queued} asynchronous invocations waiting or running \
                 (quota max_async_queued)",
                function.tenant.name
            ),
        )
        .retry_after(1));
    }
    let location = format!("/v1/invocations/{id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"invocation": id, "status": "queued", "location": location})),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-geyser-invocation", value);
    }
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(
        "preference-applied",
        HeaderValue::from_static("respond-async"),
    );
    Ok(response)
}

/// The headers a queued HTTP call keeps: every one but the connection's own and `prefer`.
/// A value that is not visible ASCII is refused (it could not be stored as it came).
pub fn kept_headers(headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    let mut kept = Vec::new();
    for (name, value) in headers {
        if matches!(
            name.as_str(),
            "prefer"
                | "connection"
                | "keep-alive"
                | "transfer-encoding"
                | "content-length"
                | "upgrade"
        ) {
            continue;
        }
        let value = value.to_str().map_err(|_| {
            ApiError::bad_request(format!(
                "header {name} of an asynchronous call must be visible ASCII"
            ))
        })?;
        kept.push((name.as_str().to_owned(), value.to_owned()));
    }
    Ok(kept)
}

#[derive(Serialize)]
pub struct QueuedDto {
    id: String,
    function: String,
    selector: String,
    kind: &'static str,
    status: &'static str,
    attempts: u32,
    max_attempts: u32,
    accepted_at_ms: i64,
    expires_at_ms: i64,
    next_attempt_at_ms: Option<i64>,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    /// The metered invocation of the latest attempt (`GET /v1/functions/{name}/invocations`).
    last_invocation: Option<String>,
    version: Option<i64>,
    outcome: Option<&'static str>,
    http_status: Option<u16>,
    error: Option<String>,
    /// The guest's answer when it is UTF-8, else `response_base64`.
    response: Option<String>,
    response_base64: Option<String>,
    response_truncated: bool,
}

impl From<Queued> for QueuedDto {
    fn from(q: Queued) -> Self {
        let last = q.last;
        let (response, response_base64) = if last.response.is_empty() {
            (None, None)
        } else {
            match String::from_utf8(last.response) {
                Ok(text) => (Some(text), None),
                Err(bytes) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(bytes.into_bytes())),
                ),
            }
        };
        QueuedDto {
            id: q.id.0.to_string(),
            function: q.function.to_string(),
            selector: q.selector.to_string(),
            kind: q.request.kind().as_str(),
            status: q.status.as_str(),
            attempts: q.attempts,
            max_attempts: q.max_attempts,
            accepted_at_ms: q.accepted_at_ms,
            expires_at_ms: q.expires_at_ms,
            next_attempt_at_ms: (!q.status.is_final()).then_some(q.next_at_ms),
            started_at_ms: q.started_at_ms,
            finished_at_ms: q.finished_at_ms,
            last_invocation: last.invocation.map(|id| id.0.to_string()),
            version: last.version.map(|v| v.0),
            outcome: last.outcome.map(|o| o.as_str()),
            http_status: last.http_status,
            error: last.error,
            response,
            response_base64,
            response_truncated: last.response_truncated,
        }
    }
}

/// `GET /v1/invocations/{id}`: an asynchronous invocation of the caller's.
pub async fn show(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QueuedDto>, ApiError> {
    let not_found = || ApiError::not_found(format!("no asynchronous invocation {id}"));
    let parsed = uuid::Uuid::parse_str(&id).map_err(|_| not_found())?;
    let queued = state
        .store
        .queued(tenant.id, InvocationId(parsed))
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(queued.into()))
}

async fn existing(state: &AppState, tenant: &Tenant, name: &str) -> Result<FunctionName, ApiError> {
    let function = super::functions::active(state, tenant, name).await?;
    Ok(function.name)
}

/// `GET /v1/functions/{name}/async`: the function's settings with the node's defaults filled in.
pub async fn settings(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<QueuedSettings>, ApiError> {
    let name = existing(&state, &tenant, &name).await?;
    let stored = state.store.queued_settings(tenant.id, &name).await?;
    let defaults = state.queue.config();
    Ok(Json(QueuedSettings {
        max_attempts: Some(stored.max_attempts.unwrap_or(defaults.max_attempts)),
        max_age_ms: Some(stored.max_age_ms.unwrap_or(defaults.max_age_ms)),
        ..stored
    }))
}

/// `PUT /v1/functions/{name}/async`: replaces the settings (a field left out: the default).
pub async fn put_settings(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<QueuedSettings>, ApiError> {
    let name = existing(&state, &tenant, &name).await?;
    let invalid = |e: String| ApiError::bad_request(format!("invalid async settings: {e}"));
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
    if !value.is_object() {
        return Err(invalid("expected a JSON object".into()));
    }
    let settings: QueuedSettings =
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    settings
        .check(&tenant.name, &name)
        .map_err(|err| match err {
            geyser_core::InvalidQueuedSettings::Forbidden(m) => ApiError::forbidden(m),
            geyser_core::InvalidQueuedSettings::Invalid(m) => ApiError::bad_request(m),
        })?;
    for destination in [&settings.on_failure, &settings.on_success]
        .into_iter()
        .flatten()
    {
        if let geyser_core::Destination::Function(target) = destination {
            existing(&state, &tenant, target.as_str())
                .await
                .map_err(|_| {
                    ApiError::bad_request(format!("destination function {target} does not exist"))
                })?;
        }
    }
    state
        .store
        .put_queued_settings(tenant.id, &name, &settings)
        .await?;
    Ok(Json(settings))
}
