//! A real Kafka-protocol broker for tests (`scripts/kafka-up.sh` starts one): topic creation,
//! producing, and reading a topic back, with the rdkafka client.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use std::time::{Duration, Instant};

/// The broker the tests use: `GEYSER_TEST_KAFKA`, default `127.0.0.1:9092`.
pub fn kafka_brokers() -> String {
    std::env::var("GEYSER_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Creates `topic` with `partitions` (it must not exist yet, or already have them).
pub async fn create_topic(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap_or_else(|e| {
            panic!("create topic {topic} (is the broker up? scripts/kafka-up.sh): {e}")
        });
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => panic!("create topic {name}: {code}"),
        }
    }
}

/// An idempotent producer for the test's records. One record per batch: tansu 0.6.0 answers a
/// fetch at an offset inside a batch with the next batch, so a consumer resuming mid-batch
/// (after a pause or a restart) would lose the rest of that batch to the broker, not to Geyser.
pub fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .set("enable.idempotence", "true")
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

/// One record to produce: key, payload, headers; an explicit partition when `Some`.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub key: Option<String>,
    pub payload: String,
    pub partition: Option<i32>,
    pub headers: Vec<(String, String)>,
}

/// Produces the records one after another, each acknowledged before the next is sent (so in
/// order, and one record per batch).
pub async fn produce(producer: &FutureProducer, topic: &str, records: &[Record]) {
    for record in records {
        let mut headers = OwnedHeaders::new();
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            });
        }
        let mut future = FutureRecord::<str, str>::to(topic)
            .payload(&record.payload)
            .headers(headers);
        if let Some(key) = &record.key {
            future = future.key(key);
        }
        if let Some(partition) = record.partition {
            future = future.partition(partition);
        }
        if let Err((err, _)) = producer.send(future, Duration::from_secs(30)).await {
            panic!("produce to {topic}: {err}");
        }
    }
}

/// Reads `topic` from the beginning until `count` records arrived (or panics after `within`).
pub async fn read_topic(topic: &str, count: usize, within: Duration) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .set(
            "group.id",
            format!("test-reader-{:016x}", rand::random::<u64>()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + within;
    let mut records = Vec::new();
    while records.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "read {} of {count} records from {topic} in {within:?}",
            records.len()
        );
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(message)) => records.push(message.detach()),
            Ok(Err(err)) => panic!("read {topic}: {err}"),
            Err(_) => {}
        }
    }
    records
}

/// The payload of a record, as text.
pub fn payload(record: &OwnedMessage) -> String {
    use rdkafka::Message;
    String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned()
}

/// The value of header `name` of a record, as text.
pub fn header(record: &OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    record.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}
