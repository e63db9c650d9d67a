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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&state.host, &state.invoker.budgets),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
