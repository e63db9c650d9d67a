//! OTLP export of invocation spans (OTLP/HTTP with JSON bodies, batched on a background
//! thread) when `[otlp] endpoint` is set. Each invocation becomes one span whose ids are the
//! ones in its `traceparent` — the span id the response header and the invocation record carry,
//! the caller's span as parent — so a collector joins it to the caller's trace.

use geyser_core::{ActiveFunction, InvocationId, Outcome, TraceContext, TriggerKind};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use std::time::{Duration, SystemTime};

/// An exporter that could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up OTLP export to {endpoint}: {message}")]
pub struct OtlpError {
    endpoint: String,
    message: String,
}

/// What an exported invocation span says.
pub struct InvocationSpan<'a> {
    pub function: &'a ActiveFunction,
    pub id: InvocationId,
    pub trigger: TriggerKind,
    pub trace: &'a TraceContext,
    pub start: SystemTime,
    pub wall: Duration,
    pub cpu_ns: u64,
    pub peak_memory_bytes: u64,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub struct SpanExport {
    provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

impl SpanExport {
    /// `endpoint` is the full traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub fn new(endpoint: &str, batch_delay: Duration) -> Result<SpanExport, OtlpError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OtlpError {
                endpoint: endpoint.to_owned(),
                message: e.to_string(),
            })?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(batch_delay)
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("geyser")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("geyser");
        Ok(SpanExport { provider, tracer })
    }

    /// Queues one invocation's span (never blocks; a full queue drops it, counted by the SDK).
    pub fn invocation(&self, span: InvocationSpan<'_>) {
        if !span.trace.sampled() {
            return;
        }
        let trace_id = TraceId::from_bytes(span.trace.trace_id_bytes());
        let parent = match span.trace.parent_span_id_bytes() {
            Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_bytes(parent),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        let kind = match span.trigger {
            TriggerKind::Http => SpanKind::Server,
            TriggerKind::Kafka => SpanKind::Consumer,
            TriggerKind::Cron | TriggerKind::Manual => SpanKind::Internal,
            TriggerKind::Async => SpanKind::Consumer,
        };
        let status = match span.outcome {
            Outcome::Ok => Status::Ok,
            other => Status::error(other.as_str()),
        };
        let f = span.function;
        let built = self
            .tracer
            .span_builder("geyser.invoke")
            .with_trace_id(trace_id)
            .with_span_id(SpanId::from_bytes(span.trace.span_id_bytes()))
            .with_kind(kind)
            .with_start_time(span.start)
            .with_end_time(span.start + span.wall)
            .with_status(status)
            .with_attributes([
                KeyValue::new("geyser.tenant", f.tenant.name.to_string()),
                KeyValue::new("geyser.function", f.name.to_string()),
                KeyValue::new("geyser.version", f.version.0),
                KeyValue::new("geyser.invocation", span.id.to_string()),
                KeyValue::new("geyser.trigger", span.trigger.as_str()),
                KeyValue::new("geyser.outcome", span.outcome.as_str()),
                KeyValue::new(
                    "geyser.cpu_ns",
                    i64::try_from(span.cpu_ns).unwrap_or(i64::MAX),
                ),
                KeyValue::new(
                    "geyser.peak_memory_bytes",
                    i64::try_from(span.peak_memory_bytes).unwrap_or(i64::MAX),
                ),
            ]);
        let started = self.tracer.build_with_context(built, &parent);
        drop(started); // ends with the end time given above
    }

    /// Exports what is queued and stops the background thread (blocking).
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(error = %err, "OTLP exporter did not shut down cleanly");
        }
    }
}
