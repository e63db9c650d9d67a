//! Ad reports, ingest: counts each ad event into its advertiser's monthly aggregates.
//! Bound to the topic `<tenant>.ad-events`; a redelivered event (same id) is counted once.

use example_ad_reports_model::{AdEvent, agg_key, valid_id};
use geyser_sdk::event::Event;
use geyser_sdk::kv;

fn count(event: &Event) -> Result<(), kv::Error> {
    let Ok(ad) = event.json::<AdEvent>() else {
        geyser_sdk::warn!("event {} is not an ad event; dropped", event.id);
        return Ok(());
    };
    if !valid_id(&ad.advertiser) || !valid_id(&ad.user) || ad.ts.len() < 7 {
        geyser_sdk::warn!("event {} has invalid ids or time; dropped", event.id);
        return Ok(());
    }
    // Mark first: a redelivery of a counted event is skipped.
    if !kv::compare_and_swap(&format!("seen/{}", event.id), None, b"1")? {
        return Ok(());
    }
    let month = &ad.ts[..7];
    let add = |metric: &str, n: i64| {
        kv::increment(&agg_key(&ad.advertiser, month, metric), n).map(|_| ())
    };
    kv::set(&format!("adv/{}", ad.advertiser), b"")?;
    match ad.kind.as_str() {
        "impression" => {
            add("impressions", 1)?;
            if kv::compare_and_swap(
                &format!("user/{}/{month}/{}", ad.advertiser, ad.user),
                None,
                b"",
            )? {
                add("reach", 1)?;
            }
        }
        "click" => add("clicks", 1)?,
        "conversion" => add("conversions", 1)?,
        other => geyser_sdk::warn!("event {} has unknown kind {other:?}", event.id),
    }
    if ad.spend_cents != 0 {
        add("spend_cents", ad.spend_cents)?;
    }
    if ad.revenue_cents != 0 {
        add("revenue_cents", ad.revenue_cents)?;
    }
    Ok(())
}

#[geyser_sdk::event]
fn handle(event: Event) -> Result<(), String> {
    count(&event).map_err(|e| e.to_string())
}
