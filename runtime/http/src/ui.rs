//! `GET /ui`: the console, compiled into the binary (no build step): `runtime/http/ui/` holds
//! the page, its stylesheet and one ES module per page, and uPlot (the charts) is vendored at a
//! pinned version (`runtime/http/vendor/`, `scripts/vendor-ui.sh`). Everything is served by the
//! node itself under `/ui/`, and the CSP lets the page load nothing from anywhere else. It signs
//! in with an API key held in the tab's session storage and reads the same API a client would.

use crate::error::ApiError;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("../ui/index.html");

/// Every file under `/ui/` by name, with its content type.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "uplot.js",
        JS,
        include_str!("../vendor/uplot-1.6.32/uPlot.iife.min.js"),
    ),
    (
        "uplot.css",
        CSS,
        include_str!("../vendor/uplot-1.6.32/uPlot.min.css"),
    ),
    ("console.css", CSS, include_str!("../ui/console.css")),
    ("app.js", JS, include_str!("../ui/app.js")),
    ("lib.js", JS, include_str!("../ui/lib.js")),
    ("overview.js", JS, include_str!("../ui/overview.js")),
    ("functions.js", JS, include_str!("../ui/functions.js")),
    ("logs.js", JS, include_str!("../ui/logs.js")),
    ("account.js", JS, include_str!("../ui/account.js")),
    ("admin.js", JS, include_str!("../ui/admin.js")),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// What the page may load: scripts, styles and data from the node only. (Inline styles are
/// allowed for the chart library, which sizes its canvas with a `style` attribute; no inline
/// script runs.)
const CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /ui/{asset}`: one of [`ASSETS`]; 404 for any other name.
pub async fn asset(Path(name): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(|| ApiError::not_found(format!("no console file {name:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // The files change only with a new binary; `no-cache` makes the browser revalidate
            // so a node upgrade is seen at once (the files are small and local).
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *body,
    ))
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
