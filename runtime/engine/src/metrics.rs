//! The engine's own metric families: invocations running, waiting for and holding instance
//! slots, versions held warm, cold starts, the node's guest memory against its budget.

use crate::Invoker;
use geyser_core::MetricFamilies;
use geyser_core::prom::{Kind, Scope, header, sample, single};

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
        let memory = host.memory();
        for (name, help, value) in [
            (
                "geyser_guest_memory_committed_bytes",
                "Linear memory held by running guests now, charged against the node's budget.",
                memory.committed_bytes(),
            ),
            (
                "geyser_guest_memory_committed_peak_bytes",
                "The most linear memory running guests held at once since the node started.",
                memory.peak_bytes(),
            ),
            (
                "geyser_guest_memory_budget_bytes",
                "The node's guest-memory budget (engine.node_memory_mb).",
                memory.budget_bytes(),
            ),
        ] {
            single(out, name, help, Kind::Gauge, value as f64);
        }
        let refusals = "geyser_memory_refusals_total";
        header(
            out,
            refusals,
            "Memory refused for want of node memory: grows past the node's budget (node) or the \
             tenant's share (tenant_share), invocations that waited in vain below the high-water \
             mark (high_water).",
            Kind::Counter,
        );
        for (reason, count) in memory.refusals() {
            sample(out, refusals, &format!("reason=\"{reason}\""), count as f64);
        }
        if let Some(gate) = host.long_guests() {
            for (name, help, kind, value) in [
                (
                    "geyser_long_guests_computing",
                    "Long-running guests holding a turn now (at most engine.long_guest_slots).",
                    Kind::Gauge,
                    gate.busy() as f64,
                ),
                (
                    "geyser_long_guests_waiting",
                    "Long-running guests waiting for their turn now.",
                    Kind::Gauge,
                    gate.waiting() as f64,
                ),
                (
                    "geyser_long_guest_waits_total",
                    "Turns a long-running guest had to wait for.",
                    Kind::Counter,
                    gate.waited() as f64,
                ),
            ] {
                single(out, name, help, kind, value);
            }
        }
        let compiles = host.compiles();
        for (name, help, kind, value) in [
            (
                "geyser_compiles_running",
                "Components compiling now (at most engine.max_concurrent_compiles).",
                Kind::Gauge,
                compiles.running(),
            ),
            (
                "geyser_compiles_waiting",
                "Compiles waiting for the compile gate.",
                Kind::Gauge,
                compiles.waiting(),
            ),
            (
                "geyser_compiles_total",
                "Compiles that ran to their end (deploys and first loads on this node).",
                Kind::Counter,
                compiles.compiled(),
            ),
        ] {
            single(out, name, help, kind, value as f64);
        }
        let refusals = "geyser_compile_refusals_total";
        header(
            out,
            refusals,
            "Compiles refused: the gate stayed full (busy), the tenant had one already \
             (tenant_busy), the deadline passed (timeout).",
            Kind::Counter,
        );
        for (reason, count) in compiles.refusals() {
            sample(out, refusals, &format!("reason=\"{reason}\""), count as f64);
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
