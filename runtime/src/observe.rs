//! The node's finish observer, registered with the engine: every ended invocation moves the
//! Prometheus series, counts into its function's watched canaries, goes to the metering writer,
//! and (with `[otlp] endpoint`) becomes a span.

use geyser_core::LogLine;
use geyser_engine::{Finish, Observer};
use geyser_releases::CanaryWatch;
use geyser_telemetry::{InvocationSpan, Meter, Metrics, SpanExport};
use std::sync::Arc;
use std::time::Duration;

pub struct NodeObserver {
    pub metrics: Arc<Metrics>,
    pub meter: Meter,
    pub otlp: Option<Arc<SpanExport>>,
    /// Canary analysis: every ended invocation counts into its function's watched canaries.
    pub canaries: CanaryWatch,
}

impl Observer for NodeObserver {
    fn finished(&self, finish: &Finish<'_>) {
        let record = finish.record;
        let function = finish.function;
        self.metrics.finished(
            &function.tenant,
            &function.name,
            record.outcome,
            finish.wall,
            record.cpu_ns,
            record.peak_memory_bytes,
        );
        self.metrics.outbound(
            &function.tenant,
            &function.name,
            record.outbound_requests,
            record.outbound_bytes,
            record.outbound_wait_ns,
        );
        if let Some(otlp) = &self.otlp {
            otlp.invocation(InvocationSpan {
                function,
                id: record.id,
                trigger: record.trigger,
                trace: finish.trace,
                start: std::time::UNIX_EPOCH
                    + Duration::from_millis(u64::try_from(record.started_at_ms).unwrap_or(0)),
                wall: finish.wall,
                cpu_ns: record.cpu_ns,
                peak_memory_bytes: record.peak_memory_bytes,
                outcome: record.outcome,
            });
        }
        self.canaries
            .finished(function, record.outcome, finish.wall, record.id);
        self.meter.record(record.clone());
    }

    fn logs(&self, lines: Vec<LogLine>) {
        self.meter.logs(lines);
    }
}
