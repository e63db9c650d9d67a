//! The Prometheus text exposition format, written in one place: each component of a node
//! contributes its own metric families through [`MetricFamilies`], and `/metrics` concatenates
//! them. Label values are escaped here; a family is written with its `HELP` and `TYPE` once.

use std::fmt::Write;

/// A component that owns some metric families (the engine's slots, the quota guard, the Kafka
/// trigger…) and writes them on demand.
pub trait MetricFamilies: Send + Sync {
    /// Writes the families `scope` may see: everything for the node's scrape (`/metrics`,
    /// admin), only the series labelled with one tenant for that tenant (`/v1/metrics`).
    fn render(&self, out: &mut String, scope: Scope<'_>);
}

/// Whose metrics a scrape shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The whole node: every family, every tenant.
    Node,
    /// One tenant (by name): only series carrying its `tenant` label; node-wide families
    /// (process, slots, totals over tenants) are left out.
    Tenant(&'a str),
}

impl Scope<'_> {
    /// Whether node-wide families are shown.
    pub fn is_node(&self) -> bool {
        matches!(self, Scope::Node)
    }

    /// Whether a series labelled `tenant` is shown.
    pub fn shows(&self, tenant: &str) -> bool {
        match self {
            Scope::Node => true,
            Scope::Tenant(name) => *name == tenant,
        }
    }
}

/// The kinds of family this node writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Writes a family's `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str, help: &str, kind: Kind) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {}", kind.as_str());
}

/// Writes one sample; `labels` is already `k="v",...` (or empty).
pub fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A family with one unlabelled sample.
pub fn single(out: &mut String, name: &str, help: &str, kind: Kind, value: f64) {
    header(out, name, help, kind);
    sample(out, name, "", value);
}

/// One histogram series: `buckets` are (upper bound, observations at or below it), in
/// increasing order of bound; `+Inf` is `count`.
pub fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: impl IntoIterator<Item = (f64, u64)>,
    sum: f64,
    count: u64,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, cumulative) in buckets {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
    sample(out, &format!("{name}_sum"), labels, sum);
    sample(out, &format!("{name}_count"), labels, count as f64);
}

/// A label value with `\`, `"` and newlines escaped.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_cumulative_buckets_then_sum_and_count() {
        let mut out = String::new();
        histogram(&mut out, "d", "f=\"x\"", [(0.1, 1), (1.0, 3)], 1.25, 4);
        assert_eq!(
            out,
            "d_bucket{f=\"x\",le=\"0.1\"} 1\nd_bucket{f=\"x\",le=\"1\"} 3\n\
             d_bucket{f=\"x\",le=\"+Inf\"} 4\nd_sum{f=\"x\"} 1.25\nd_count{f=\"x\"} 4\n"
        );
    }

    #[test]
    fn families_and_samples_follow_the_text_format() {
        let mut out = String::new();
        single(&mut out, "a_total", "Things.", Kind::Counter, 3.0);
        header(&mut out, "b", "Gauge b.", Kind::Gauge);
        sample(&mut out, "b", &format!("t=\"{}\"", escape("x\"y\\")), 1.5);
        assert_eq!(
            out,
            "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n\
             # HELP b Gauge b.\n# TYPE b gauge\nb{t=\"x\\\"y\\\\\"} 1.5\n"
        );
    }
}
