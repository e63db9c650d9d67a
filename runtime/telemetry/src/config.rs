//! `[metering]`, `[metrics]`, `[otlp]`: how invocations are recorded, counted and exported.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeteringConfig {
    /// `false` switches per-invocation records and CPU-time measurement off. Only for measuring
    /// what metering costs (`bench/compare.sh`): a node without it bills nothing.
    pub enabled: bool,
    /// Records written per transaction at most.
    pub batch_size: usize,
    /// How long a record may wait before its batch is written. A node killed with -9 loses
    /// at most this much of its records (a clean stop loses none).
    pub flush_interval_ms: u64,
    /// Raw invocation records and captured log lines older than this are deleted; hourly
    /// rollups (statements, usage, charts) are kept.
    pub raw_retention_days: u64,
    /// How often each tenant's captured log lines are trimmed to its `quotas.max_log_bytes`
    /// (the oldest go first).
    pub log_trim_interval_ms: u64,
}

impl Default for MeteringConfig {
    fn default() -> Self {
        MeteringConfig {
            enabled: true,
            batch_size: 500,
            flush_interval_ms: 200,
            raw_retention_days: 30,
            log_trim_interval_ms: 60_000,
        }
    }
}

/// `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Functions with series of their own; the rest share `tenant="_other"` (bounded cardinality).
    pub max_function_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            max_function_series: 1000,
        }
    }
}

/// OTLP trace export: one span per invocation, in the caller's trace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// OTLP/HTTP traces URL (JSON bodies), e.g. `http://127.0.0.1:4318/v1/traces`. `None`: no
    /// export.
    pub endpoint: Option<String>,
    /// How long spans are batched before they are sent.
    pub batch_delay_ms: u64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: None,
            batch_delay_ms: 1000,
        }
    }
}
