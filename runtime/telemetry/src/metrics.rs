//! Process counters and the Prometheus text rendering of `/metrics`: the golden signals —
//! traffic and errors (per outcome), latency histograms (ok and failed apart), saturation
//! (in flight, queued, instance slots, Kafka lag) and utilization (CPU, memory) — node-wide and
//! per tenant × function. Per-function series are bounded: beyond `max_function_series`
//! functions, the rest share one `tenant="_other",function="_other"` series.

use geyser_core::prom::{self, Kind, MetricFamilies, Scope, escape};
use geyser_core::{FunctionName, Outcome, Tenant, TenantId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets; `+Inf` follows.
const LATENCY_BOUNDS_S: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// Counters updated on the invocation path (lock-free but for the series lookup).
#[derive(Debug)]
pub struct Metrics {
    invocations: [AtomicU64; Outcome::ALL.len()],
    budget_refusals: AtomicU64,
    log_lines_dropped: AtomicU64,
    /// Per tenant, per function name (looked up by `&str`: no allocation per invocation).
    functions: RwLock<HashMap<TenantId, HashMap<String, Arc<FunctionSeries>>>>,
    function_series: std::sync::atomic::AtomicUsize,
    other: Arc<FunctionSeries>,
    max_function_series: usize,
}

/// One function's counters.
#[derive(Debug)]
struct FunctionSeries {
    /// The tenant's name (`_other` for the overflow series), for a tenant's scrape.
    tenant: String,
    /// `tenant="..",function=".."`, escaped once.
    labels: String,
    outcomes: [AtomicU64; Outcome::ALL.len()],
    ok: Histogram,
    failed: Histogram,
    cpu_ns: AtomicU64,
    /// Peak memory × wall time, in byte-milliseconds (GB-seconds × 2^30 × 1000).
    memory_byte_ms: AtomicU64,
    /// Outgoing HTTP requests, their body bytes, and the time spent waiting for them.
    outbound_requests: AtomicU64,
    outbound_bytes: AtomicU64,
    outbound_wait_ns: AtomicU64,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS_S.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn observe(&self, wall: Duration) {
        let seconds = wall.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS_S.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let buckets = LATENCY_BOUNDS_S
            .iter()
            .zip(&self.buckets)
            .map(|(bound, bucket)| {
                cumulative += bucket.load(Ordering::Relaxed);
                (*bound, cumulative)
            });
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let count = self.count.load(Ordering::Relaxed);
        prom::histogram(out, name, labels, buckets, sum, count);
    }
}

impl FunctionSeries {
    fn new(tenant: &str, function: &str) -> FunctionSeries {
        FunctionSeries {
            tenant: tenant.to_owned(),
            labels: format!(
                "tenant=\"{}\",function=\"{}\"",
                escape(tenant),
                escape(function)
            ),
            outcomes: Default::default(),
            ok: Histogram::default(),
            failed: Histogram::default(),
            cpu_ns: AtomicU64::new(0),
            memory_byte_ms: AtomicU64::new(0),
            outbound_requests: AtomicU64::new(0),
            outbound_bytes: AtomicU64::new(0),
            outbound_wait_ns: AtomicU64::new(0),
        }
    }
}

fn index(outcome: Outcome) -> usize {
    Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0)
}

impl Metrics {
    pub fn new(max_function_series: usize) -> Metrics {
        Metrics {
            invocations: Default::default(),
            budget_refusals: AtomicU64::new(0),
            log_lines_dropped: AtomicU64::new(0),
            functions: RwLock::new(HashMap::new()),
            function_series: std::sync::atomic::AtomicUsize::new(0),
            other: Arc::new(FunctionSeries::new("_other", "_other")),
            max_function_series,
        }
    }

