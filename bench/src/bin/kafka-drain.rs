//! A bare consumer for bench/kafka.sh: reads COUNT records of TOPIC from the earliest offset in
//! a consumer group of its own, with the settings Geyser's binding consumers use (offsets stored
//! by hand after each record, auto commit, the same prefetch cap), and does nothing with them.
//! What it reaches is the broker's and librdkafka's limit on this machine, the ceiling of a
//! Kafka trigger's drain.
//!
//! Usage: kafka-drain BROKERS TOPIC COUNT

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, count] = args.as_slice() else {
        bail!("usage: kafka-drain BROKERS TOPIC COUNT");
    };
    let count: u64 = count.parse().context("COUNT")?;
    let group = format!("bench.drain.{}", std::process::id());
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", "4096")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut seen = 0u64;
    let mut started = None;
    while seen < count {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .context("no record for 60 s")??;
        started.get_or_insert_with(Instant::now);
        consumer.store_offset(message.topic(), message.partition(), message.offset())?;
        seen += 1;
    }
    let elapsed = started
        .map_or(Duration::ZERO, |s| s.elapsed())
        .as_secs_f64();
    println!(
        "{seen} records in {elapsed:.2} s = {:.0} records/s (from the first record received)",
        seen as f64 / elapsed.max(1e-9)
    );
    Ok(())
}
