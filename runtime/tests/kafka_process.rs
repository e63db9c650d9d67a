//! The Kafka trigger across real `geyser serve` processes and a real broker
//! (`scripts/kafka-up.sh`): a node killed with SIGKILL mid-stream and restarted on its data
//! neither loses nor repeats a record, and two nodes in one consumer group split the
//! partitions while the count stays exact.

mod common;

use common::*;
use geyser_test_support::guest_path;
use geyser_test_support::kafka::{Record, create_topic, kafka_brokers, produce, producer};
use std::time::{Duration, Instant};

const KEYS: usize = 40;
const RECORDS: usize = 10_000;

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: Some(format!("k{}", i % KEYS)),
            payload: (i / KEYS).to_string(),
            ..Record::default()
        })
        .collect()
}

fn series(name: &str, tenant: &str, topic: &str) -> String {
    format!("{name}{{tenant=\"{tenant}\",function=\"counter\",topic=\"{topic}\"}}")
}

/// Sum of the counter's per-key counts, and whether any key saw its records out of order.
async fn counted(node: &Node, tenant: &str) -> (u64, u64) {
    let client = reqwest::Client::new();
    let (mut total, mut disorder) = (0, 0);
    for key in 0..KEYS {
        for (path, sum) in [("counts", &mut total), ("disorder", &mut disorder)] {
            let text = client
                .get(format!("{}/fn/{tenant}/counter/{path}/k{key}", node.url))
                .send()
                .await
                .expect("counter answers")
                .text()
                .await
                .expect("body");
            *sum += text
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{path}: {text}"));
        }
    }
    (total, disorder)
}

/// The count reached 10,000 and the consumers have nothing left: then it must be exactly
/// 10,000 (a repeated record would have pushed it past).
async fn assert_exact_count(nodes: &[&Node], admin: &str, tenant: &str, topic: &str, n: usize) {
    wait_until("all records counted", Duration::from_secs(240), || async {
        counted(nodes[0], tenant).await.0 >= n as u64
    })
    .await;
    let lag = series("geyser_kafka_consumer_lag", tenant, topic);
    for node in nodes {
        wait_until("lag drained", Duration::from_secs(30), || async {
            metric(node, admin, &lag).await == Some(0.0)
        })
        .await;
    }
    assert_eq!(counted(nodes[0], tenant).await, (n as u64, 0));
}

fn deploy_and_bind(node: &Node, key: &str, topic: &str) {
    let counter = guest_path("example_event_counter");
    stdout(&geyser(
        node,
        key,
        &["deploy", "counter", counter.to_str().unwrap()],
    ));
    let bound = stdout(&geyser(
        node,
        key,
        &["trigger", "kafka", "counter", topic, "--start", "earliest"],
    ));
    assert!(bound.contains(&format!("{topic}.dlq")), "{bound}");
}

/// One node on SQLite with Kafka, a tenant, a 3-partition topic holding `n` records, and the
/// counter bound to it; `restart` starts a node on the same data directory.
struct Stream {
    dir: tempfile::TempDir,
    admin: String,
    brokers: String,
    tenant: String,
    topic: String,
}

impl Stream {
    async fn start(prefix: &str, n: usize) -> (Stream, Node) {
        let tenant = format!("{prefix}-{:08x}", rand::random::<u32>());
        let stream = Stream {
            dir: tempfile::tempdir().unwrap(),
            admin: format!("admin-{:016x}", rand::random::<u64>()),
            brokers: kafka_brokers(),
            topic: format!("{tenant}.clicks"),
            tenant,
        };
        let node = stream.restart();
        let key = create_tenant(&node, &stream.admin, &stream.tenant);
        create_topic(&stream.topic, 3).await;
        produce(&producer(), &stream.topic, &records(n)).await;
        deploy_and_bind(&node, &key, &stream.topic);
        (stream, node)
    }

    fn restart(&self) -> Node {
        start(
            self.dir.path(),
            &["--kafka-brokers", &self.brokers],
            Some(&self.admin),
        )
    }

    /// Waits until `node` processed at least `n` records of the stream.
    async fn processed_at_least(&self, node: &Node, n: f64) {
        let processed = series("geyser_kafka_records_total", &self.tenant, &self.topic);
        wait_until("records processed", Duration::from_secs(120), || async {
            metric(node, &self.admin, &processed).await.unwrap_or(0.0) >= n
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_and_restarted_counts_every_record_once() {
    let (stream, mut node) = Stream::start("crash", RECORDS).await;
    stream.processed_at_least(&node, 2_500.0).await;
    node.child.kill().expect("SIGKILL");
    node.child.wait().expect("reap");

    let node = stream.restart();
    assert_exact_count(
        &[&node],
        &stream.admin,
        &stream.tenant,
        &stream.topic,
        RECORDS,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_in_one_group_split_the_partitions_and_count_exactly() {
    let database = geyser_test_support::fresh_postgres_database().await;
    let brokers = kafka_brokers();
    let admin = format!("admin-{:016x}", rand::random::<u64>());
    let args = [
        "--kafka-brokers",
        brokers.as_str(),
        "--database-url",
        database.as_str(),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(dir_a.path(), &args, Some(&admin));
    let b = start(dir_b.path(), &args, Some(&admin));
    let tenant = format!("split-{:08x}", rand::random::<u32>());
    let key = create_tenant(&a, &admin, &tenant);
    let topic = format!("{tenant}.clicks");
    create_topic(&topic, 3).await;
    deploy_and_bind(&a, &key, &topic);

    // Both nodes run the binding's consumer and the group has split the three partitions.
    let assigned = series("geyser_kafka_assigned_partitions", &tenant, &topic);
    wait_until(
        "the group split the partitions",
        Duration::from_secs(60),
        || async {
            let (x, y) = (
                metric(&a, &admin, &assigned).await.unwrap_or(0.0),
                metric(&b, &admin, &assigned).await.unwrap_or(0.0),
            );
            x >= 1.0 && y >= 1.0 && x + y == 3.0
        },
    )
    .await;
    produce(&producer(), &topic, &records(RECORDS)).await;
    assert_exact_count(&[&a, &b], &admin, &tenant, &topic, RECORDS).await;
    let processed = series("geyser_kafka_records_total", &tenant, &topic);
    let (x, y) = (
        metric(&a, &admin, &processed).await.unwrap(),
        metric(&b, &admin, &processed).await.unwrap(),
    );
    assert!(
        x > 0.0 && y > 0.0,
        "both nodes processed records: {x} and {y}"
    );
    assert_eq!(
        x + y,
        RECORDS as f64,
        "each record processed by exactly one node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_exits_cleanly_and_a_restart_resumes_exactly() {
    const N: usize = 4_000;
    let (stream, mut node) = Stream::start("term", N).await;
    stream.processed_at_least(&node, 500.0).await;
    let stopping = Instant::now();
    let status = node.terminate();
    assert!(status.success(), "geyser serve exited with {status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "stopping took {:?}",
        stopping.elapsed()
    );
    let node = stream.restart();
    assert_exact_count(&[&node], &stream.admin, &stream.tenant, &stream.topic, N).await;
}
