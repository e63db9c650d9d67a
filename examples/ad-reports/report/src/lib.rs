//! Ad reports, monthly run: on each tick (`0 6 1 * *` in the advertisers' time zone, given as
//! the schedule payload `{"timezone": "..."}`), builds last month's report for every advertiser,
//! stores it, and announces it on `<tenant>.report-ready` when the node has Kafka.

use chrono::{DateTime, Datelike};
use chrono_tz::Tz;
use example_ad_reports_model::build_report;
use geyser_sdk::kv;
use geyser_sdk::schedule::Tick;

/// The month before the tick's scheduled time, on the wall clock of `tz`.
fn previous_month(scheduled_time: &str, tz: Tz) -> Result<String, String> {
    let at = DateTime::parse_from_rfc3339(scheduled_time)
        .map_err(|e| format!("bad scheduled time {scheduled_time:?}: {e}"))?
        .with_timezone(&tz);
    let (year, month) = if at.month() == 1 {
        (at.year() - 1, 12)
    } else {
        (at.year(), at.month() - 1)
    };
    Ok(format!("{year:04}-{month:02}"))
}

fn timezone(payload: Option<&str>) -> Result<Tz, String> {
    let name = payload
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|v| v["timezone"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "UTC".into());
    name.parse()
        .map_err(|_| format!("unknown time zone {name:?} in the schedule payload"))
}

#[geyser_sdk::schedule]
fn on_tick(tick: Tick) -> Result<(), String> {
    let tz = timezone(tick.payload.as_deref())?;
    let month = previous_month(&tick.scheduled_time, tz)?;
    let advertisers = kv::list_keys("adv/", 10_000).map_err(|e| e.to_string())?;
    for key in &advertisers {
        let advertiser = &key["adv/".len()..];
        let report = build_report(advertiser, &month).map_err(|e| e.to_string())?;
        let note = serde_json::json!({ "advertiser": advertiser, "month": month }).to_string();
        let topic = "report-ready";
        if let Err(err) =
            geyser_sdk::publish::publish(topic, Some(advertiser.as_bytes()), note.as_bytes())
        {
            geyser_sdk::warn!("report {advertiser}/{month} stored; not announced: {err}");
        }
        geyser_sdk::info!(
            "report {advertiser}/{month}: {} impressions",
            report.impressions
        );
    }
    geyser_sdk::info!("built {} reports for {month}", advertisers.len());
    Ok(())
}
