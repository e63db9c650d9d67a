//! Cron triggers end to end with a driven clock: validation, the monthly tick firing once at its
//! zone's month boundary, two nodes firing each tick once, missed-tick policies, overlap skipping
//! and manual runs.

use chrono::{DateTime, Utc};
use geyser_e2e::{Api, Backend, TestServer, TestTenant, guest};
use geyser_scheduler::FixedClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn fast_passes(c: &mut geyser_runtime::config::Config) {
    c.scheduler.pass_interval_ms = 20;
}

async fn setup(api: &Api, prefix: &str) -> TestTenant {
    let t = api.create_tenant(prefix).await;
    api.deploy_ok(&t, "ticker", "", guest("geyser_fixture_ticker"))
        .await;
    t
}

async fn put_cron(api: &Api, t: &TestTenant, body: Value) -> (StatusCode, Value) {
    let reply = api
        .send(
            Method::PUT,
            "/v1/functions/ticker/triggers/cron",
            Some(&t.key),
            Some(body.to_string().into_bytes()),
        )
        .await;
    (
        reply.status,
        serde_json::from_str(&reply.body).unwrap_or(Value::Null),
    )
}

async fn put_cron_json(api: &Api, t: &TestTenant, body: Value) -> (StatusCode, Value) {
    let response = api
        .http
        .put(format!("{}/v1/functions/ticker/triggers/cron", api.base))
        .bearer_auth(&t.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn runs(api: &Api, t: &TestTenant, schedule: &str) -> Vec<Value> {
    let reply = api
        .get(
            &format!("/v1/functions/ticker/triggers/cron/{schedule}/runs"),
            Some(&t.key),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json().as_array().unwrap().clone()
}

/// Waits until every node has made two more scheduler passes (so it has seen the clock).
async fn passes(apis: &[&Api]) {
    for api in apis {
        let start = api.metric("geyser_cron_passes_total").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while api.metric("geyser_cron_passes_total").await < start + 2.0 {
            assert!(Instant::now() < deadline, "scheduler made no passes");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Waits until all runs of a schedule have finished; returns them oldest first.
async fn settled_runs(api: &Api, t: &TestTenant, schedule: &str, expected: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = runs(api, t, schedule).await;
        if all.len() == expected && all.iter().all(|r| !r["outcome"].is_null()) {
            all.reverse();
            return all;
        }
        assert!(
            all.len() <= expected && Instant::now() < deadline,
            "expected {expected} finished runs, have {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn validation(backend: Backend) {
    let server = TestServer::start(backend, fast_passes);
    let api = server.api();
    let t = setup(&api, "cronval").await;
    let (status, body) =
        put_cron_json(&api, &t, json!({"name": "m", "expression": "61 6 1 * *"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid minute field \"61\""),
        "{body}"
    );
    let (status, body) = put_cron_json(
        &api,
        &t,
        json!({"name": "m", "expression": "0 6 1 * *", "timezone": "Mars/Base"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown time zone"),
        "{body}"
    );
    let (status, _) = put_cron_json(
        &api,
        &t,
        json!({"name": "m", "expression": "0 6 1 * *", "missed": "sometimes"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = put_cron(&api, &t, json!({"name": "m"})).await;
    assert!(status.is_client_error());
    api.deploy_ok(&t, "web", "", guest("example_hello")).await;
    let reply = api
        .http
        .put(format!("{}/v1/functions/web/triggers/cron", api.base))
        .bearer_auth(&t.key)
        .json(&json!({"name": "m", "expression": "0 6 1 * *"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status(),
        StatusCode::BAD_REQUEST,
        "an HTTP function takes no cron trigger"
    );

    let (status, body) = put_cron_json(
        &api,
        &t,
        json!({"name": "monthly", "expression": "0 6 1 * *", "timezone": "Europe/Berlin"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["next"].as_array().unwrap().len(), 3);
    assert_eq!(body["missed"], "once");
    assert_eq!(body["overlap"], "skip");
    let list = api
        .get("/v1/functions/ticker/triggers/cron", Some(&t.key))
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let path = "/v1/functions/ticker/triggers/cron/monthly";
    assert_eq!(
        api.send(Method::DELETE, path, Some(&t.key), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.send(Method::DELETE, path, Some(&t.key), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Deleting the function removes its schedules; a new function of that name has none.
    let (status, _) = put_cron_json(
        &api,
        &t,
        json!({"name": "again", "expression": "0 6 1 * *"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let reply = api
        .send(Method::DELETE, "/v1/functions/ticker", Some(&t.key), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    api.deploy_ok(&t, "ticker", "", guest("geyser_fixture_ticker"))
        .await;
    let list = api
        .get("/v1/functions/ticker/triggers/cron", Some(&t.key))
        .await
        .json();
    assert_eq!(list, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_validated_sqlite() {
    validation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_validated_postgres() {
    validation(Backend::Postgres).await;
}

async fn monthly_fires_once(backend: Backend) {
    let clock = Arc::new(FixedClock::new(utc("2026-01-31T20:00:00Z")));
    let server = TestServer::start_with_clock(backend, clock.clone(), fast_passes);
    let api = server.api();
    let t = setup(&api, "monthly").await;
    let (status, body) = put_cron_json(
        &api,
        &t,
        json!({"name": "report", "expression": "0 6 1 * *", "timezone": "Europe/Berlin"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["next"][0], "2026-02-01T05:00:00.000Z",
        "06:00 in Berlin is 05:00 UTC in winter"
    );

    clock.set(utc("2026-02-01T04:59:59Z"));
    passes(&[&api]).await;
    assert!(runs(&api, &t, "report").await.is_empty());

    clock.set(utc("2026-02-01T05:00:01Z"));
    let fired = settled_runs(&api, &t, "report", 1).await;
    assert_eq!(fired[0]["scheduled_time"], "2026-02-01T05:00:00.000Z");
    assert_eq!(fired[0]["outcome"], "ok");
    assert_eq!(fired[0]["manual"], false);
    clock.set(utc("2026-02-01T05:30:00Z"));
    passes(&[&api]).await;
    assert_eq!(
        runs(&api, &t, "report").await.len(),
        1,
        "fires exactly once"
    );

    // The function saw the tick's scheduled time.
    let logs = api
        .get("/v1/functions/ticker/logs", Some(&t.key))
        .await
        .json();
    assert_eq!(logs[0]["message"], "tick report 2026-02-01T05:00:00.000Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_fires_once_at_the_boundary_sqlite() {
    monthly_fires_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_fires_once_at_the_boundary_postgres() {
    monthly_fires_once(Backend::Postgres).await;
}

/// Two nodes on one PostgreSQL, one clock: each minute's tick runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_fire_each_tick_once() {
    let clock = Arc::new(FixedClock::new(utc("2026-03-01T00:00:30Z")));
    let first = TestServer::start_with_clock(Backend::Postgres, clock.clone(), fast_passes);
    let second = TestServer::join_with_clock(&first, clock.clone(), fast_passes);
    let (a, b) = (first.api(), second.api());
    let t = setup(&a, "duo").await;
    // Simulated minutes pass in milliseconds here: allow overlap so every tick runs.
    let (status, _) = put_cron_json(
        &a,
        &t,
        json!({"name": "every-minute", "expression": "* * * * *", "overlap": "allow"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for minute in 1..=5 {
        clock.set(utc(&format!("2026-03-01T00:0{minute}:05Z")));
        passes(&[&a, &b]).await;
    }
    let fired = settled_runs(&a, &t, "every-minute", 5).await;
    let times: Vec<&str> = fired
        .iter()
        .map(|r| r["scheduled_time"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        (1..=5)
            .map(|m| format!("2026-03-01T00:0{m}:00.000Z"))
            .collect::<Vec<_>>()
    );
    assert!(fired.iter().all(|r| r["outcome"] == "ok"), "{fired:?}");
    let usage = a.usage_when(&t.key, 5).await;
    assert_eq!(usage["totals"]["outcomes"]["ok"], 5);
}

/// The only node is down while five hourly ticks pass; after the restart `once` fires the
/// latest missed tick, `skip` none, and both go on normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_after_a_restart_follow_the_policy() {
    let clock = Arc::new(FixedClock::new(utc("2026-05-01T00:30:00Z")));
    let before = TestServer::start_with_clock(Backend::Sqlite, clock.clone(), fast_passes);
    let api = before.api();
    let t = setup(&api, "missed").await;
    for (name, missed) in [("catch-up", "once"), ("no-catch-up", "skip")] {
        let (status, _) = put_cron_json(
            &api,
            &t,
            json!({"name": name, "expression": "0 * * * *", "missed": missed}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    passes(&[&api]).await;
    let (database, admin) = (before.database_url.clone(), before.admin_key.clone());
    let _data = before.stop();

    clock.set(utc("2026-05-01T05:30:00Z"));
    let after = TestServer::start_on(
        Backend::Sqlite,
        &database,
        &admin,
        clock.clone(),
        fast_passes,
    );
    let api = after.api();
    passes(&[&api]).await;
    let fired = settled_runs(&api, &t, "catch-up", 1).await;
    assert_eq!(fired[0]["scheduled_time"], "2026-05-01T05:00:00.000Z");
    assert!(runs(&api, &t, "no-catch-up").await.is_empty());
    clock.set(utc("2026-05-01T06:00:02Z"));
    settled_runs(&api, &t, "catch-up", 2).await;
    let fired = settled_runs(&api, &t, "no-catch-up", 1).await;
    assert_eq!(fired[0]["scheduled_time"], "2026-05-01T06:00:00.000Z");
}

/// `overlap: skip`: a tick that comes due while the previous run still runs is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_ticks_are_skipped() {
    let clock = Arc::new(FixedClock::new(utc("2026-06-01T00:00:30Z")));
    let server = TestServer::start_with_clock(Backend::Sqlite, clock.clone(), fast_passes);
    let api = server.api();
    let t = setup(&api, "overlap").await;
    let (status, _) = put_cron_json(
        &api,
        &t,
        json!({"name": "slow", "expression": "* * * * *", "payload": {"spin_ms": 2000}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    clock.set(utc("2026-06-01T00:01:01Z"));
    // Wait until the first run has started, then let the next minute come due.
    let deadline = Instant::now() + Duration::from_secs(10);
    while runs(&api, &t, "slow").await.is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    clock.set(utc("2026-06-01T00:02:01Z"));
    let fired = settled_runs(&api, &t, "slow", 2).await;
    assert_eq!(fired[0]["outcome"], "ok");
    assert_eq!(fired[1]["outcome"], "skipped-overlap");
    assert!(fired[1]["invocation"].is_null());
}

/// "Run the report now" with a chosen scheduled time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_run_fires_now_with_the_given_time() {
    let server = TestServer::start(Backend::Sqlite, |_| {});
    let api = server.api();
    let t = setup(&api, "manual").await;
    let (status, _) = put_cron_json(
        &api,
        &t,
        json!({"name": "report", "expression": "0 6 1 * *"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let reply = api
        .post_json(
            "/v1/functions/ticker/triggers/cron/report/run",
            &t.key,
            json!({"scheduled_time": "2026-10-01T06:00:00Z"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["outcome"], "ok");
    let all = runs(&api, &t, "report").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["manual"], true);
    assert_eq!(all[0]["scheduled_time"], "2026-10-01T06:00:00.000Z");
    let logs = api
        .get("/v1/functions/ticker/logs", Some(&t.key))
        .await
        .json();
    assert_eq!(logs[0]["message"], "tick report 2026-10-01T06:00:00.000Z");
    let missing = api
        .post_json(
            "/v1/functions/ticker/triggers/cron/nope/run",
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
