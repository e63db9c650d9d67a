//! Nothing lost: SIGTERM finishes what is running and exits 0; `kill -9` under load, then a
//! restart on the same data directory, keeps every deployed function, every kv write that was
//! acknowledged and every cron fire claim, and loses at most the last flush interval of usage
//! records. (Kafka: `kafka_process.rs` kills a node mid-stream and counts every record.)

mod common;

use common::{client_runtime, create_tenant, get_json, geyser, start, stdout};
use geyser_functions::{Store, TenantName};
use geyser_test_support::guest_path;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-durable";

async fn usage_of(dir: &std::path::Path, tenant: &str) -> geyser_functions::UsageReport {
    let url = format!("sqlite://{}", dir.join("geyser.db").display());
    let store = Store::open(&url, 1).await.unwrap();
    let tenant = store
        .tenant_by_name(&TenantName::parse(tenant).unwrap())
        .await
        .unwrap();
    let usage = store.usage(tenant.id).await.unwrap();
    store.close().await;
    usage
}

#[test]
fn sigterm_finishes_running_invocations_flushes_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    // A long flush interval: only the shutdown path can have written the record.
    let config = dir.path().join("geyser.toml");
    std::fs::write(&config, "[metering]\nflush_interval_ms = 600000\n").unwrap();
    let mut node = start(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        Some(ADMIN),
    );
    let key = create_tenant(&node, ADMIN, "graceful");
    let probe = guest_path("geyser_fixture_probe");
    stdout(&geyser(
        &node,
        &key,
        &["deploy", "probe", probe.to_str().unwrap()],
    ));
    let url = format!("{}/fn/graceful/probe/spin?ms=1500", node.url);
    let runtime = client_runtime();
    let running = runtime.spawn(async move {
        let response = reqwest::get(url).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    });
    // Wait until the invocation holds a slot, then stop the node under it.
    let metrics = format!("{}/metrics", node.url);
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        let http = reqwest::Client::new();
        loop {
            let text = http
                .get(&metrics)
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if text.lines().any(|l| l == "geyser_instances_in_use 1") {
                break;
            }
            assert!(Instant::now() < deadline, "the invocation never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let stopped_at = Instant::now();
    let exit = node.terminate();
    assert!(exit.success(), "geyser exited with {exit}");
    let (status, body) = runtime.block_on(running).unwrap();
    assert_eq!((status, body.as_str()), (200, "spun"));
    assert!(stopped_at.elapsed() < Duration::from_secs(10));
    let usage = runtime.block_on(usage_of(dir.path(), "graceful"));
    assert_eq!(usage.totals().invocations, 1);
    assert_eq!(usage.totals().errors, 0);
}

#[test]
fn kill_9_under_load_keeps_functions_acknowledged_kv_writes_and_cron_claims() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("geyser.toml");
    std::fs::write(
        &config,
        "[metering]\nflush_interval_ms = 200\n[scheduler]\npass_interval_ms = 100\n",
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut node = start(dir.path(), &args, Some(ADMIN));
    let key = create_tenant(&node, ADMIN, "durable");
    let counter = guest_path("example_event_counter");
    let ticker = guest_path("geyser_fixture_ticker");
    stdout(&geyser(
        &node,
        &key,
        &["deploy", "counter", counter.to_str().unwrap()],
    ));
    stdout(&geyser(
        &node,
        &key,
        &["deploy", "tick", ticker.to_str().unwrap()],
    ));
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    runtime.block_on(async {
        let reply = http
            .put(format!("{base}/v1/functions/tick/triggers/cron"))
            .bearer_auth(&key)
            .json(&json!({"name": "every-second", "expression": "* * * * * *"}))
            .send()
            .await
            .unwrap();
        assert!(
            reply.status().is_success(),
            "{}",
            reply.text().await.unwrap()
        );
    });

    // Four writers send events (each a kv increment of its own key) as fast as they can.
    let acked: Arc<Vec<std::sync::Mutex<Vec<Instant>>>> =
        Arc::new((0..4).map(|_| std::sync::Mutex::new(Vec::new())).collect());
    let sent: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new((0..4).map(|_| 0.into()).collect());
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            let (acked, sent) = (acked.clone(), sent.clone());
            runtime.spawn(async move {
                loop {
                    sent[i].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let reply = http
                        .post(format!("{base}/v1/functions/counter/events?key=k{i}"))
                        .bearer_auth(&key)
                        .body("x")
                        .send()
                        .await;
                    let Ok(reply) = reply else { break };
                    if reply.status() != 200 {
                        break;
                    }
                    let Ok(body) = reply.json::<Value>().await else {
                        break;
                    };
                    assert_eq!(body["outcome"], "ok", "{body}");
                    acked[i].lock().unwrap().push(Instant::now());
                }
            })
        })
        .collect();
    // Let load build up and the cron trigger fire a few times, then SIGKILL.
    let runs_before: BTreeSet<String> = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let runs = cron_runs(&http, &base, &key).await;
            let total: usize = acked.iter().map(|a| a.lock().unwrap().len()).sum();
            if runs.len() >= 2 && total >= 200 {
                return runs;
            }
            assert!(
                Instant::now() < deadline,
                "no load: {total} acked, {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    node.child.kill().unwrap();
    let killed_at = Instant::now();
    node.child.wait().unwrap();
    for writer in writers {
        runtime.block_on(writer).unwrap();
    }

    let node = start(dir.path(), &args, Some(ADMIN));
    let base = node.url.clone();
    runtime.block_on(async {
        // Deployed functions are intact.
        let functions = get_json(&http, format!("{base}/v1/functions"), &key).await;
        let names: Vec<&str> = functions
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["counter", "tick"]);
        // Every acknowledged kv write is there; at most the writes in flight at the kill were
        // applied without an answer.
        for i in 0..4 {
            let count: u64 = http
                .get(format!("{base}/fn/durable/counter/counts/k{i}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .parse()
                .unwrap();
            let acked = acked[i].lock().unwrap().len() as u64;
            let sent = sent[i].load(std::sync::atomic::Ordering::SeqCst);
            assert!(
                acked <= count && count <= sent,
                "k{i}: {acked} acknowledged, {count} stored, {sent} sent"
            );
        }
        // Every cron fire claimed before the kill is still claimed, and none fires twice.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let all = cron_runs_listed(&http, &base, &key).await;
        let distinct: BTreeSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "a tick fired twice: {all:?}");
        for run in &runs_before {
            assert!(all.contains(run), "claim {run} lost: {all:?}");
        }
    });
    drop(node);

    // Usage: at most the records of the last flush interval (200 ms, plus the write itself)
    // before the kill are missing.
    let usage = runtime.block_on(usage_of(dir.path(), "durable"));
    let counter_usage = usage
        .functions
        .iter()
        .find(|f| f.function.as_str() == "counter")
        .map_or(0, |f| f.figures.invocations);
    let window = Duration::from_millis(200 + 300);
    let acked_total: usize = acked.iter().map(|a| a.lock().unwrap().len()).sum();
    let at_risk: usize = acked
        .iter()
        .map(|a| {
            a.lock()
                .unwrap()
                .iter()
                .filter(|t| killed_at.duration_since(**t) <= window)
                .count()
        })
        .sum();
    let sent_total: u64 = sent
        .iter()
        .map(|s| s.load(std::sync::atomic::Ordering::SeqCst))
        .sum();
    assert!(
        counter_usage as usize >= acked_total - at_risk && counter_usage <= sent_total,
        "{counter_usage} recorded; {acked_total} acknowledged, {at_risk} of them in the last \
         {window:?}; {sent_total} sent"
    );
}

/// The scheduled times of the cron trigger's recorded runs.
async fn cron_runs(http: &reqwest::Client, base: &str, key: &str) -> BTreeSet<String> {
    cron_runs_listed(http, base, key)
        .await
        .into_iter()
        .collect()
}

async fn cron_runs_listed(http: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let runs = get_json(
        http,
        format!("{base}/v1/functions/tick/triggers/cron/every-second/runs"),
        key,
    )
    .await;
    runs.as_array()
        .unwrap_or_else(|| panic!("{runs}"))
        .iter()
        .map(|r| r["scheduled_time"].as_str().unwrap().to_owned())
        .collect()
}
