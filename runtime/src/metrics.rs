//! Process counters and the Prometheus text rendering of `/metrics`.

use crate::host::Host;
use geyser_functions::Outcome;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters updated on the invocation path (lock-free).
#[derive(Debug, Default)]
pub struct Metrics {
    invocations: [AtomicU64; Outcome::ALL.len()],
    in_flight: AtomicI64,
    cron_passes: AtomicU64,
    /// Per-binding Kafka figures (empty without Kafka).
    pub kafka: crate::kafka::KafkaStats,
}

fn index(outcome: Outcome) -> usize {
    Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0)
}

/// Decrements the in-flight gauge when the invocation ends, however it ends.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn count(&self, outcome: Outcome) {
        self.invocations[index(outcome)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn cron_pass(&self) {
        self.cron_passes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn render(&self, host: &Host) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP geyser_invocations_total Invocations by outcome."
        );
        let _ = writeln!(out, "# TYPE geyser_invocations_total counter");
        for outcome in Outcome::ALL {
            let n = self.invocations[index(outcome)].load(Ordering::Relaxed);
            let _ = writeln!(out, "geyser_invocations_total{{outcome=\"{outcome}\"}} {n}");
        }
        let gauges = [
            (
                "geyser_in_flight_invocations",
                "Invocations running now.",
                self.in_flight.load(Ordering::Relaxed).max(0) as u64,
            ),
            (
                "geyser_instances_in_use",
                "Instance slots of the pooling allocator in use.",
                host.instances_in_use() as u64,
            ),
            (
                "geyser_instances_max",
                "Instance slots of the pooling allocator.",
                u64::from(host.config().max_instances),
            ),
            (
                "geyser_resident_functions",
                "Function versions (distinct components) held warm in memory.",
                host.resident_count() as u64,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP geyser_cold_starts_total Loads of a function version that was not warm.\n\
             # TYPE geyser_cold_starts_total counter\ngeyser_cold_starts_total {}",
            host.cold_starts()
        );
        let _ = writeln!(
            out,
            "# HELP geyser_cron_passes_total Scheduler passes over all cron schedules.\n\
             # TYPE geyser_cron_passes_total counter\ngeyser_cron_passes_total {}",
            self.cron_passes.load(Ordering::Relaxed)
        );
        self.kafka.render(&mut out);
        out
    }
}
