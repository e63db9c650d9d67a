//! `GET /ui`: the dashboard, one page compiled into the binary (no build step), with its one
//! library, uPlot (the charts), vendored at a pinned version (`runtime/http/vendor/`,
//! `scripts/vendor-ui.sh`) and served by the node itself at `/ui/uplot.js` and `/ui/uplot.css`:
//! the page makes no request anywhere else. It signs in with an API key held in the browser's session storage
//! and reads the same API a client would: statement, usage series, tenants (admin).

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("ui.html");
const UPLOT_JS: &str = include_str!("../vendor/uplot-1.6.32/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../vendor/uplot-1.6.32/uPlot.min.css");

/// What the page may load: scripts, styles and data from the node only.
const CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse + use<> {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // The vendored copy changes only with a new binary: an hour's cache is safe enough.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

pub async fn uplot_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", UPLOT_JS)
}

pub async fn uplot_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", UPLOT_CSS)
}

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}
