//! A tenant's monthly statement: one line per function and trigger, priced from the hourly
//! rollups (which equal the invocation records), the free tier, what billing by allocated
//! memory would have charged, the budget and the break-even advice.

use super::month::Month;
use super::prices::{PriceTable, Quantities};
use geyser_functions::{
    Budget, BudgetPolicy, FunctionName, Outcome, RollupRow, TriggerKind, Version, VersionRollupRow,
};

/// Usage and cost of one function under one trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub function: FunctionName,
    pub trigger: TriggerKind,
    /// Billed invocations (all outcomes but `rejected`).
    pub requests: u64,
    /// Invocations that ran and failed (error, timeout, memory limit, trap); billed.
    pub errors: u64,
    /// Invocations refused before running (no free slot); not billed.
    pub rejected: u64,
    /// Peak memory × wall time, measured.
    pub gb_seconds: f64,
    /// Memory limit × wall time: what allocated-memory billing would count.
    pub allocated_gb_seconds: f64,
    pub cpu_seconds: f64,
    pub cost_usd: f64,
    /// This line priced with `allocated_gb_seconds` instead of `gb_seconds`.
    pub allocated_cost_usd: f64,
}

/// Usage and list price of one version of a function (all triggers): what a canary cost
/// next to its stable version. Priced before the free tier, like a line.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionLine {
    pub function: FunctionName,
    pub version: Version,
    pub requests: u64,
    pub errors: u64,
    pub gb_seconds: f64,
    pub cpu_seconds: f64,
    pub cost_usd: f64,
}

