//! The idempotent producer behind `publish` and dead-lettering.

use crate::KafkaConnection;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;

/// A record to write.
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Writes records with `enable.idempotence`: retries never duplicate or reorder them.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    admin: std::sync::Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    pub fn new(
        connection: &KafkaConnection,
        timeout: Duration,
    ) -> Result<Publisher, rdkafka::error::KafkaError> {
        let producer: FutureProducer = connection
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()?;
        let admin: AdminClient<DefaultClientContext> = connection.client_config().create()?;
        Ok(Publisher {
            producer,
            admin: std::sync::Arc::new(admin),
            timeout,
        })
    }

    /// Writes one record and waits for the broker's acknowledgement: `(partition, offset)`.
    pub async fn send(&self, record: Outgoing<'_>) -> Result<(i32, i64), String> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_slice()),
            });
        }
        let mut future = FutureRecord::<[u8], [u8]>::to(record.topic)
            .payload(record.payload)
            .headers(headers);
        if let Some(key) = record.key {
            future = future.key(key);
        }
        match self.producer.send(future, self.timeout).await {
            Ok(delivery) => Ok((delivery.partition, delivery.offset)),
            Err((err, _)) => Err(format!("publishing to {:?} failed: {err}", record.topic)),
        }
    }

    /// Whether a broker answers a metadata request within 1.5 s (readiness waits 2 s).
    pub async fn reachable(&self) -> Result<(), String> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_millis(1500))
                .map(|_| ())
                .map_err(|e| format!("Kafka brokers unreachable: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Creates `topic` with `partitions` unless it exists.
    pub async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), String> {
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let results = self
            .admin
            .create_topics([&new], &options)
            .await
            .map_err(|e| format!("cannot create topic {topic:?}: {e}"))?;
        for result in results {
            match result {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(format!("cannot create topic {name:?}: {code}")),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl geyser_core::Publish for Publisher {
    async fn publish(&self, record: geyser_core::OutgoingRecord<'_>) -> Result<(), String> {
        self.send(Outgoing {
            topic: record.topic,
            key: record.key,
            payload: record.payload,
            headers: vec![("traceparent".into(), record.traceparent.as_bytes().to_vec())],
        })
        .await
        .map(|_| ())
    }
}
