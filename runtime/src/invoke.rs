//! Dispatch of one HTTP invocation: take an instance slot, get the version warm, run it in a
//! fresh `Store` under its memory limit and deadline, stream its response back, and meter it.

use crate::cpu::CpuTimed;
use crate::host::{Host, LoadError};
use crate::metering::Meter;
use crate::metrics::Metrics;
use crate::sandbox::{GuestContext, MemoryLimitExceeded, SandboxLimits, TimedOut, new_store};
use bytes::Bytes;
use geyser_functions::{
    ActiveFunction, InvocationId, InvocationRecord, LogLine, Outcome, Store, TriggerKind, now_ms,
};
use http_body_util::{BodyExt, Limited};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Why an invocation produced no response. Each maps to one outcome and one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("all {0} instance slots are busy; try again")]
    Saturated(u32),
    #[error("function timed out after {0} ms")]
    Timeout(u64),
    #[error("function exceeded its memory limit of {0} MiB")]
    MemoryLimit(u32),
    #[error("function trapped: {0}")]
    Trap(String),
    #[error("function failed: {0}")]
    Guest(String),
    #[error("function could not be loaded: {0}")]
    Load(#[from] LoadError),
    #[error("invalid request: {0}")]
    BadRequest(String),
}

const ANSWER_NONE: u8 = 0;
const ANSWER_OK: u8 = 1;
const ANSWER_ERROR: u8 = 2;

/// What the guest task reports when it ends.
struct Finished {
    outcome: Outcome,
    error: Option<InvokeError>,
}

/// Everything an invocation needs from the process. Cloned into each invocation's task.
#[derive(Clone)]
pub struct Invoker {
    pub host: Arc<Host>,
    pub store: Store,
    pub meter: Meter,
    pub metrics: Arc<Metrics>,
    /// Tracks guest tasks that outlive their handler (streaming bodies) so shutdown can wait.
    pub tasks: TaskTracker,
    pub max_request_body_bytes: usize,
}

/// The result of a successful dispatch: the response as the guest wrote it, still streaming.
pub struct Invoked {
    pub id: InvocationId,
    pub response: http::Response<HyperOutgoingBody>,
}

impl Invoker {
    /// Runs `function` on `request`, whose URI already holds the path as the guest sees it.
    pub async fn invoke_http<B>(
        &self,
        function: ActiveFunction,
        request: http::Request<B>,
    ) -> Result<Invoked, InvokeError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let id = InvocationId::new();
        let span = tracing::info_span!(
            "geyser.invoke",
            tenant = %function.tenant.name,
            function = %function.name,
            version = %function.version,
            invocation = %id,
            trigger = "http",
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started_at_ms = now_ms();
        let start = Instant::now();
        let Some(slot) = self.host.acquire_slot().await else {
            let err = InvokeError::Saturated(self.host.config().max_instances);
            self.finish(
                &function,
                id,
                started_at_ms,
                start,
                0,
                0,
                Outcome::Rejected,
                &span,
            )
            .await;
            return Err(err);
        };

        let (pre, _temperature) = match self
            .host
            .proxy_pre(&function.hash, &self.store)
            .instrument(span.clone())
            .await
        {
            Ok(ready) => ready,
            Err(err) => {
                self.finish(
                    &function,
                    id,
                    started_at_ms,
                    start,
                    0,
                    0,
                    Outcome::Error,
                    &span,
                )
                .await;
                span.in_scope(|| tracing::error!(error = %err, "loading function failed"));
                return Err(err.into());
            }
        };

        let limits = SandboxLimits {
            memory_bytes: u64::from(function.limits.memory_mb) << 20,
            timeout_ms: function.limits.timeout_ms,
        };
        let guest_context = GuestContext {
            tenant: function.tenant.id,
            store: self.store.clone(),
        };
        let mut store = new_store(self.host.engine(), limits, guest_context);
        let request = into_guest_request(request, self.max_request_body_bytes);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        // What the guest passed to `response-outparam.set`, if it called it at all.
        let answered = Arc::new(AtomicU8::new(ANSWER_NONE));
        let answered_by_guest = answered.clone();
        let prepared = (|| -> wasmtime::Result<_> {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store
                .data_mut()
                .http()
                .new_response_outparam_from_callback(move |response| {
                    let kind = if response.is_ok() {
                        ANSWER_OK
                    } else {
                        ANSWER_ERROR
                    };
                    answered_by_guest.store(kind, Ordering::Release);
                    let _ = sender.send(response);
                })?;
            Ok((req, out))
        })();
        let (req, out) = match prepared {
            Ok(handles) => handles,
            Err(err) => {
                self.finish(
                    &function,
                    id,
                    started_at_ms,
                    start,
                    0,
                    0,
                    Outcome::Rejected,
                    &span,
                )
                .await;
                return Err(InvokeError::BadRequest(format!("{err:#}")));
            }
        };

        let cpu_ns = Arc::new(AtomicU64::new(0));
        let guest = CpuTimed::new(
            async move {
                let run = async {
                    let proxy = pre.instantiate_async(&mut store).await?;
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, req, out)
                        .await
                };
                // The epoch deadline stops a guest that computes; this stops one that waits
                // (on a request body that never comes, or a client that does not read).
                let hard_limit =
                    Duration::from_millis(limits.timeout_ms) + Duration::from_millis(250);
                let result = match tokio::time::timeout(hard_limit, run).await {
                    Ok(result) => result,
                    Err(_) => Err(wasmtime::Error::new(TimedOut {
                        timeout_ms: limits.timeout_ms,
                    })),
                };
                let peak = store.data().peak_memory_bytes();
                let logs = store.data().take_logs();
                (result, peak, logs)
            },
            cpu_ns.clone(),
        );

