//! Producer for bench/kafka.sh: creates a topic and writes COUNT small records to it (keys
//! `k0`..`k39`, payload = per-key sequence number), as fast as an idempotent producer can.
//!
//! Usage: kafka-load BROKERS TOPIC PARTITIONS COUNT [--existing]

use anyhow::{Context, Result, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (brokers, topic, partitions, count, existing) = match args.as_slice() {
        [_, b, t, p, c] => (b, t, p, c, false),
        [_, b, t, p, c, flag] if flag == "--existing" => (b, t, p, c, true),
        _ => bail!("usage: kafka-load BROKERS TOPIC PARTITIONS COUNT [--existing]"),
    };
    let partitions: i32 = partitions.parse().context("PARTITIONS")?;
    let count: usize = count.parse().context("COUNT")?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let created = admin
        .create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await?;
    for result in created {
        match result {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) if existing => {}
            Err((name, code)) => bail!("create topic {name}: {code}"),
        }
    }
    // One record per batch: tansu 0.6.0 answers a fetch at an offset inside a batch with the
    // *next* batch, so a consumer resuming mid-batch (after a pause or a restart) would skip the
    // rest of it. Apache Kafka does not; with one-record batches every offset starts a batch.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .create()?;
    let start = Instant::now();
    let mut pending: Vec<rdkafka::producer::DeliveryFuture> = Vec::with_capacity(10_000);
    for i in 0..count {
        let key = format!("k{}", i % 40);
        let payload = (i / 40).to_string();
        // Enqueue without waiting; on a full local queue, wait for what is in flight.
        let delivery = loop {
            match producer.send_result(FutureRecord::to(topic).key(&key).payload(&payload)) {
                Ok(delivery) => break delivery,
                Err((err, _)) if pending.is_empty() => return Err(err.into()),
                Err(_) => {
                    for delivery in pending.drain(..) {
                        delivery.await?.map_err(|(e, _)| e)?;
                    }
                }
            }
        };
        pending.push(delivery);
        if pending.len() == 10_000 {
            for delivery in pending.drain(..) {
                delivery.await?.map_err(|(e, _)| e)?;
            }
        }
    }
    for delivery in pending {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "produced {count} records in {elapsed:.2} s ({:.0} records/s)",
        count as f64 / elapsed
    );
    Ok(())
}
