//! `[kafka]`: brokers and the consumer/producer settings of the Kafka trigger.

use serde::Deserialize;

/// The Kafka trigger and `publish`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `HOST:PORT[,HOST:PORT..]`. `None`: no Kafka; topic bindings are
    /// refused and `publish` fails with a clear error.
    pub brokers: Option<String>,
    /// How often a node looks for bindings added, changed or removed (on any node).
    pub reconcile_interval_ms: u64,
    /// Records fetched ahead per partition; beyond this (or `partition_buffer_bytes` of keys and
    /// payloads) the partition is paused until its worker has caught up to half (backpressure
    /// instead of unbounded buffering). Each pause costs a refetch, so not too small.
    pub partition_buffer: usize,
    pub partition_buffer_bytes: usize,
    /// Records of one partition run at once by an unordered binding.
    pub unordered_concurrency: usize,
    /// Longest wait between two attempts of a failing record (backoff doubles up to this).
    pub max_backoff_ms: u64,
    /// How long processed-event marks are kept (they catch redeliveries).
    pub processed_retention_ms: u64,
    /// How long `publish` waits for the broker's acknowledgement.
    pub publish_timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            reconcile_interval_ms: 1000,
            partition_buffer: 1024,
            partition_buffer_bytes: 8 << 20,
            unordered_concurrency: 16,
            max_backoff_ms: 30_000,
            processed_retention_ms: 7 * 24 * 3600 * 1000,
            publish_timeout_ms: 10_000,
        }
    }
}