/// The month's lines per version, ordered by function and version.
pub fn version_lines(rows: &[VersionRollupRow], prices: &PriceTable) -> Vec<VersionLine> {
    let mut lines: Vec<VersionLine> = Vec::new();
    for row in rows {
        let at = match lines
            .iter()
            .position(|l| l.function == row.function && l.version == row.version)
        {
            Some(at) => at,
            None => {
                lines.push(VersionLine {
                    function: row.function.clone(),
                    version: row.version,
                    requests: 0,
                    errors: 0,
                    gb_seconds: 0.0,
                    cpu_seconds: 0.0,
                    cost_usd: 0.0,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[at];
        let q = Quantities::billed(row.outcome, row.invocations, row.gb_seconds, row.cpu_ns);
        if row.outcome != Outcome::Rejected {
            line.requests += row.invocations;
        }
        if row.outcome.is_error() {
            line.errors += row.invocations;
        }
        line.gb_seconds += q.gb_seconds;
        line.cpu_seconds += q.cpu_seconds;
        line.cost_usd += prices.cost(&q);
    }
    lines.sort_by(|a, b| (a.function.as_str(), a.version).cmp(&(b.function.as_str(), b.version)));
    lines
}

/// Where the month stands against the tenant's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub budget: Budget,
    pub spent_usd: f64,
    pub used_ratio: f64,
    pub state: BudgetState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetState {
    Ok,
    /// At least 80 % spent.
    Warning,
    /// All spent: new invocations are refused (policy `refuse`) or only flagged (`warn`).
    Exceeded,
}

/// The share of a budget at which the statement and `/metrics` warn.
pub const WARNING_RATIO: f64 = 0.8;

impl BudgetStatus {
    pub fn new(budget: Budget, spent_usd: f64) -> BudgetStatus {
        let used_ratio = if budget.monthly_usd > 0.0 {
            spent_usd / budget.monthly_usd
        } else if spent_usd > 0.0 {
            f64::INFINITY
        } else {
            1.0
        };
        let state = if spent_usd >= budget.monthly_usd {
            BudgetState::Exceeded
        } else if used_ratio >= WARNING_RATIO {
            BudgetState::Warning
        } else {
            BudgetState::Ok
        };
        BudgetStatus {
            budget,
            spent_usd,
            used_ratio,
            state,
        }
    }

    pub fn message(&self) -> String {
        let spent = format!(
            "${:.4} of the ${:.2} monthly budget spent ({:.0} %)",
            self.spent_usd,
            self.budget.monthly_usd,
            (self.used_ratio * 100.0).min(1e6)
        );
        match (self.state, self.budget.policy) {
            (BudgetState::Ok, _) => spent,
            (BudgetState::Warning, _) => format!("warning: {spent}"),
            (BudgetState::Exceeded, BudgetPolicy::Refuse) => format!(
                "budget exceeded: {spent}; new invocations are refused until the budget is raised"
            ),
            (BudgetState::Exceeded, BudgetPolicy::Warn) => {
                format!("budget exceeded: {spent}; invocations still run (policy warn)")
            }
        }
    }
}

/// Break-even advice for one function.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub function: FunctionName,
    pub cost_usd: f64,
    /// The month's cost extrapolated to the whole month (the cost itself for a past month).
    pub projected_monthly_usd: f64,
    pub dedicated_monthly_usd: f64,
    /// `true`: a dedicated instance would be cheaper; traffic is no longer rare.
    pub move_to_dedicated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub month: Month,
    pub prices: PriceTable,
    pub lines: Vec<Line>,
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    pub gb_seconds: f64,
    pub allocated_gb_seconds: f64,
    pub cpu_seconds: f64,
    /// Sum of the lines, before the free tier.
    pub subtotal_usd: f64,
    pub free_tier_credit_usd: f64,
    pub total_usd: f64,
    /// The total had every invocation been billed for its memory limit.
    pub allocated_total_usd: f64,
    /// The month's total if the rest of it goes at the pace so far (free tier applied to the
    /// whole month's quantities); the total itself for a past month.
    pub projected_total_usd: f64,
    pub budget: Option<BudgetStatus>,
    pub advice: Vec<Advice>,
    /// Per version of each function ([`version_lines`]; empty unless the caller adds them).
    pub versions: Vec<VersionLine>,
}

/// Builds the statement of `month` from its rollup rows.
pub fn build(
    month: Month,
    rows: &[RollupRow],
    prices: &PriceTable,
    budget: Option<Budget>,
    dedicated_monthly_usd: f64,
    now_ms: i64,
) -> Statement {
    let mut lines: Vec<Line> = Vec::new();
    let mut billed = Quantities::default();
    let mut allocated = Quantities::default();
    for row in rows {
        let at = match lines
            .iter()
            .position(|l| l.function == row.function && l.trigger == row.trigger)
        {
            Some(at) => at,
            None => {
                lines.push(Line {
                    function: row.function.clone(),
                    trigger: row.trigger,
                    requests: 0,
                    errors: 0,
                    rejected: 0,
                    gb_seconds: 0.0,
                    allocated_gb_seconds: 0.0,
                    cpu_seconds: 0.0,
                    cost_usd: 0.0,
                    allocated_cost_usd: 0.0,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[at];
        let q = Quantities::of(row);
        let q_allocated = Quantities {
            gb_seconds: row.allocated_gb_seconds,
            ..q
        };
        match row.outcome {
            Outcome::Rejected => line.rejected += row.invocations,
            _ => line.requests += row.invocations,
        }
        if row.outcome.is_error() {
            line.errors += row.invocations;
        }
        line.gb_seconds += q.gb_seconds;
        line.allocated_gb_seconds += row.allocated_gb_seconds;
        line.cpu_seconds += q.cpu_seconds;
        line.cost_usd += prices.cost(&q);
        line.allocated_cost_usd += prices.cost(&q_allocated);
        billed.add(&q);
        allocated.add(&q_allocated);
    }
    lines.sort_by(|a, b| {
        (a.function.as_str(), a.trigger.as_str()).cmp(&(b.function.as_str(), b.trigger.as_str()))
    });
    let subtotal_usd = prices.cost(&billed);
    let free_tier_credit_usd = prices.free_tier_credit(&billed);
    let total_usd = prices.month_cost(&billed);
    let allocated_total_usd = prices.month_cost(&allocated);
    let elapsed = month.elapsed_fraction(now_ms);
    let pace = if elapsed > 0.0 { 1.0 / elapsed } else { 1.0 };
    let projected_total_usd = prices.month_cost(&Quantities {
        requests: billed.requests * pace,
        gb_seconds: billed.gb_seconds * pace,
        cpu_seconds: billed.cpu_seconds * pace,
    });
    let mut advice: Vec<Advice> = Vec::new();
    for line in &lines {
        match advice.iter_mut().find(|a| a.function == line.function) {
            Some(a) => a.cost_usd += line.cost_usd,
            None => advice.push(Advice {
                function: line.function.clone(),
                cost_usd: line.cost_usd,
                projected_monthly_usd: 0.0,
                dedicated_monthly_usd,
                move_to_dedicated: false,
            }),
        }
    }
    for a in &mut advice {
        a.projected_monthly_usd = if elapsed > 0.0 {
            a.cost_usd / elapsed
        } else {
            a.cost_usd
        };
        a.move_to_dedicated = a.projected_monthly_usd > dedicated_monthly_usd;
    }
    Statement {
        month,
        prices: *prices,
        requests: lines.iter().map(|l| l.requests).sum(),
        errors: lines.iter().map(|l| l.errors).sum(),
        rejected: lines.iter().map(|l| l.rejected).sum(),
        gb_seconds: billed.gb_seconds,
        allocated_gb_seconds: allocated.gb_seconds,
        cpu_seconds: billed.cpu_seconds,
        lines,
        subtotal_usd,
        free_tier_credit_usd,
        total_usd,
        allocated_total_usd,
        projected_total_usd,
        budget: budget.map(|b| BudgetStatus::new(b, total_usd)),
        advice,
        versions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(function: &str, trigger: TriggerKind, outcome: Outcome, n: u64) -> RollupRow {
        RollupRow {
            function: FunctionName::parse(function).unwrap(),
            trigger,
            outcome,
            hour_ms: 0,
            invocations: n,
            wall_ns: n * 1_000_000,
            cpu_ns: n * 500_000,
            peak_memory_bytes: 1 << 20,
            gb_seconds: n as f64 * 0.001,
            allocated_gb_seconds: n as f64 * 0.01,
        }
    }

    fn prices() -> PriceTable {
        PriceTable {
            per_million_requests: 1e6,
            per_gb_second: 10.0,
            per_cpu_second: 100.0,
            free: Quantities::default(),
        }
    }

    #[test]
    fn lines_sum_per_function_and_trigger_and_rejections_are_free() {
        let month = Month::parse("2026-10").unwrap();
        let rows = [
            row("api", TriggerKind::Http, Outcome::Ok, 10),
            row("api", TriggerKind::Http, Outcome::Trap, 2),
            row("api", TriggerKind::Http, Outcome::Rejected, 5),
            row("api", TriggerKind::Cron, Outcome::Ok, 1),
            row("job", TriggerKind::Kafka, Outcome::Ok, 3),
        ];
        let s = build(month, &rows, &prices(), None, 1e9, month.end_ms());
        assert_eq!(s.lines.len(), 3);
        let http = &s.lines[1];
        assert_eq!((http.requests, http.errors, http.rejected), (12, 2, 5));
        // 12 billed requests × $1 + the rows' 17 × 0.001 GB-s × $10 + 17 × 0.5 ms CPU × $100
        let expected = 12.0 + 0.17 + 17.0 * 0.0005 * 100.0;
        assert!((http.cost_usd - expected).abs() < 1e-9, "{}", http.cost_usd);
        assert_eq!(s.requests, 16);
        let sum: f64 = s.lines.iter().map(|l| l.cost_usd).sum();
        assert!((s.total_usd - sum).abs() < 1e-9);
        assert!(s.allocated_total_usd > s.total_usd);
    }

    #[test]
    fn budgets_warn_at_80_percent_and_advice_projects_the_month() {
        let month = Month::parse("2026-10").unwrap();
        let rows = [row("api", TriggerKind::Http, Outcome::Ok, 1)];
        let budget = |usd| Budget {
            monthly_usd: usd,
            policy: BudgetPolicy::Refuse,
        };
        let cost = build(month, &rows, &prices(), None, 1e9, month.end_ms()).total_usd;
        let at = |usd| {
            build(
                month,
                &rows,
                &prices(),
                Some(budget(usd)),
                1e9,
                month.end_ms(),
            )
            .budget
            .unwrap()
            .state
        };
        assert_eq!(at(cost * 2.0), BudgetState::Ok);
        assert_eq!(at(cost / 0.9), BudgetState::Warning);
        assert_eq!(at(cost), BudgetState::Exceeded);

        // Halfway through the month, a cost of C projects to 2C.
        let halfway = (month.start_ms() + month.end_ms()) / 2;
        let s = build(month, &rows, &prices(), None, cost * 1.5, halfway);
        assert!((s.advice[0].projected_monthly_usd - 2.0 * cost).abs() < 1e-6 * cost);
        assert!((s.projected_total_usd - 2.0 * cost).abs() < 1e-6 * cost);
        assert!(s.advice[0].move_to_dedicated);
        let past = build(month, &rows, &prices(), None, 1e9, month.end_ms() + 1);
        assert!((past.projected_total_usd - past.total_usd).abs() < 1e-12);
        let s = build(month, &rows, &prices(), None, cost * 3.0, halfway);
        assert!(!s.advice[0].move_to_dedicated);
    }
}
