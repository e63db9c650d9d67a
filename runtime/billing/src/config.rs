//! `[billing]`: prices, the free tier, default budget policy, break-even advice.

use serde::Deserialize;

/// Prices, free tier, budgets and break-even advice. Defaults follow public FaaS list prices
/// (USD): $0.20 per million requests and $0.0000166667 per GB-second (AWS Lambda, x86),
/// $0.02 per million CPU-milliseconds = $0.00002 per CPU-second (Cloudflare Workers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    pub price_per_million_requests: f64,
    pub price_per_gb_second: f64,
    pub price_per_cpu_second: f64,
    /// Free each month per tenant (0 = no free tier; Lambda's is 1,000,000 and 400,000).
    pub free_requests: f64,
    pub free_gb_seconds: f64,
    pub free_cpu_seconds: f64,
    /// What one dedicated instance costs a month; a function whose projected monthly cost
    /// exceeds it is flagged as no longer rare enough for FaaS.
    pub dedicated_instance_monthly_usd: f64,
    /// A budget's policy when the tenant does not choose one: `refuse` or `warn`.
    pub default_budget_policy: String,
    /// How long a node reuses a tenant's month-to-date cost before reading it again; the
    /// budget is enforced within this (plus `metering.flush_interval_ms`).
    pub budget_refresh_ms: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            price_per_million_requests: 0.20,
            price_per_gb_second: 0.000_016_666_7,
            price_per_cpu_second: 0.000_02,
            free_requests: 0.0,
            free_gb_seconds: 0.0,
            free_cpu_seconds: 0.0,
            dedicated_instance_monthly_usd: 15.0,
            default_budget_policy: "refuse".into(),
            budget_refresh_ms: 1000,
        }
    }
}

impl BillingConfig {
    /// The default budget policy, if the configured name is valid.
    pub fn budget_policy(&self) -> Option<geyser_functions::BudgetPolicy> {
        self.default_budget_policy.parse().ok()
    }
}
