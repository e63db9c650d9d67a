//! Dispatch of one invocation, whatever triggered it: take an instance slot, get the version
//! warm, run it in a fresh `Store` under its memory limit and deadline, classify how it ended,
//! and meter it. HTTP responses stream back while the guest still runs; events and ticks are
//! awaited to the end.

use crate::capabilities::PublishContext;
use crate::cpu::CpuTimed;
use crate::fair::ReleaseWhenWaiting;
use crate::guest_body::GuestBody;
use crate::handlers::{Event, Prepared, Tick};
use crate::hooks::{Admission, AdmissionPermit, Finish, Observer, Refusal, RefusalReason};
use crate::host::{Host, LoadError};
use crate::memory::{MemoryAccount, MemoryShortage};
use crate::outbound::{NodeOutbound, OutboundTotals};
use crate::sandbox::{
    CpuLimitExceeded, GuestContext, InvocationState, MemoryLimitExceeded, SandboxLimits, Telemetry,
    TimedOut, new_store,
};
use bytes::Bytes;
use geyser_core::{
    ActiveFunction, ArtifactSource, FunctionKind, Handlers, InvocationId, InvocationRecord, Kv,
    LogLine, Outcome, Publish, SecretBox, TraceContext, TriggerKind, now_ms,
};
use http_body_util::{BodyExt, Limited};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};

/// Why an invocation produced no result. Each maps to one outcome and one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Refused before it ran: by admission (disabled tenant, budget, quota) or for want of an
    /// instance slot.
    #[error(transparent)]
    Refused(Refusal),
    #[error("function timed out after {0} ms")]
    Timeout(u64),
    #[error("function used more than its CPU limit of {0} ms")]
    CpuLimit(u64),
    /// The guest grew past its function's limit (`shortage: None`), or past what the node's
    /// guest-memory budget, or its tenant's share of it, had left.
    #[error("{}", memory_message(*memory_mb, *shortage))]
    MemoryLimit {
        memory_mb: u32,
        shortage: Option<MemoryShortage>,
    },
    #[error("function trapped: {0}")]
    Trap(String),
    #[error("function failed: {0}")]
    Guest(String),
    #[error("function could not be loaded: {0}")]
    Load(#[from] LoadError),
    /// A secret of the version did not open with this node's key (nodes of one cluster must
    /// share it); nothing ran.
    #[error("function configuration could not be loaded: {0}")]
    Config(String),
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("{name} is {actual} function; it cannot be invoked {wanted}")]
    WrongKind {
        name: String,
        actual: String,
        wanted: &'static str,
    },
}

impl InvokeError {
    /// The outcome this error stands for. Guest failures are metered with it (as `classify`
    /// records them); a refusal by admission is not metered at all, a refusal for want of an
    /// instance slot is metered as `rejected`.
    pub fn outcome(&self) -> Outcome {
        match self {
            InvokeError::Timeout(_) => Outcome::Timeout,
            InvokeError::CpuLimit(_) => Outcome::CpuLimit,
            InvokeError::MemoryLimit { .. } => Outcome::MemoryLimit,
            InvokeError::Trap(_) => Outcome::Trap,
            InvokeError::Refused(_) => Outcome::Rejected,
            _ => Outcome::Error,
        }
    }

