//! What a destination receives when an asynchronous invocation ends: one JSON document with
//! the invocation's id, function, status, attempts, error and answer, and the original request
//! (its body in base64).

use base64::Engine as _;
use geyser_core::{QueuedRequest, QueuedStatus};
use geyser_functions::{AttemptResult, Queued};
use serde::Serialize;

#[derive(Serialize)]
struct ReportJson<'a> {
    invocation: String,
    function: &'a str,
    status: &'a str,
    attempts: u32,
    error: Option<&'a str>,
    http_status: Option<u16>,
    request: &'a QueuedRequest,
    body_base64: String,
}

/// The report of `queued`, which ended with `status` after `result`.
pub(crate) fn report_json(queued: &Queued, status: QueuedStatus, result: &AttemptResult) -> String {
    let doc = ReportJson {
        invocation: queued.id.0.to_string(),
        function: queued.function.as_str(),
        status: status.as_str(),
        attempts: queued.attempts,
        error: result.error.as_deref(),
        http_status: result.http_status,
        request: &queued.request,
        body_base64: base64::engine::general_purpose::STANDARD.encode(&queued.body),
    };
    serde_json::to_string(&doc).unwrap_or_else(|_| "{}".into())
}
