//! What a node tells about its invocations: [`Meter`] (the batching writer of invocation
//! records and log lines), [`Metrics`] (Prometheus counters and per-function histograms),
//! [`otlp::SpanExport`] (one OTLP span per invocation). The binary wires them into the engine
//! as finish observers; none of them knows wasmtime or HTTP.

mod config;
mod metering;
mod metrics;
pub mod otlp;

pub use config::{MeteringConfig, MetricsConfig, OtlpConfig};
pub use metering::{Meter, RecordSink};
pub use metrics::Metrics;
pub use otlp::{InvocationSpan, OtlpError, SpanExport};
