//! `GET /ui`: the dashboard, one self-contained page compiled into the binary (no build step,
//! no third-party scripts). It signs in with an API key held in the browser's session storage
//! and reads the same API a client would: statement, usage series, tenants (admin).

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("ui.html");

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src 'self' data:; form-action 'self'; \
                 frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}
