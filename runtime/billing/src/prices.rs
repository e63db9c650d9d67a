//! The price table: what a request, a GB-second and a CPU-second cost, and the free tier.

use crate::config::BillingConfig;
use geyser_functions::{Outcome, RollupRow};

/// Billable amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quantities {
    pub requests: f64,
    pub gb_seconds: f64,
    pub cpu_seconds: f64,
}

impl Quantities {
    /// What a rollup row bills: refused invocations (outcome `rejected`: nothing ran) are not
    /// requests; every other invocation is, whatever it returned.
    pub fn of(row: &RollupRow) -> Quantities {
        Quantities::billed(row.outcome, row.invocations, row.gb_seconds, row.cpu_ns)
    }

    /// What `invocations` that ended with `outcome` bill.
    pub fn billed(outcome: Outcome, invocations: u64, gb_seconds: f64, cpu_ns: u64) -> Quantities {
        Quantities {
            requests: if outcome == Outcome::Rejected {
                0.0
            } else {
                invocations as f64
            },
            gb_seconds,
            cpu_seconds: cpu_ns as f64 / 1e9,
        }
    }

    pub fn add(&mut self, other: &Quantities) {
        self.requests += other.requests;
        self.gb_seconds += other.gb_seconds;
        self.cpu_seconds += other.cpu_seconds;
    }
}

/// Prices in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceTable {
    pub per_million_requests: f64,
    pub per_gb_second: f64,
    pub per_cpu_second: f64,
    /// Free per tenant and month.
    pub free: Quantities,
}

impl PriceTable {
    pub fn from_config(config: &BillingConfig) -> PriceTable {
        PriceTable {
            per_million_requests: config.price_per_million_requests,
            per_gb_second: config.price_per_gb_second,
            per_cpu_second: config.price_per_cpu_second,
            free: Quantities {
                requests: config.free_requests,
                gb_seconds: config.free_gb_seconds,
                cpu_seconds: config.free_cpu_seconds,
            },
        }
    }

    /// The list price of `q`, before any free tier.
    pub fn cost(&self, q: &Quantities) -> f64 {
        q.requests / 1e6 * self.per_million_requests
            + q.gb_seconds * self.per_gb_second
            + q.cpu_seconds * self.per_cpu_second
    }

    /// The part of a month's `total` the free tier pays for.
    pub fn free_tier_credit(&self, total: &Quantities) -> f64 {
        self.cost(&Quantities {
            requests: total.requests.min(self.free.requests),
            gb_seconds: total.gb_seconds.min(self.free.gb_seconds),
            cpu_seconds: total.cpu_seconds.min(self.free.cpu_seconds),
        })
    }

    /// What a month with `total` usage costs after the free tier.
    pub fn month_cost(&self, total: &Quantities) -> f64 {
        (self.cost(total) - self.free_tier_credit(total)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_prices_and_free_tier() {
        let prices = PriceTable {
            per_million_requests: 0.2,
            per_gb_second: 0.00001,
            per_cpu_second: 0.00002,
            free: Quantities {
                requests: 1e6,
                gb_seconds: 10.0,
                cpu_seconds: 0.0,
            },
        };
        let q = Quantities {
            requests: 3e6,
            gb_seconds: 110.0,
            cpu_seconds: 50.0,
        };
        let list = 0.6 + 110.0 * 0.00001 + 50.0 * 0.00002;
        assert!((prices.cost(&q) - list).abs() < 1e-12);
        let credit = 0.2 + 10.0 * 0.00001;
        assert!((prices.free_tier_credit(&q) - credit).abs() < 1e-12);
        assert!((prices.month_cost(&q) - (list - credit)).abs() < 1e-12);
        let small = Quantities {
            requests: 10.0,
            gb_seconds: 1.0,
            cpu_seconds: 0.0,
        };
        assert_eq!(prices.month_cost(&small), 0.0, "inside the free tier");
    }
}
