//! The ad-reports example end to end: events in through the tenant's Kafka topic
//! `<tenant>.ad-events` (a real broker), the monthly tick (run now, as the admin would) builds
//! last month's reports in the advertisers' time zone and announces each on
//! `<tenant>.report-ready`, and every number equals what the events add up to.

use geyser_e2e::{Backend, TestServer, eventually, guest};
use geyser_test_support::kafka::{
    Record, create_topic, kafka_brokers, produce, producer, read_topic,
};
use geyser_test_support::polyglot_guest;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Default, Debug, PartialEq)]
struct Expected {
    impressions: i64,
    reach: BTreeSet<String>,
    clicks: i64,
    conversions: i64,
    spend_cents: i64,
    revenue_cents: i64,
}

/// A deterministic month of events for three advertisers, plus a few from the month before.
fn events() -> Vec<Value> {
    let mut out = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for i in 0..150 {
        let advertiser = format!("adv-{}", next(3));
        let kind = [
            "impression",
            "impression",
            "impression",
            "click",
            "conversion",
        ][next(5) as usize];
        let month = if i % 25 == 0 { "2026-09" } else { "2026-10" };
        let day = 1 + next(28);
        out.push(json!({
            "advertiser": advertiser,
            "campaign": format!("c{}", next(2)),
            "kind": kind,
            "user": format!("u{}", next(40)),
            "ts": format!("{month}-{day:02}T12:00:00Z"),
            "spend_cents": if kind == "impression" { 1 + next(5) as i64 } else { 0 },
            "revenue_cents": if kind == "conversion" { 500 + next(1000) as i64 } else { 0 },
        }));
    }
    out
}

fn expected(events: &[Value], month: &str) -> BTreeMap<String, Expected> {
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["ts"].as_str().unwrap().starts_with(month))
    {
        let agg = out
            .entry(e["advertiser"].as_str().unwrap().to_owned())
            .or_default();
        match e["kind"].as_str().unwrap() {
            "impression" => {
                agg.impressions += 1;
                agg.reach.insert(e["user"].as_str().unwrap().to_owned());
            }
            "click" => agg.clicks += 1,
            _ => agg.conversions += 1,
        }
        agg.spend_cents += e["spend_cents"].as_i64().unwrap();
        agg.revenue_cents += e["revenue_cents"].as_i64().unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_reports_equal_the_seeded_events() {
    monthly_reports_equal_the_events_with(guest("example_ad_reports_report")).await;
}

/// The report function rewritten in Python (examples/ad-reports/report-py, built from source
/// with componentize-py and tzdata from PyPI): the same numbers, by the same checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_report_gives_the_same_numbers() {
    let wasm = polyglot_guest("examples/ad-reports/report-py", "./build.sh", "report.wasm");
    monthly_reports_equal_the_events_with(std::fs::read(wasm).unwrap()).await;
}

