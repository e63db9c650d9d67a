//! The one error type of the HTTP API: client errors are answered (JSON `{"error":{...}}`),
//! internal errors are logged once here and answered without detail.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds, sent as `Retry-After` (429 and 503).
    retry_after_s: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// The same error, telling the client when to retry.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds.max(1));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn tenant_disabled(tenant: &geyser_functions::TenantName) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "tenant_disabled",
            format!("tenant {tenant} is disabled; ask the operator to enable it"),
        )
    }

    /// An internal fault: logged here, once, and answered as a bare 500.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<geyser_functions::Error> for ApiError {
    fn from(err: geyser_functions::Error) -> Self {
        use geyser_functions::Error as E;
        match err {
            E::TenantExists(_) => Self::new(StatusCode::CONFLICT, "conflict", err.to_string()),
            E::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", err.to_string()),
            E::UnknownTenant(_)
            | E::UnknownFunction { .. }
            | E::UnknownVersion { .. }
            | E::UnknownAlias { .. }
            | E::UnknownKey(_) => Self::not_found(err.to_string()),
            E::InvalidConfig(err) => err.into(),
            E::InvalidAlias(err) => Self::new(StatusCode::BAD_REQUEST, "invalid_alias", err.0),
            E::UnknownArtifact(_)
            | E::Database(_)
            | E::Migrate(_)
            | E::Corrupt(_)
            | E::EventWrittenOut
            | E::WriteFailed
            | E::ReadsChanged => Self::internal(err),
        }
    }
}

impl From<geyser_core::InvalidConfig> for ApiError {
    fn from(err: geyser_core::InvalidConfig) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_config", err.0)
    }
}

impl From<geyser_functions::InvalidName> for ApiError {
    fn from(err: geyser_functions::InvalidName) -> Self {
        Self::bad_request(err.to_string())
    }
}

/// Turns an axum extractor rejection (bad JSON, body too large, bad query) into our JSON shape,
/// keeping its status (413 for an oversized body).
pub fn rejection(rejection: impl IntoResponse + std::fmt::Display) -> ApiError {
    let message = rejection.to_string();
    let status = rejection.into_response().status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_request",
    };
    ApiError::new(status, code, message)
}

/// An optional JSON body: none (or empty) is `T::default()`, anything else must be a JSON
/// object of `T`'s shape (serde would also take an array for a struct; we do not).
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    let invalid = |e: serde_json::Error| ApiError::bad_request(format!("invalid JSON body: {e}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid JSON body: expected a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(invalid)
}

impl From<geyser_engine::InvokeError> for ApiError {
    fn from(err: geyser_engine::InvokeError) -> Self {
        use geyser_engine::InvokeError as E;
        let message = err.to_string();
        match err {
            E::Refused(refusal) => {
                use geyser_engine::RefusalReason as R;
                let (status, code) = match refusal.reason {
                    R::TenantDisabled => (StatusCode::FORBIDDEN, "tenant_disabled"),
                    R::BudgetExceeded => (StatusCode::PAYMENT_REQUIRED, "budget_exceeded"),
                    R::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
                    R::ConcurrencyLimited => (StatusCode::TOO_MANY_REQUESTS, "concurrency_limited"),
                    R::Saturated => (StatusCode::SERVICE_UNAVAILABLE, "saturated"),
                };
                let answer = Self::new(status, code, message);
                match refusal.retry_after {
                    // Whole seconds, rounded up: a client that waits that long finds room.
                    Some(after) => answer.retry_after(after.as_millis().div_ceil(1000) as u64),
                    None => answer,
                }
            }
            E::Timeout(_) => Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message),
            E::CpuLimit(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "cpu_limit", message),
            E::MemoryLimit { shortage: None, .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "memory_limit", message)
            }
            // Not the function's fault: the node (or the tenant's share of it) is full now.
            E::MemoryLimit {
                shortage: Some(_), ..
            } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "node_memory_exhausted",
                message,
            )
            .retry_after(1),
            E::Trap(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "trap", message),
            E::Guest(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "function_error", message),
            E::BadRequest(_) => Self::bad_request(message),
            E::WrongKind { .. } => Self::new(StatusCode::BAD_REQUEST, "wrong_kind", message),
            E::Load(err) => Self::internal(err),
            E::Config(err) => Self::internal(err),
        }
    }
}
