//! `Publish`: the event bus as the engine sees it. The Kafka producer implements it; a node
//! without Kafka gives guests none, and `publish` fails with a clear message.

/// One record to publish, already qualified with its tenant's namespace.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRecord<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    /// The invocation's `traceparent`, carried as a record header.
    pub traceparent: &'a str,
}

#[async_trait::async_trait]
pub trait Publish: Send + Sync {
    /// Publishes one record; the error is what the guest is told.
    async fn publish(&self, record: OutgoingRecord<'_>) -> Result<(), String>;
}

/// What the management API may ask of the node's event bus without knowing its protocol.
#[async_trait::async_trait]
pub trait EventBusControl: Send + Sync {
    /// Creates `topic` with `partitions` if it does not exist yet.
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), String>;
    /// A topic binding changed through this node: reconcile the consumers now.
    fn bindings_changed(&self);
    /// Whether the brokers answer now (for readiness); the error says why not.
    async fn reachable(&self) -> Result<(), String>;
}