    /// Counts a finished (or refused-before-running) invocation everywhere it shows.
    pub fn finished(
        &self,
        tenant: &Tenant,
        function: &FunctionName,
        outcome: Outcome,
        wall: Duration,
        cpu_ns: u64,
        peak_memory_bytes: u64,
    ) {
        self.invocations[index(outcome)].fetch_add(1, Ordering::Relaxed);
        let series = self.series(tenant, function);
        series.outcomes[index(outcome)].fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Ok => series.ok.observe(wall),
            _ => series.failed.observe(wall),
        }
        series.cpu_ns.fetch_add(cpu_ns, Ordering::Relaxed);
        let byte_ms = (peak_memory_bytes as u128 * wall.as_millis()).min(u64::MAX as u128);
        series
            .memory_byte_ms
            .fetch_add(byte_ms as u64, Ordering::Relaxed);
    }

    /// Counts an invocation's outgoing HTTP requests (called with the record's figures).
    pub fn outbound(
        &self,
        tenant: &Tenant,
        function: &FunctionName,
        requests: u64,
        bytes: u64,
        wait_ns: u64,
    ) {
        if requests == 0 {
            return;
        }
        let series = self.series(tenant, function);
        series
            .outbound_requests
            .fetch_add(requests, Ordering::Relaxed);
        series.outbound_bytes.fetch_add(bytes, Ordering::Relaxed);
        series
            .outbound_wait_ns
            .fetch_add(wait_ns, Ordering::Relaxed);
    }

    fn series(&self, tenant: &Tenant, function: &FunctionName) -> Arc<FunctionSeries> {
        let name = function.as_str();
        if let Some(series) = self
            .functions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tenant.id)
            .and_then(|functions| functions.get(name))
        {
            return series.clone();
        }
        let mut map = self.functions.write().unwrap_or_else(|p| p.into_inner());
        if let Some(series) = map.get(&tenant.id).and_then(|f| f.get(name)) {
            return series.clone();
        }
        if self.function_series.load(Ordering::Relaxed) >= self.max_function_series {
            return self.other.clone();
        }
        let series = Arc::new(FunctionSeries::new(tenant.name.as_str(), name));
        map.entry(tenant.id)
            .or_default()
            .insert(name.to_owned(), series.clone());
        self.function_series.fetch_add(1, Ordering::Relaxed);
        series
    }

    pub fn budget_refused(&self) {
        self.budget_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Log lines dropped (oldest first) to keep a tenant within `quotas.max_log_bytes`.
    pub fn log_lines_dropped(&self, lines: u64) {
        self.log_lines_dropped.fetch_add(lines, Ordering::Relaxed);
    }

    fn render_node(&self, out: &mut String) {
        prom::header(
            out,
            "geyser_invocations_total",
            "Invocations by outcome.",
            Kind::Counter,
        );
        for outcome in Outcome::ALL {
            let n = self.invocations[index(outcome)].load(Ordering::Relaxed);
            prom::sample(
                out,
                "geyser_invocations_total",
                &format!("outcome=\"{outcome}\""),
                n as f64,
            );
        }
        let (cpu_seconds, resident_bytes) = process_usage();
        prom::single(
            out,
            "process_resident_memory_bytes",
            "Resident memory of the node process.",
            Kind::Gauge,
            resident_bytes,
        );
        prom::single(
            out,
            "process_cpu_seconds_total",
            "CPU time (user + system) the node process used.",
            Kind::Counter,
            cpu_seconds,
        );
        prom::single(
            out,
            "geyser_budget_refusals_total",
            "Invocations refused because the tenant's monthly budget was spent.",
            Kind::Counter,
            self.budget_refusals.load(Ordering::Relaxed) as f64,
        );
        prom::single(
            out,
            "geyser_log_lines_dropped_total",
            "Captured log lines dropped, oldest first, to keep a tenant within its \
             quotas.max_log_bytes.",
            Kind::Counter,
            self.log_lines_dropped.load(Ordering::Relaxed) as f64,
        );
    }

    fn render_functions(&self, out: &mut String, scope: Scope<'_>) {
        let mut all: Vec<Arc<FunctionSeries>> = self
            .functions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .flat_map(|functions| functions.values().cloned())
            .filter(|series| scope.shows(&series.tenant))
            .collect();
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        if scope.is_node()
            && self.other.ok.count.load(Ordering::Relaxed)
                + self.other.failed.count.load(Ordering::Relaxed)
                > 0
        {
            all.push(self.other.clone());
        }
        const INVOCATIONS: &str = "geyser_function_invocations_total";
        prom::header(
            out,
            INVOCATIONS,
            "Invocations per function and outcome.",
            Kind::Counter,
        );
        for s in &all {
            for outcome in Outcome::ALL {
                let n = s.outcomes[index(outcome)].load(Ordering::Relaxed);
                if n > 0 {
                    let labels = format!("{},outcome=\"{outcome}\"", s.labels);
                    prom::sample(out, INVOCATIONS, &labels, n as f64);
                }
            }
        }
        for (name, help, failed) in [
            (
                "geyser_function_duration_seconds",
                "Wall time of invocations that ended ok.",
                false,
            ),
            (
                "geyser_function_failed_duration_seconds",
                "Wall time of invocations that failed (error, timeout, memory limit, trap, rejected).",
                true,
            ),
        ] {
            prom::header(out, name, help, Kind::Histogram);
            for s in &all {
                let histogram = if failed { &s.failed } else { &s.ok };
                histogram.render(out, name, &s.labels);
            }
        }
        const CPU: &str = "geyser_function_cpu_seconds_total";
        prom::header(
            out,
            CPU,
            "CPU time guests spent, per function.",
            Kind::Counter,
        );
        for s in &all {
            let v = s.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9;
            prom::sample(out, CPU, &s.labels, v);
        }
        const GB_SECONDS: &str = "geyser_function_gb_seconds_total";
        prom::header(
            out,
            GB_SECONDS,
            "Peak memory (GiB) × wall seconds, per function.",
            Kind::Counter,
        );
        for s in &all {
            let v = s.memory_byte_ms.load(Ordering::Relaxed) as f64 / (1u64 << 30) as f64 / 1e3;
            prom::sample(out, GB_SECONDS, &s.labels, v);
        }
        for (name, help, value) in [
            (
                "geyser_function_outbound_requests_total",
                "Outgoing HTTP requests guests made, per function.",
                (|s: &FunctionSeries| s.outbound_requests.load(Ordering::Relaxed) as f64)
                    as fn(&FunctionSeries) -> f64,
            ),
            (
                "geyser_function_outbound_bytes_total",
                "Body bytes (sent and received) of guests' outgoing HTTP requests, per function.",
                |s| s.outbound_bytes.load(Ordering::Relaxed) as f64,
            ),
            (
                "geyser_function_outbound_wait_seconds_total",
                "Time guests waited for their outgoing HTTP requests' responses, per function.",
                |s| s.outbound_wait_ns.load(Ordering::Relaxed) as f64 / 1e9,
            ),
        ] {
            prom::header(out, name, help, Kind::Counter);
            for s in &all {
                prom::sample(out, name, &s.labels, value(s));
            }
        }
    }
}