        let invoker = self.clone();
        let task_span = span.clone();
        let memory_mb = function.limits.memory_mb;
        let task = self.tasks.spawn(
            async move {
                let _in_flight = invoker.metrics.start();
                let (result, peak, logs) = guest.await;
                drop(slot);
                let lines = logs
                    .into_iter()
                    .map(|(at_ms, level, message)| LogLine {
                        tenant: function.tenant.id,
                        function: function.name.clone(),
                        invocation: id,
                        at_ms,
                        level: level.to_owned(),
                        message,
                    })
                    .collect();
                invoker.meter.logs(lines).await;
                let finished = classify(
                    result,
                    answered.load(Ordering::Acquire),
                    limits.timeout_ms,
                    memory_mb,
                );
                invoker
                    .finish(
                        &function,
                        id,
                        started_at_ms,
                        start,
                        cpu_ns.load(Ordering::Relaxed),
                        peak,
                        finished.outcome,
                        &task_span,
                    )
                    .await;
                finished
            }
            .instrument(span.clone()),
        );

        match receiver.await {
            Ok(Ok(response)) => Ok(Invoked { id, response }),
            Ok(Err(code)) => Err(InvokeError::Guest(format!(
                "guest answered with error {code:?}"
            ))),
            Err(_) => match task.await {
                Ok(Finished {
                    error: Some(err), ..
                }) => Err(err),
                Ok(Finished { error: None, .. }) => Err(InvokeError::Guest(
                    "function ended without a response".into(),
                )),
                Err(join) => Err(InvokeError::Trap(format!("invocation task failed: {join}"))),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        function: &ActiveFunction,
        id: InvocationId,
        started_at_ms: i64,
        start: Instant,
        cpu_ns: u64,
        peak_memory_bytes: u64,
        outcome: Outcome,
        span: &tracing::Span,
    ) {
        let wall = start.elapsed();
        span.record("outcome", outcome.as_str());
        span.record("duration_ms", wall.as_secs_f64() * 1e3);
        span.in_scope(|| tracing::debug!("invocation finished"));
        self.metrics.count(outcome);
        self.meter
            .record(InvocationRecord {
                id,
                tenant: function.tenant.id,
                function: function.name.clone(),
                version: function.version,
                trigger: TriggerKind::Http,
                started_at_ms,
                wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
                cpu_ns,
                peak_memory_bytes,
                outcome,
            })
            .await;
    }
}

/// Maps how the guest ended to an outcome (and, for failures, the error to answer with).
fn classify(result: wasmtime::Result<()>, answer: u8, timeout_ms: u64, memory_mb: u32) -> Finished {
    match result {
        Ok(()) if answer == ANSWER_OK => Finished {
            outcome: Outcome::Ok,
            error: None,
        },
        Ok(()) if answer == ANSWER_ERROR => Finished {
            outcome: Outcome::Error,
            error: Some(InvokeError::Guest("function answered with an error".into())),
        },
        Ok(()) => Finished {
            outcome: Outcome::Error,
            error: Some(InvokeError::Guest(
                "function returned without setting a response".into(),
            )),
        },
        Err(err) if err.is::<TimedOut>() => Finished {
            outcome: Outcome::Timeout,
            error: Some(InvokeError::Timeout(timeout_ms)),
        },
        Err(err) if err.is::<MemoryLimitExceeded>() => Finished {
            outcome: Outcome::MemoryLimit,
            error: Some(InvokeError::MemoryLimit(memory_mb)),
        },
        Err(err) => {
            let message = match err.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => trap.to_string(),
                None => format!("{err:#}"),
            };
            Finished {
                outcome: Outcome::Trap,
                error: Some(InvokeError::Trap(message)),
            }
        }
    }
}

/// Adapts the incoming body for wasi:http: bounded in size, errors as wasi:http error codes.
fn into_guest_request<B>(
    request: http::Request<B>,
    max_body: usize,
) -> http::Request<http_body_util::combinators::UnsyncBoxBody<Bytes, ErrorCode>>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    request.map(|body| {
        Limited::new(body, max_body)
            .map_err(move |err| {
                if err
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    ErrorCode::HttpRequestBodySize(Some(max_body as u64))
                } else {
                    ErrorCode::InternalError(Some(err.to_string()))
                }
            })
            .boxed_unsync()
    })
}
