//! Three nodes behind a real load balancer, as `scripts/cluster-up.sh` starts them (HAProxy
//! checking `/readyz`, one PostgreSQL database, the shared node and admin keys): a function
//! deployed through the balancer answers from every node; a rate quota holds across the three
//! (each node admits its share); Kafka records are counted exactly once and each cron tick
//! fires once with three nodes consuming and scheduling; `kill -9` of a node under load fails
//! at most the requests it had in hand, then every request succeeds.

mod common;

use common::{BIN, client_runtime, deploy, get_json};
use geyser_test_support::guest;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The cluster `scripts/cluster-up.sh` started; stopped (and its database dropped) on drop.
struct Cluster {
    state: tempfile::TempDir,
    url: String,
    admin_key: String,
    port: u16,
    database: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A base port with the next `n` ports free too.
fn free_ports(n: u16) -> u16 {
    'search: for base in (20_000u16..40_000)
        .step_by(97)
        .skip(std::process::id() as usize % 150)
    {
        for port in base..=base + n {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue 'search;
            }
        }
        return base;
    }
    panic!("no {n} free ports in a row");
}

impl Cluster {
    fn up(nodes: u16) -> Cluster {
        let state = tempfile::tempdir().unwrap();
        let port = free_ports(nodes);
        let database = format!("geyser_e2e_cluster_{}", std::process::id());
        let output = Command::new(repo().join("scripts/cluster-up.sh"))
            .arg(nodes.to_string())
            .env("GEYSER_BIN", BIN)
            .env("CLUSTER_PORT", port.to_string())
            .env("CLUSTER_STATE", state.path())
            .env("CLUSTER_DB", &database)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run scripts/cluster-up.sh");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut cluster = Cluster {
            state,
            url: String::new(),
            admin_key: String::new(),
            port,
            database,
        };
        assert!(
            output.status.success(),
            "cluster-up failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in stdout.lines() {
            if let Some(url) = line.strip_prefix("url: ") {
                cluster.url = url.to_owned();
            }
            if let Some(key) = line.strip_prefix("admin key: ") {
                cluster.admin_key = key.to_owned();
            }
        }
        assert!(
            !cluster.url.is_empty() && !cluster.admin_key.is_empty(),
            "{stdout}"
        );
        cluster
    }

    fn node_url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}", self.port + i)
    }

    fn node_pid(&self, i: u16) -> u32 {
        std::fs::read_to_string(self.state.path().join(format!("node-{i}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/cluster-down.sh"))
            .env("CLUSTER_STATE", self.state.path())
            .output();
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!("drop database if exists {}", self.database))
            .output();
    }
}

