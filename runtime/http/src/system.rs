//! Health, metrics and the fallback for unknown routes.

use super::AppState;
use super::auth::{AdminCaller, Caller, TenantQuery};
use super::error::{ApiError, rejection};
use axum::extract::Query;
use axum::extract::State;
use axum::extract::rejection::QueryRejection;
use axum::http::header;
use axum::response::IntoResponse;
use geyser_core::prom::Scope;

pub async fn healthz() -> &'static str {
    "ok"
}

/// `/metrics` (admin): every family of the node, every tenant.
pub async fn metrics(_admin: AdminCaller, State(state): State<AppState>) -> impl IntoResponse {
    exposition(&state, Scope::Node)
}

/// `/v1/metrics`: a tenant's own series (the admin names one with `?tenant=NAME`).
pub async fn tenant_metrics(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(rejection)?;
    let tenant = caller
        .target(&state, query.tenant.as_deref(), "metrics")
        .await?;
    Ok(exposition(&state, Scope::Tenant(tenant.name.as_str())))
}

fn exposition(state: &AppState, scope: Scope<'_>) -> impl IntoResponse + use<> {
    let mut text = String::new();
    for families in state.metrics.iter() {
        families.render(&mut text, scope);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The OpenAPI 3 description of the management API (kept equal to the router by a test).
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

/// Unknown routes. The body is read (up to 1 MiB) before answering, so a client still sending
/// it sees the 404 instead of a reset connection.
pub async fn not_found(body: axum::body::Body) -> ApiError {
    use http_body_util::BodyExt;
    let _ = http_body_util::Limited::new(body, 1 << 20).collect().await;
    ApiError::not_found("no such route")
}
