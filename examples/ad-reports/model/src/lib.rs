//! The ad-reports model shared by its three functions: the event format, the kv layout of the
//! monthly aggregates, and the report computed from them.
//!
//! kv layout (the tenant's namespace):
//! - `adv/{advertiser}`: the advertiser exists (index for the monthly run)
//! - `agg/{advertiser}/{yyyy-mm}/{metric}`: counters: impressions, clicks, conversions,
//!   spend_cents, revenue_cents, reach
//! - `user/{advertiser}/{yyyy-mm}/{user}`: marks a user as reached (reach is exact: distinct
//!   users counted with compare-and-swap, not a sketch)
//! - `seen/{event id}`: events already counted (redeliveries are skipped)
//! - `report/{advertiser}/{yyyy-mm}`: the stored report (JSON)

use geyser_sdk::kv;
use serde::{Deserialize, Serialize};

/// One ad event, as published to `<tenant>.ad-events`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdEvent {
    pub advertiser: String,
    pub campaign: String,
    /// `impression`, `click` or `conversion`.
    pub kind: String,
    pub user: String,
    /// RFC 3339 time of the event; its first 7 characters are the month.
    pub ts: String,
    #[serde(default)]
    pub spend_cents: i64,
    #[serde(default)]
    pub revenue_cents: i64,
}

/// A monthly report of one advertiser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub advertiser: String,
    pub month: String,
    pub impressions: i64,
    /// Distinct users who saw an impression (exact).
    pub reach: i64,
    pub clicks: i64,
    /// clicks / impressions.
    pub ctr: f64,
    pub spend_cents: i64,
    pub conversions: i64,
    pub revenue_cents: i64,
    /// (revenue − spend) / spend.
    pub roi: f64,
}

pub const METRICS: [&str; 6] = [
    "impressions",
    "clicks",
    "conversions",
    "spend_cents",
    "revenue_cents",
    "reach",
];

/// Advertiser and campaign ids appear in kv keys: letters, digits, '-' and '_' only.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `yyyy-mm`.
pub fn valid_month(month: &str) -> bool {
    let b = month.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(month[5..].parse::<u32>(), Ok(1..=12))
}

pub fn agg_key(advertiser: &str, month: &str, metric: &str) -> String {
    format!("agg/{advertiser}/{month}/{metric}")
}

pub fn report_key(advertiser: &str, month: &str) -> String {
    format!("report/{advertiser}/{month}")
}

fn ratio(num: i64, den: i64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Builds (and stores) the report of `advertiser` for `month` from the aggregates.
pub fn build_report(advertiser: &str, month: &str) -> Result<Report, kv::Error> {
    let mut values = [0i64; METRICS.len()];
    for (value, metric) in values.iter_mut().zip(METRICS) {
        *value = kv::increment(&agg_key(advertiser, month, metric), 0)?;
    }
    let [
        impressions,
        clicks,
        conversions,
        spend_cents,
        revenue_cents,
        reach,
    ] = values;
    let report = Report {
        advertiser: advertiser.to_owned(),
        month: month.to_owned(),
        impressions,
        reach,
        clicks,
        ctr: ratio(clicks, impressions),
        spend_cents,
        conversions,
        revenue_cents,
        roi: ratio(revenue_cents - spend_cents, spend_cents),
    };
    kv::set_json(&report_key(advertiser, month), &report)?;
    Ok(report)
}

/// The report as CSV: a header line and one row.
pub fn to_csv(r: &Report) -> String {
    format!(
        "advertiser,month,impressions,reach,clicks,ctr,spend_cents,conversions,revenue_cents,roi\n\
         {},{},{},{},{},{:.6},{},{},{},{:.6}\n",
        r.advertiser,
        r.month,
        r.impressions,
        r.reach,
        r.clicks,
        r.ctr,
        r.spend_cents,
        r.conversions,
        r.revenue_cents,
        r.roi
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_ids() {
        assert!(valid_month("2026-10"));
        assert!(!valid_month("2026-13"));
        assert!(!valid_month("2026-1"));
        assert!(valid_id("adv_07"));
        assert!(!valid_id("a/b"));
    }

    #[test]
    fn csv_has_a_header_and_a_row() {
        let r = Report {
            advertiser: "a1".into(),
            month: "2026-10".into(),
            impressions: 10,
            reach: 4,
            clicks: 2,
            ctr: 0.2,
            spend_cents: 100,
            conversions: 1,
            revenue_cents: 150,
            roi: 0.5,
        };
        assert_eq!(
            to_csv(&r).lines().nth(1),
            Some("a1,2026-10,10,4,2,0.200000,100,1,150,0.500000")
        );
    }
}