/// Node `url`'s `/metrics` page.
async fn metrics_page(http: &reqwest::Client, url: &str, admin: &str) -> String {
    let page = http
        .get(format!("{url}/metrics"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("geyser_instances_max"),
        "{url}/metrics: {page}"
    );
    page
}

/// Invocations of `tenant`'s functions that node `url` ran, from its `/metrics`.
async fn served(http: &reqwest::Client, url: &str, admin: &str, tenant: &str) -> f64 {
    metrics_page(http, url, admin)
        .await
        .lines()
        .filter(|l| {
            l.starts_with("geyser_function_invocations_total{")
                && l.contains(&format!("tenant=\"{tenant}\""))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

#[test]
fn three_nodes_behind_the_balancer_serve_and_survive_a_kill() {
    let cluster = Cluster::up(3);
    let runtime = client_runtime();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    runtime.block_on(async {
        let lb = &cluster.url;
        // Every node is ready and says why.
        for i in 1..=3 {
            let ready = get_json(
                &http,
                format!("{}/readyz", cluster.node_url(i)),
                &cluster.admin_key,
            )
            .await;
            assert_eq!(ready["ready"], true, "node {i}: {ready}");
        }
        let created: Value = http
            .post(format!("{lb}/v1/tenants"))
            .bearer_auth(&cluster.admin_key)
            .json(&json!({"name": "fleet"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = created["api_key"]
            .as_str()
            .expect("a tenant key")
            .to_owned();
        deploy(&http, lb, &key, "hello", "public=true", guest("example_hello")).await;

        // Through the balancer, every node answers for the function deployed through it.
        for _ in 0..30 {
            let reply = http
                .get(format!("{lb}/fn/fleet/hello/"))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
        }
        let mut counts = Vec::new();
        let mut compiles = 0.0;
        for i in 1..=3 {
            counts.push(served(&http, &cluster.node_url(i), &cluster.admin_key, "fleet").await);
            compiles += node_metric(
                &http,
                &cluster.node_url(i),
                &cluster.admin_key,
                "geyser_compiles_total",
            )
            .await;
        }
        // Compiled once, by the node it was deployed through; the others loaded that form.
        assert_eq!(compiles, 1.0, "compiles across the cluster");
        assert!(
            counts.iter().all(|n| *n >= 1.0),
            "the nodes served {counts:?} of 30"
        );

        // A rate quota holds across the cluster: each of the 3 nodes admits its third, once
        // every node has counted the others' heartbeats (within a second of their start).
        let counting = Instant::now();
        for i in 1..=3 {
            loop {
                let nodes = node_metric(
                    &http,
                    &cluster.node_url(i),
                    &cluster.admin_key,
                    "geyser_cluster_nodes",
                )
                .await;
                if nodes == 3.0 {
                    break;
                }
                assert!(
                    counting.elapsed() < Duration::from_secs(10),
                    "node {i} counts {nodes} nodes"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let set = http
            .put(format!("{lb}/v1/quotas?tenant=fleet"))
            .bearer_auth(&cluster.admin_key)
            .json(&json!({"rate_per_second": 20, "rate_burst": 20}))
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 200, "{}", set.text().await.unwrap());
        let started = Instant::now();
        let mut admitted = 0u64;
        let mut limited = 0u64;
        let calls: Vec<_> = (0..300)
            .map(|_| {
                let (http, url) = (http.clone(), format!("{lb}/fn/fleet/hello/"));
                tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
            })
            .collect();
        for call in calls {
            match call.await.unwrap() {
                200 => admitted += 1,
                429 => limited += 1,
                other => panic!("unexpected {other}"),
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        // The tenant's burst plus what its rate refills meanwhile (one node would admit a
        // third of that; three nodes each taking the whole quota, three times it).
        let allowed = 20.0 + 20.0 * elapsed;
        println!(
            "rate quota 20/s, burst 20, across 3 nodes: {admitted} of 300 admitted in {elapsed:.2} s (allowed {allowed:.0})"
        );
        assert_eq!(admitted + limited, 300);
        assert!(
            (admitted as f64) <= allowed + 3.0,
            "{admitted} admitted: the quota did not hold across the cluster (allowed {allowed:.0})"
        );
        assert!(admitted >= 15, "{admitted} admitted");
        let lifted = http
            .put(format!("{lb}/v1/quotas?tenant=fleet"))
            .bearer_auth(&cluster.admin_key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(lifted.status(), 200);
        // Lifted on every node (a notification away) before the load below counts failures.
        let mut in_a_row = 0;
        while in_a_row < 12 {
            let status = http.get(format!("{lb}/fn/fleet/hello/")).send().await.unwrap().status();
            in_a_row = if status == 200 { in_a_row + 1 } else { 0 };
            assert!(started.elapsed() < Duration::from_secs(30), "the quota was never lifted");
        }

        triggers_fire_once_across_the_cluster(&http, &cluster, &key).await;

        // Under load, node 1 is killed: only what it had in hand may fail.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (http, url) = (http.clone(), format!("{lb}/fn/fleet/hello/"));
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match http.get(&url).send().await {
                            Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        let started = Instant::now();
        while ok.load(Ordering::Relaxed) < 200 {
            assert!(started.elapsed() < Duration::from_secs(30), "no load");
            tokio::task::yield_now().await;
        }
        let killed = Command::new("kill")
            .args(["-9", &cluster.node_pid(1).to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let before = ok.load(Ordering::Relaxed);
        // The balancer takes it out within its checks (1 s × 2); go on well past that.
        while ok.load(Ordering::Relaxed) < before + 600 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the cluster stopped answering"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.await.unwrap();
        }
        let failed = failed.load(Ordering::Relaxed);
        println!(
            "kill -9 of a node under load: {failed} of {} requests failed",
            failed + ok.load(Ordering::Relaxed)
        );
        // The 4 in flight when it died (measured: 4), and at most one more per worker that
        // connected in the instant the kernel still accepted for the dying process.
        assert!(
            failed <= 8,
            "{failed} requests failed: more than were in flight"
        );
        // After that, every request succeeds on the two nodes left.
        for _ in 0..100 {
            let reply = http
                .get(format!("{lb}/fn/fleet/hello/"))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
        }
        let two = served(&http, &cluster.node_url(2), &cluster.admin_key, "fleet").await
            + served(&http, &cluster.node_url(3), &cluster.admin_key, "fleet").await;
        assert!(two >= 100.0, "{two}");
    });
}

/// What a node's `/metrics` says of `series` (a whole series, labels included), or 0.
async fn node_metric(http: &reqwest::Client, url: &str, admin: &str, series: &str) -> f64 {
    metrics_page(http, url, admin)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn put(http: &reqwest::Client, url: String, key: &str, body: Value) {
    let reply = http
        .put(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        reply.status().is_success(),
        "{}",
        reply.text().await.unwrap()
    );
}

/// 300 Kafka records over 3 partitions, consumed by the three nodes' group members, counted
/// exactly once; an every-second schedule fired once per tick although three nodes schedule.
async fn triggers_fire_once_across_the_cluster(
    http: &reqwest::Client,
    cluster: &Cluster,
    key: &str,
) {
    use geyser_test_support::kafka::{Record, create_topic, produce, producer};
    let lb = &cluster.url;
    let ready = get_json(http, format!("{}/readyz", cluster.node_url(1)), key).await;
    assert_eq!(
        ready["checks"]["kafka"], "ok",
        "the cluster runs without the broker (scripts/kafka-up.sh): {ready}"
    );
    for (name, component) in [
        ("counter", "example_event_counter"),
        ("tick", "geyser_fixture_ticker"),
    ] {
        deploy(http, lb, key, name, "public=true", guest(component)).await;
    }
    put(
        http,
        format!("{lb}/v1/functions/tick/triggers/cron"),
        key,
        json!({"name": "every-second", "expression": "* * * * * *"}),
    )
    .await;
    let topic = format!("fleet.clicks-{}", std::process::id());
    create_topic(&topic, 3).await;
    put(
        http,
        format!("{lb}/v1/functions/counter/triggers/kafka"),
        key,
        json!({"topic": topic, "start": "earliest"}),
    )
    .await;
    let records: Vec<Record> = (0..300)
        .map(|i| Record {
            key: Some(format!("k{}", i % 10)),
            payload: (i / 10).to_string(),
            ..Record::default()
        })
        .collect();
    produce(&producer(), &topic, &records).await;

    // Every record counted once: 30 per key, however the partitions are spread over the nodes.
    let started = Instant::now();
    let read_counts = || async {
        let mut counts = Vec::new();
        for k in 0..10 {
            let reply = http
                .get(format!("{lb}/fn/fleet/counter/counts/k{k}"))
                .send()
                .await
                .unwrap();
            counts.push(reply.text().await.unwrap().parse::<u64>().unwrap_or(0));
        }
        counts
    };
    let mut counts = read_counts().await;
    while counts.iter().sum::<u64>() < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "counted {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = read_counts().await;
    }
    assert_eq!(counts, vec![30; 10], "each record once");
    // A redelivery after the group's rebalances would show now as a count past 30.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counts = read_counts().await;
    assert_eq!(counts, vec![30; 10], "each record once");
    let mut consumers = 0;
    for i in 1..=3 {
        let processed = node_metric(
            http,
            &cluster.node_url(i),
            &cluster.admin_key,
            &format!("geyser_kafka_records_total{{tenant=\"fleet\",function=\"counter\",topic=\"{topic}\"}}"),
        )
        .await;
        consumers += usize::from(processed > 0.0);
    }
    println!(
        "300 Kafka records over 3 partitions: counted exactly once, consumed on {consumers} nodes"
    );

    // Each tick of the schedule fired once: the ticker logs `tick every-second TIME` per run,
    // and no scheduled time appears twice although three nodes run the schedule.
    let runs_url = format!("{lb}/v1/functions/tick/triggers/cron/every-second/runs");
    while get_json(http, runs_url.clone(), key)
        .await
        .as_array()
        .unwrap()
        .len()
        < 4
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the schedule does not fire"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let removed = http
        .delete(format!("{lb}/v1/functions/tick/triggers/cron/every-second"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success());
    // Once the last run has ended and been recorded, every cron invocation has its line.
    let (times, records) = loop {
        let lines = get_json(http, format!("{lb}/v1/functions/tick/logs?limit=1000"), key).await;
        let times: Vec<String> = lines
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| {
                l["message"]
                    .as_str()?
                    .strip_prefix("tick every-second ")
                    .map(str::to_owned)
            })
            .collect();
        let listed = get_json(
            http,
            format!("{lb}/v1/functions/tick/invocations?limit=1000"),
            key,
        )
        .await;
        let records = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["trigger"] == "cron")
            .count();
        if times.len() >= 4 && records == times.len() {
            break (times, records);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} lines, {records} records",
            times.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let distinct: std::collections::BTreeSet<&String> = times.iter().collect();
    assert_eq!(distinct.len(), times.len(), "a tick fired twice: {times:?}");
    println!("every-second schedule on 3 nodes: {records} ticks, each scheduled time once");
}
