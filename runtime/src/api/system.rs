//! Health, metrics and the fallback for unknown routes.

use super::AppState;
use super::error::ApiError;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render(&state.host, &state.invoker.budgets);
    state.invoker.quotas.render(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The OpenAPI 3 description of the management API (kept equal to the router by a test).
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