async fn monthly_reports_equal_the_events_with(report: Vec<u8>) {
    let server = TestServer::start(Backend::Sqlite, |config| {
        config.kafka.brokers = Some(kafka_brokers());
        // A Python component is ~19 MB (the suite's default cap is 8 MiB; a node's is 50 MiB).
        config.http.max_upload_bytes = 50 << 20;
    });
    let api = server.api();
    let t = api.create_tenant("ads").await;
    api.deploy_ok(&t, "ads-ingest", "", guest("example_ad_reports_ingest"))
        .await;
    api.deploy_ok(&t, "ads-report", "", report).await;
    api.deploy_ok(&t, "ads", "", guest("example_ad_reports_api"))
        .await;

    // The events arrive on the tenant's Kafka topic, keyed by advertiser.
    let topic = format!("{}.ad-events", t.name);
    create_topic(&topic, 3).await;
    create_topic(&format!("{}.report-ready", t.name), 1).await;
    let bound = api
        .put_json(
            "/v1/functions/ads-ingest/triggers/kafka",
            &t.key,
            json!({ "topic": topic, "start": "earliest" }),
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{}", bound.body);
    let events = events();
    let records: Vec<Record> = events
        .iter()
        .map(|event| Record {
            key: event["advertiser"].as_str().map(str::to_owned),
            payload: event.to_string(),
            ..Record::default()
        })
        .collect();
    produce(&producer(), &topic, &records).await;
    let processed = format!(
        "geyser_kafka_records_total{{tenant=\"{}\",function=\"ads-ingest\",topic=\"{topic}\"}}",
        t.name
    );
    eventually(
        "every ad event ingested",
        Duration::from_secs(60),
        || async {
            let n = api.metric_if_present(&processed).await.unwrap_or(0.0);
            (n >= events.len() as f64).then_some(())
        },
    )
    .await;

    let schedule = json!({
        "name": "monthly",
        "expression": "0 6 1 * *",
        "timezone": "Europe/Berlin",
        "payload": {"timezone": "Europe/Berlin"},
    });
    let reply = api
        .http
        .put(format!(
            "{}/v1/functions/ads-report/triggers/cron",
            api.base
        ))
        .bearer_auth(&t.key)
        .json(&schedule)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    // 06:00 on November 1st in Berlin: the October report.
    let ran = api
        .post_json(
            "/v1/functions/ads-report/triggers/cron/monthly/run",
            &t.key,
            json!({"scheduled_time": "2026-11-01T05:00:00Z"}),
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    if ran.json()["outcome"] != "ok" {
        let logs = api.get("/v1/functions/ads-report/logs", Some(&t.key)).await;
        panic!("the monthly run failed: {}\n{}", ran.body, logs.body);
    }

    let want = expected(&events, "2026-10");
    assert_eq!(want.len(), 3);
    for (advertiser, e) in &want {
        let reply = api
            .get(
                &format!("/fn/{}/ads/reports/{advertiser}/2026-10", t.name),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let r = reply.json();
        assert_eq!(r["impressions"], e.impressions, "{advertiser}: {r}");
        assert_eq!(r["reach"], e.reach.len() as i64, "{advertiser}: {r}");
        assert_eq!(r["clicks"], e.clicks, "{advertiser}: {r}");
        assert_eq!(r["conversions"], e.conversions, "{advertiser}: {r}");
        assert_eq!(r["spend_cents"], e.spend_cents, "{advertiser}: {r}");
        assert_eq!(r["revenue_cents"], e.revenue_cents, "{advertiser}: {r}");
        let ctr = e.clicks as f64 / e.impressions as f64;
        assert!((r["ctr"].as_f64().unwrap() - ctr).abs() < 1e-12);
        let roi = (e.revenue_cents - e.spend_cents) as f64 / e.spend_cents as f64;
        assert!((r["roi"].as_f64().unwrap() - roi).abs() < 1e-12);
    }

    // Each report was announced on the tenant's report-ready topic.
    let announced = read_topic(
        &format!("{}.report-ready", t.name),
        want.len(),
        Duration::from_secs(30),
    )
    .await;
    let mut announced: Vec<Value> = announced
        .iter()
        .map(|record| {
            use rdkafka::Message;
            serde_json::from_slice(record.payload().unwrap()).unwrap()
        })
        .collect();
    announced.sort_by_key(|note| note["advertiser"].as_str().unwrap().to_owned());
    let advertisers: Vec<&String> = want.keys().collect();
    assert_eq!(
        announced
            .iter()
            .map(|note| note["advertiser"].as_str().unwrap())
            .collect::<Vec<_>>(),
        advertisers
    );
    assert!(announced.iter().all(|note| note["month"] == "2026-10"));

    // CSV, and the September events stayed out of October.
    let (advertiser, e) = want.iter().next().unwrap();
    let csv = api
        .get(
            &format!("/fn/{}/ads/reports/{advertiser}/2026-10?format=csv", t.name),
            None,
        )
        .await;
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let row: Vec<&str> = csv.body.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0], advertiser);
    assert_eq!(row[2], e.impressions.to_string());

    // No September report was built by the October tick; generating one needs the tenant key.
    let missing = api
        .get(
            &format!("/fn/{}/ads/reports/{advertiser}/2026-09", t.name),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let anonymous = api
        .http
        .post(format!(
            "{}/fn/{}/ads/reports/{advertiser}/2026-09",
            api.base, t.name
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let made = api
        .post_json(
            &format!("/fn/{}/ads/reports/{advertiser}/2026-09", t.name),
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let september = expected(&events, "2026-09");
    assert_eq!(
        made.json()["impressions"],
        september.get(advertiser).map_or(0, |e| e.impressions)
    );
}
