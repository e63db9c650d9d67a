//! The engine's own metric families: invocations running, waiting for and holding instance
//! slots, versions held warm, cold starts.

use crate::Invoker;
use geyser_core::MetricFamilies;
use geyser_core::prom::{Kind, Scope, single};

impl MetricFamilies for Invoker {
    /// Node-wide only: a tenant's scrape sees none of these.
    fn render(&self, out: &mut String, scope: Scope<'_>) {
        if !scope.is_node() {
            return;
        }
        let host = self.host();
        for (name, help, value) in [
            (
                "geyser_in_flight_invocations",
                "Invocations running now.",
                self.in_flight() as f64,
            ),
            (
                "geyser_queued_invocations",
                "Invocations waiting for a free instance slot.",
                host.queued() as f64,
            ),
            (
                "geyser_instances_in_use",
                "Instance slots of the pooling allocator in use.",
                host.instances_in_use() as f64,
            ),
            (
                "geyser_instances_max",
                "Instance slots of the pooling allocator.",
                f64::from(host.config().max_instances),
            ),
            (
                "geyser_resident_functions",
                "Function versions (distinct components) held warm in memory.",
                host.resident_count() as f64,
            ),
        ] {
            single(out, name, help, Kind::Gauge, value);
        }
        single(
            out,
            "geyser_cold_starts_total",
            "Loads of a function version that was not warm.",
            Kind::Counter,
            host.cold_starts() as f64,
        );
    }
}
