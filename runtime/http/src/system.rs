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
    let mut text = String::new();
    for families in state.metrics.iter() {
        families.render(&mut text);
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