impl MetricFamilies for Metrics {
    fn render(&self, out: &mut String, scope: Scope<'_>) {
        if scope.is_node() {
            self.render_node(out);
        }
        self.render_functions(out, scope);
    }
}

/// (CPU seconds, resident bytes) of this process, from `/proc/self`; zeros elsewhere.
fn process_usage() -> (f64, f64) {
    let ticks = clock_ticks_per_second();
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may contain spaces) end with ')'.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0);
    let page = page_size();
    let resident = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|pages| pages * page)
        .unwrap_or(0.0);
    (cpu, resident)
}

/// The unit of `/proc/self/statm`'s sizes: the kernel's page size, which is not 4096 bytes
/// everywhere (16 KiB on Apple silicon Linux, 64 KiB on some arm64 and ppc64 kernels).
fn page_size() -> f64 {
    // SAFETY: `sysconf` only reads a configuration value and has no preconditions.
    #[allow(unsafe_code)]
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as f64 } else { 4096.0 }
}

/// The unit of `/proc/self/stat`'s CPU times.
fn clock_ticks_per_second() -> f64 {
    // SAFETY: `sysconf` only reads a configuration value and has no preconditions.
    #[allow(unsafe_code)]
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geyser_core::TenantName;

    #[test]
    fn resident_memory_matches_the_kernels_own_figure() {
        // VmRSS (kB) is the kernel's own reading of what statm counts in pages: equal only if
        // the page size is right.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        let (_, resident) = process_usage();
        let ratio = resident / (kib * 1024.0);
        assert!(
            (0.9..1.1).contains(&ratio),
            "statm {resident} vs VmRSS {kib} kB"
        );
    }

    fn tenant(id: i64, name: &str) -> Tenant {
        Tenant {
            disabled: false,
            id: TenantId(id),
            name: TenantName::parse(name).unwrap(),
        }
    }

    #[test]
    fn function_series_are_bounded_and_histograms_split_ok_from_failed() {
        let metrics = Metrics::new(2);
        let (a, b) = (tenant(1, "acme"), tenant(2, "globex"));
        let f = |n: &str| FunctionName::parse(n).unwrap();
        let ms = Duration::from_millis;
        metrics.finished(&a, &f("one"), Outcome::Ok, ms(3), 1_000, 1 << 20);
        metrics.finished(&a, &f("one"), Outcome::Trap, ms(700), 0, 0);
        metrics.finished(&b, &f("two"), Outcome::Ok, ms(1), 0, 0);
        metrics.finished(&b, &f("three"), Outcome::Ok, ms(1), 0, 0);
        metrics.finished(&a, &f("four"), Outcome::Timeout, ms(1), 0, 0);
        let mut out = String::new();
        metrics.render(&mut out, Scope::Node);
        let one = "tenant=\"acme\",function=\"one\"";
        let other = "tenant=\"_other\",function=\"_other\"";
        assert!(
            out.contains(&format!(
                "geyser_function_invocations_total{{{one},outcome=\"ok\"}} 1"
            )),
            "{out}"
        );
        assert!(out.contains(&format!(
            "geyser_function_invocations_total{{{one},outcome=\"trap\"}} 1"
        )));
        assert!(out.contains(&format!(
            "geyser_function_duration_seconds_bucket{{{one},le=\"0.005\"}} 1"
        )));
        assert!(out.contains(&format!(
            "geyser_function_duration_seconds_bucket{{{one},le=\"0.0025\"}} 0"
        )));
        assert!(out.contains(&format!(
            "geyser_function_failed_duration_seconds_bucket{{{one},le=\"1\"}} 1"
        )));
        assert!(out.contains(&format!(
            "geyser_function_failed_duration_seconds_count{{{one}}} 1"
        )));
        // Two functions have series of their own; the third and fourth share `_other`.
        assert!(!out.contains("function=\"three\""));
        assert!(out.contains(&format!(
            "geyser_function_invocations_total{{{other},outcome=\"ok\"}} 1"
        )));
        assert!(out.contains(&format!(
            "geyser_function_invocations_total{{{other},outcome=\"timeout\"}} 1"
        )));
        assert!(out.contains(&format!(
            "geyser_function_cpu_seconds_total{{{one}}} 0.000001"
        )));

        // A tenant's scrape: its own series only, no node-wide families, no overflow series.
        let mut own = String::new();
        metrics.render(&mut own, Scope::Tenant("globex"));
        assert!(
            own.contains("geyser_function_invocations_total{tenant=\"globex\",function=\"two\",outcome=\"ok\"} 1"),
            "{own}"
        );
        assert!(!own.contains("acme"), "{own}");
        assert!(!own.contains("_other"), "{own}");
        assert!(!own.contains("process_resident_memory_bytes"), "{own}");
        assert!(!own.contains("geyser_invocations_total{"), "{own}");
    }
}