    /// `Some(wait)` when the node refused or cut the invocation for want of something it lacks
    /// now — admission, an instance slot, guest memory of the node or of the tenant's share —
    /// not because of the function: triggers retry it after `wait` without using an attempt.
    pub fn transient(&self) -> Option<Duration> {
        match self {
            InvokeError::Refused(refusal) => {
                Some(refusal.retry_after.unwrap_or(Duration::from_secs(1)))
            }
            InvokeError::MemoryLimit {
                shortage: Some(_), ..
            } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

fn memory_message(memory_mb: u32, shortage: Option<MemoryShortage>) -> String {
    match shortage {
        None => format!("function exceeded its memory limit of {memory_mb} MiB"),
        Some(MemoryShortage::Node) => {
            "node memory exhausted: the node's guest-memory budget is taken by running \
             invocations; try again"
                .to_owned()
        }
        Some(MemoryShortage::TenantShare) => {
            "node memory exhausted for this tenant: its running invocations hold its whole share \
             of the node's guest memory; try again"
                .to_owned()
        }
    }
}

/// How the guest's own code ended, when it did not trap.
enum GuestEnd {
    Ok,
    /// The guest answered with a 5xx status (a JavaScript handler that threw, say): the answer
    /// goes to the client whole, and the invocation counts as an error (still billed).
    ServerError,
    /// The guest reported a failure (`result::err`, an HTTP error code, no response).
    Failed(String),
}

/// What the guest task reports when it ends.
pub(crate) struct Finished {
    pub(crate) outcome: Outcome,
    pub(crate) error: Option<InvokeError>,
}

type GuestRun = Pin<Box<dyn Future<Output = wasmtime::Result<GuestEnd>> + Send>>;

const ANSWER_NONE: u8 = 0;
const ANSWER_OK: u8 = 1;
const ANSWER_ERROR: u8 = 2;
const ANSWER_SERVER_ERROR: u8 = 3;

/// Dispatches invocations. Cheap to clone (one `Arc`); built once per node from its parts.
#[derive(Clone)]
pub struct Invoker {
    inner: Arc<Inner>,
}

struct Inner {
    parts: InvokerParts,
    in_flight: AtomicI64,
}

/// Knobs of dispatch.
#[derive(Debug, Clone, Copy)]
pub struct InvokerSettings {
    /// Largest request body passed to an HTTP function.
    pub max_request_body_bytes: usize,
    /// Measure each invocation's CPU time (off only to measure what metering costs).
    pub measure_cpu: bool,
}

/// What an [`Invoker`] is built from: the host, the capability backends and the hooks.
pub struct InvokerParts {
    pub host: Arc<Host>,
    /// Where component bytes come from when this node has not compiled a version yet.
    pub artifacts: Arc<dyn ArtifactSource>,
    /// The tenants' kv (scoped per call by tenant id).
    pub kv: Arc<dyn Kv>,
    /// The node's event bus; `None` without one (then `publish` fails clearly).
    pub publish: Option<Arc<dyn Publish>>,
    /// Opens the versions' secrets (the node key).
    pub secrets: Arc<dyn SecretBox>,
    /// What guests may reach over outbound HTTP, and how much.
    pub outbound: Arc<NodeOutbound>,
    pub admission: Arc<dyn Admission>,
    /// Hears every admitted invocation's end (the binary composes metrics, metering, OTLP).
    pub observer: Arc<dyn Observer>,
    /// Tracks guest tasks that outlive their handler (streaming bodies) so shutdown can wait.
    pub tasks: TaskTracker,
    pub settings: InvokerSettings,
}

/// What a trigger adds to an invocation besides the function and its input.
#[derive(Default)]
pub struct InvocationExtras {
    /// Run the guest's kv calls here instead of the node's kv (a Kafka delivery's transaction,
    /// committed with its processed mark).
    pub kv: Option<Arc<dyn Kv>>,
    /// The `traceparent` the trigger arrived with; `None` (or an invalid one) starts a trace.
    pub traceparent: Option<String>,
}

/// The result of a successful HTTP dispatch: the response as the guest wrote it, still streaming.
pub struct Invoked {
    pub id: InvocationId,
    /// The invocation's `traceparent` (its span in the caller's trace), for the response.
    pub traceparent: String,
    pub response: http::Response<GuestBody>,
}

/// One invocation between "admitted" and "running": its id, span and clocks.
struct Admitted {
    id: InvocationId,
    trigger: TriggerKind,
    /// The invocation's own span in the trace it arrived with (or a new trace).
    trace: TraceContext,
    span: tracing::Span,
    started_at_ms: i64,
    start: Instant,
    /// What admission handed out (tenant and function slots), held until the invocation ended.
    permit: AdmissionPermit,
}

/// What an invocation used, for its record. Zero for one that never ran.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cpu_ns: u64,
    peak_memory_bytes: u64,
    outbound: OutboundTotals,
    http_status: Option<u16>,
}

/// Decrements the in-flight gauge when the guest task ends, however it ends.
struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Invoker {
    pub fn new(parts: InvokerParts) -> Invoker {
        Invoker {
            inner: Arc::new(Inner {
                parts,
                in_flight: AtomicI64::new(0),
            }),
        }
    }

    pub fn host(&self) -> &Arc<Host> {
        &self.inner.parts.host
    }

    /// Guest tasks running now (admitted, past the slot, not yet ended).
    pub fn in_flight(&self) -> u64 {
        u64::try_from(self.inner.in_flight.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Starts an invocation: asks the admission hook (disabled tenant, budget, quotas), then
    /// gives it an id, a trace span and a clock. A refusal is not metered (nothing ran).
    async fn admit(
        &self,
        function: &ActiveFunction,
        trigger: TriggerKind,
        traceparent: Option<&str>,
    ) -> Result<Admitted, InvokeError> {
        let permit = self
            .inner
            .parts
            .admission
            .admit(function, trigger)
            .await
            .map_err(InvokeError::Refused)?;
        let id = InvocationId::new();
        let trace = TraceContext::child_of(traceparent);
        let span = tracing::info_span!(
            "geyser.invoke",
            tenant = %function.tenant.name,
            function = %function.name,
            version = %function.version,
            invocation = %id,
            trigger = trigger.as_str(),
            trace_id = %trace.trace_id(),
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        Ok(Admitted {
            id,
            trigger,
            trace,
            span,
            started_at_ms: now_ms(),
            start: Instant::now(),
            permit,
        })
    }

    /// Takes a slot and the warm version; failures are metered here.
    async fn prepare(
        &self,
        function: &ActiveFunction,
        admission: &Admitted,
    ) -> Result<(crate::host::InstanceSlot, Prepared), InvokeError> {
        let host = &self.inner.parts.host;
        let wait = Duration::from_millis(host.config().queue_timeout_ms);
        if !host.memory().wait_below_high_water(wait).await {
            self.finish(function, admission, Usage::default(), Outcome::Rejected);
            return Err(InvokeError::Refused(
                Refusal::new(
                    RefusalReason::Saturated,
                    "node memory exhausted: running invocations hold most of the node's guest \
                     memory; try again",
                )
                .retry_after(Duration::from_secs(1)),
            ));
        }
        let Some(slot) = host.acquire_slot().await else {
            self.finish(function, admission, Usage::default(), Outcome::Rejected);
            return Err(InvokeError::Refused(
                Refusal::new(
                    RefusalReason::Saturated,
                    format!(
                        "all {} instance slots are busy; try again",
                        host.config().max_instances
                    ),
                )
                .retry_after(Duration::from_secs(1)),
            ));
        };
        match host
            .prepared(&function.hash, &*self.inner.parts.artifacts)
            .instrument(admission.span.clone())
            .await
        {
            Ok((prepared, _temperature)) => Ok((slot, prepared)),
            Err(err) => {
                self.finish(function, admission, Usage::default(), Outcome::Error);
                admission
                    .span
                    .in_scope(|| tracing::error!(error = %err, "loading function failed"));
                Err(err.into())
            }
        }
    }

    /// The invocation's store. A secret that does not open fails the invocation (metered as
    /// an error; nothing ran).
    fn sandbox(
        &self,
        function: &ActiveFunction,
        admission: &Admitted,
        engine: &wasmtime::Engine,
        extras: InvocationExtras,
    ) -> Result<(wasmtime::Store<InvocationState>, Telemetry, SandboxLimits), InvokeError> {
        let env = match self.environment(function) {
            Ok(env) => env,
            Err(err) => {
                self.finish(function, admission, Usage::default(), Outcome::Error);
                admission.span.in_scope(
                    || tracing::error!(error = %err, "opening the function's secrets failed"),
                );
                return Err(InvokeError::Config(err.to_string()));
            }
        };
        let host = &self.inner.parts.host;
        let limits = SandboxLimits {
            memory_bytes: u64::from(function.limits.memory_mb) << 20,
            timeout_ms: function.limits.timeout_ms,
            cpu_limit_ms: function.limits.cpu_limit_ms,
        };
        let traceparent = admission.trace.header();
        let context = GuestContext {
            tenant: function.tenant.id,
            kv: extras.kv.unwrap_or_else(|| self.inner.parts.kv.clone()),
            publish: self.inner.parts.publish.clone().map(|bus| PublishContext {
                bus,
                tenant: function.tenant.name.clone(),
                traceparent: traceparent.clone(),
            }),
            env,
            config: function.config.clone(),
            outbound: self.inner.parts.outbound.clone(),
            traceparent,
            memory: Some(MemoryAccount {
                node: host.memory().clone(),
                tenant: function.tenant.id,
                share_bytes: host.memory().share_of(admission.permit.node_memory_percent),
            }),
            turns: host
                .long_guests()
                .map(|gate| (gate.clone(), host.config().long_guest_after_ticks())),
        };
        let (store, telemetry) = new_store(engine, limits, context);
        Ok((store, telemetry, limits))
    }

    /// The version's variables and opened secrets, as the guest's environment.
    fn environment(
        &self,
        function: &ActiveFunction,
    ) -> Result<Vec<(String, String)>, geyser_core::SecretError> {
        let config = &function.config;
        let mut env = Vec::with_capacity(config.variables.len() + config.secrets.len());
        for (name, value) in &config.variables {
            env.push((name.to_string(), value.clone()));
        }
        for (name, sealed) in &config.secrets {
            let value = self.inner.parts.secrets.open(name, sealed)?;
            env.push((name.to_string(), value.0));
        }
        Ok(env)
    }

    /// Runs `run` (which owns the store) on a tracked task under the function's hard deadline,
    /// then classifies, stores logs and meters. The task's result says how it ended.
    fn spawn_guest(
        &self,
        function: ActiveFunction,
        admission: Admitted,
        slot: crate::host::InstanceSlot,
        telemetry: Telemetry,
        limits: SandboxLimits,
        run: GuestRun,
    ) -> JoinHandle<Finished> {
        let cpu = telemetry.cpu().clone();
        let run = ReleaseWhenWaiting::new(run, telemetry.turn().clone());
        let guest = CpuTimed::new(
            async move {
                // The epoch deadline stops a guest that computes; this stops one that waits
                // (on a timer, a request body that never comes, a client that does not read).
                let hard_limit =
                    Duration::from_millis(limits.timeout_ms) + Duration::from_millis(250);
                match tokio::time::timeout(hard_limit, run).await {
                    Ok(result) => result,
                    Err(_) => Err(wasmtime::Error::new(TimedOut {
                        timeout_ms: limits.timeout_ms,
                    })),
                }
            },
            (self.inner.parts.settings.measure_cpu || limits.cpu_limit_ms.is_some())
                .then(|| cpu.clone()),
        );
        let invoker = self.clone();
        let span = admission.span.clone();
        self.inner.parts.tasks.spawn(
            async move {
                invoker.inner.in_flight.fetch_add(1, Ordering::Relaxed);
                let _in_flight = InFlight(&invoker.inner.in_flight);
                let result = guest.await;
                drop(slot);
                let lines: Vec<LogLine> = telemetry
                    .take_logs()
                    .into_iter()
                    .map(|(at_ms, level, message)| LogLine {
                        tenant: function.tenant.id,
                        function: function.name.clone(),
                        invocation: admission.id,
                        at_ms,
                        level: level.to_owned(),
                        message,
                    })
                    .collect();
                invoker.inner.parts.observer.logs(lines);
                let mut finished = classify(result, limits.timeout_ms, function.limits.memory_mb);
                // The guest failed because its client went away (a write to the closed
                // response stream): not the function's failure.
                if telemetry.client_went_away()
                    && matches!(finished.outcome, Outcome::Trap | Outcome::Error)
                {
                    finished.outcome = Outcome::Cancelled;
                }
                invoker.finish(
                    &function,
                    &admission,
                    Usage {
                        cpu_ns: cpu.total_ns(),
                        peak_memory_bytes: telemetry.peak_memory_bytes(),
                        outbound: telemetry.outbound(),
                        http_status: telemetry.http_status(),
                    },
                    finished.outcome,
                );
                finished
            }
            .instrument(span),
        )
    }

    /// Runs an HTTP function on `request`, whose URI already holds the path as the guest sees it.
    pub async fn invoke_http<B>(
        &self,
        function: ActiveFunction,
        request: http::Request<B>,
    ) -> Result<Invoked, InvokeError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.invoke_http_with(
            function,
            TriggerKind::Http,
            request,
            InvocationExtras::default(),
        )
        .await
    }

    /// [`Invoker::invoke_http`] for another trigger (the asynchronous queue), with its kv
    /// transaction. The trace continues the request's `traceparent` unless `extras` names one.
    pub async fn invoke_http_with<B>(
        &self,
        function: ActiveFunction,
        trigger: TriggerKind,
        request: http::Request<B>,
        mut extras: InvocationExtras,
    ) -> Result<Invoked, InvokeError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !function.kind.contains(FunctionKind::Http) {
            return Err(wrong_kind(&function, "over HTTP"));
        }
        let parent = extras.traceparent.take().or_else(|| {
            request
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let admission = self.admit(&function, trigger, parent.as_deref()).await?;
        let id = admission.id;
        let traceparent = admission.trace.header();
        let (slot, prepared) = self.prepare(&function, &admission).await?;
        let Some(pre) = prepared.http else {
            self.finish(&function, &admission, Usage::default(), Outcome::Error);
            return Err(wrong_kind(&function, "over HTTP"));
        };
        let (mut store, telemetry, limits) =
            self.sandbox(&function, &admission, &prepared.engine, extras)?;
        let request = into_guest_request(request, self.inner.parts.settings.max_request_body_bytes);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        // What the guest passed to `response-outparam.set`, if it called it at all.
        let answered = Arc::new(AtomicU8::new(ANSWER_NONE));
        let answered_by_guest = answered.clone();
        let observed = telemetry.clone();
        let prepared = (|| -> wasmtime::Result<_> {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store
                .data_mut()
                .http()
                .new_response_outparam_from_callback(move |response| {
                    let kind = match &response {
                        Ok(answer) if answer.status().is_server_error() => ANSWER_SERVER_ERROR,
                        Ok(_) => ANSWER_OK,
                        Err(_) => ANSWER_ERROR,
                    };
                    if let Ok(answer) = &response {
                        observed.answered(answer.status().as_u16());
                    }
                    answered_by_guest.store(kind, Ordering::Release);
                    if sender.send(response).is_err() {
                        // Nobody waits for the answer any more: the client went away.
                        observed.client_gone().store(true, Ordering::Relaxed);
                    }
                })?;
            Ok((req, out))
        })();
        let (req, out) = match prepared {
            Ok(handles) => handles,
            Err(err) => {
                self.finish(&function, &admission, Usage::default(), Outcome::Rejected);
                return Err(InvokeError::BadRequest(format!("{err:#}")));
            }
        };
        let run: GuestRun = Box::pin(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await?;
            Ok(match answered.load(Ordering::Acquire) {
                ANSWER_OK => GuestEnd::Ok,
                ANSWER_SERVER_ERROR => GuestEnd::ServerError,
                ANSWER_ERROR => GuestEnd::Failed("function answered with an error".into()),
                _ => GuestEnd::Failed("function returned without setting a response".into()),
            })
        });
        let client_gone = telemetry.client_gone().clone();
        let task = self.spawn_guest(function, admission, slot, telemetry, limits, run);

        match receiver.await {
            Ok(Ok(response)) => Ok(Invoked {
                id,
                traceparent,
                response: response.map(|body| GuestBody::new(body, task, client_gone)),
            }),
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

    /// Runs an event function on one event and waits for it to finish.
    pub async fn invoke_event(
        &self,
        function: ActiveFunction,
        trigger: TriggerKind,
        event: Event,
    ) -> Result<InvocationId, InvokeError> {
        self.invoke_event_with(function, trigger, event, InvocationExtras::default())
            .await
    }

    /// [`Invoker::invoke_event`] inside a trigger's transaction and trace.
    pub async fn invoke_event_with(
        &self,
        function: ActiveFunction,
        trigger: TriggerKind,
        event: Event,
        extras: InvocationExtras,
    ) -> Result<InvocationId, InvokeError> {
        self.invoke_handler(
            function,
            trigger,
            "with an event",
            extras,
            move |prepared, mut store| match prepared.event {
                Some(pre) => Some(Box::pin(async move {
                    let result = pre.handle(&mut store, &event).await?;
                    Ok(result.map_or_else(GuestEnd::Failed, |()| GuestEnd::Ok))
                }) as GuestRun),
                None => None,
            },
        )
        .await
    }

    /// Runs a scheduled function on one tick and waits for it to finish.
    pub async fn invoke_tick(
        &self,
        function: ActiveFunction,
        trigger: TriggerKind,
        tick: Tick,
    ) -> Result<InvocationId, InvokeError> {
        self.invoke_handler(
            function,
            trigger,
            "with a tick",
            InvocationExtras::default(),
            move |prepared, mut store| match prepared.schedule {
                Some(pre) => Some(Box::pin(async move {
                    let result = pre.on_tick(&mut store, &tick).await?;
                    Ok(result.map_or_else(GuestEnd::Failed, |()| GuestEnd::Ok))
                }) as GuestRun),
                None => None,
            },
        )
        .await
    }

    async fn invoke_handler(
        &self,
        function: ActiveFunction,
        trigger: TriggerKind,
        wanted: &'static str,
        extras: InvocationExtras,
        run: impl FnOnce(Prepared, wasmtime::Store<InvocationState>) -> Option<GuestRun>,
    ) -> Result<InvocationId, InvokeError> {
        let admission = self
            .admit(&function, trigger, extras.traceparent.as_deref())
            .await?;
        let id = admission.id;
        let (slot, prepared) = self.prepare(&function, &admission).await?;
        let (store, telemetry, limits) =
            self.sandbox(&function, &admission, &prepared.engine, extras)?;
        let Some(run) = run(prepared, store) else {
            self.finish(&function, &admission, Usage::default(), Outcome::Error);
            return Err(wrong_kind(&function, wanted));
        };
        let task = self.spawn_guest(function, admission, slot, telemetry, limits, run);
        match task.await {
            Ok(Finished { error: None, .. }) => Ok(id),
            Ok(Finished {
                error: Some(err), ..
            }) => Err(err),
            Err(join) => Err(InvokeError::Trap(format!("invocation task failed: {join}"))),
        }
    }

    fn finish(
        &self,
        function: &ActiveFunction,
        admission: &Admitted,
        usage: Usage,
        outcome: Outcome,
    ) {
        let wall = admission.start.elapsed();
        let span = &admission.span;
        span.record("outcome", outcome.as_str());
        span.record("duration_ms", wall.as_secs_f64() * 1e3);
        span.in_scope(|| tracing::debug!("invocation finished"));
        let record = InvocationRecord {
            id: admission.id,
            tenant: function.tenant.id,
            function: function.name.clone(),
            version: function.version,
            trigger: admission.trigger,
            started_at_ms: admission.started_at_ms,
            wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
            cpu_ns: usage.cpu_ns,
            peak_memory_bytes: usage.peak_memory_bytes,
            memory_limit_bytes: u64::from(function.limits.memory_mb) << 20,
            outbound_requests: usage.outbound.requests,
            outbound_bytes: usage.outbound.bytes,
            outbound_wait_ns: usage.outbound.wait_ns,
            outcome,
            traceparent: Some(admission.trace.header()),
            http_status: usage.http_status,
        };
        let finish = Finish {
            function,
            record: &record,
            trace: &admission.trace,
            wall,
        };
        self.inner.parts.observer.finished(&finish);
    }
}

fn wrong_kind(function: &ActiveFunction, wanted: &'static str) -> InvokeError {
    InvokeError::WrongKind {
        name: function.name.to_string(),
        actual: describe(function.kind),
        wanted,
    }
}

/// "an HTTP", "an event", "a scheduled", or "an HTTP and event" for several handlers.
pub fn describe(handlers: Handlers) -> String {
    let names: Vec<&str> = handlers
        .kinds()
        .map(|kind| match kind {
            FunctionKind::Http => "HTTP",
            FunctionKind::Event => "event",
            FunctionKind::Schedule => "scheduled",
        })
        .collect();
    let joined = names.join(" and ");
    let article = if joined.starts_with(['a', 'e', 'i', 'o', 'u', 'H']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {joined}")
}

/// Maps how the guest ended to an outcome (and, for failures, the error to answer with).
fn classify(result: wasmtime::Result<GuestEnd>, timeout_ms: u64, memory_mb: u32) -> Finished {
    match result {
        Ok(GuestEnd::Ok) => Finished {
            outcome: Outcome::Ok,
            error: None,
        },
        // No error: the response (already on its way) is streamed to its end.
        Ok(GuestEnd::ServerError) => Finished {
            outcome: Outcome::Error,
            error: None,
        },
        Ok(GuestEnd::Failed(message)) => Finished {
            outcome: Outcome::Error,
            error: Some(InvokeError::Guest(message)),
        },
        Err(err) if err.is::<TimedOut>() => Finished {
            outcome: Outcome::Timeout,
            error: Some(InvokeError::Timeout(timeout_ms)),
        },
        Err(err) if err.is::<CpuLimitExceeded>() => Finished {
            outcome: Outcome::CpuLimit,
            error: Some(InvokeError::CpuLimit(
                err.downcast_ref::<CpuLimitExceeded>()
                    .map_or(0, |e| e.limit_ms),
            )),
        },
        Err(err) if err.is::<MemoryLimitExceeded>() => Finished {
            outcome: Outcome::MemoryLimit,
            error: Some(InvokeError::MemoryLimit {
                memory_mb,
                shortage: err
                    .downcast_ref::<MemoryLimitExceeded>()
                    .and_then(|e| e.shortage),
            }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_shortages_are_transient_and_the_functions_own_failures_are_not() {
        let refused = InvokeError::Refused(
            Refusal::new(RefusalReason::Saturated, "busy").retry_after(Duration::from_secs(3)),
        );
        assert_eq!(refused.transient(), Some(Duration::from_secs(3)));
        let node = InvokeError::MemoryLimit {
            memory_mb: 512,
            shortage: Some(MemoryShortage::Node),
        };
        assert_eq!(node.transient(), Some(Duration::from_secs(1)));
        assert!(node.to_string().contains("node memory exhausted"), "{node}");
        let own = InvokeError::MemoryLimit {
            memory_mb: 64,
            shortage: None,
        };
        assert_eq!(own.transient(), None);
        assert_eq!(
            own.to_string(),
            "function exceeded its memory limit of 64 MiB"
        );
        assert_eq!(InvokeError::CpuLimit(200).transient(), None);
        assert_eq!(InvokeError::CpuLimit(200).outcome(), Outcome::CpuLimit);
    }
}
