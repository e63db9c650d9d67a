//! Per-binding Kafka figures for `/metrics`: consumer lag, deliveries, retries, dead letters,
//! skipped redeliveries, paused partitions. One label set per binding (bounded cardinality).

use geyser_core::prom::{self, Kind, Scope};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters of one binding, shared by its consumer and the metrics page.
#[derive(Debug, Default)]
pub struct BindingStats {
    pub lag: AtomicI64,
    pub delivered: AtomicU64,
    pub retries: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub duplicates: AtomicU64,
    pub paused_partitions: AtomicI64,
    pub pauses: AtomicU64,
    pub assigned_partitions: AtomicI64,
    /// Transactions that committed a batch of an ordered partition's records.
    pub batches: AtomicU64,
}

/// `(tenant, function, topic)`.
type Labels = (String, String, String);

#[derive(Debug, Default)]
pub struct KafkaStats {
    bindings: Mutex<BTreeMap<Labels, Arc<BindingStats>>>,
}

impl KafkaStats {
    /// The counters of a binding, created on first use; kept while the binding exists.
    pub fn binding(&self, tenant: &str, function: &str, topic: &str) -> Arc<BindingStats> {
        let mut map = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((tenant.to_owned(), function.to_owned(), topic.to_owned()))
            .or_default()
            .clone()
    }

    pub fn remove(&self, tenant: &str, function: &str, topic: &str) {
        let mut map = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(tenant.to_owned(), function.to_owned(), topic.to_owned()));
    }
}

impl geyser_core::MetricFamilies for KafkaStats {
    fn render(&self, out: &mut String, scope: Scope<'_>) {
        let map = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        type Read = fn(&BindingStats) -> i64;
        let series: [(&str, Kind, &str, Read); 9] = [
            (
                "geyser_kafka_pauses_total",
                Kind::Counter,
                "Times a partition was paused because its worker fell behind.",
                |s| s.pauses.load(Ordering::Relaxed) as i64,
            ),
            (
                "geyser_kafka_assigned_partitions",
                Kind::Gauge,
                "Partitions of the binding's topic assigned to this node by the consumer group.",
                |s| s.assigned_partitions.load(Ordering::Relaxed),
            ),
            (
                "geyser_kafka_consumer_lag",
                Kind::Gauge,
                "Records on the binding's assigned partitions not yet processed.",
                |s| s.lag.load(Ordering::Relaxed),
            ),
            (
                "geyser_kafka_paused_partitions",
                Kind::Gauge,
                "Partitions paused because their worker is behind (backpressure).",
                |s| s.paused_partitions.load(Ordering::Relaxed),
            ),
            (
                "geyser_kafka_records_total",
                Kind::Counter,
                "Records the function processed successfully.",
                |s| s.delivered.load(Ordering::Relaxed) as i64,
            ),
            (
                "geyser_kafka_batches_total",
                Kind::Counter,
                "Transactions that committed a batch of an ordered binding's records.",
                |s| s.batches.load(Ordering::Relaxed) as i64,
            ),
            (
                "geyser_kafka_retries_total",
                Kind::Counter,
                "Failed attempts that were retried.",
                |s| s.retries.load(Ordering::Relaxed) as i64,
            ),
            (
                "geyser_kafka_dead_letters_total",
                Kind::Counter,
                "Records written to the dead-letter topic after their last attempt.",
                |s| s.dead_lettered.load(Ordering::Relaxed) as i64,
            ),
            (
                "geyser_kafka_duplicates_total",
                Kind::Counter,
                "Redelivered records skipped because they were already processed.",
                |s| s.duplicates.load(Ordering::Relaxed) as i64,
            ),
        ];
        let labels: Vec<(String, &Arc<BindingStats>)> = map
            .iter()
            .filter(|((tenant, _, _), _)| scope.shows(tenant))
            .map(|((tenant, function, topic), stats)| {
                (
                    format!(
                        "tenant=\"{}\",function=\"{}\",topic=\"{}\"",
                        prom::escape(tenant),
                        prom::escape(function),
                        prom::escape(topic)
                    ),
                    stats,
                )
            })
            .collect();
        for (name, kind, help, read) in series {
            prom::header(out, name, help, kind);
            for (labels, stats) in &labels {
                prom::sample(out, name, labels, read(stats).max(0) as f64);
            }
        }
    }
}
