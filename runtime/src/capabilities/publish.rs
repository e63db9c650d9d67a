//! `geyser:function/publish`: writes a record to a topic in the tenant's namespace through the
//! node's idempotent producer, carrying the invocation's `traceparent`. Without Kafka the call
//! fails with a clear error rather than dropping the record.

use super::Capabilities;
use super::wit::publish::Host;
use crate::kafka::{Outgoing, Publisher, topics};
use geyser_functions::TenantName;

/// What publishing needs besides the record: where to, in whose namespace, in which trace.
#[derive(Clone, Debug)]
pub struct PublishContext {
    pub publisher: Publisher,
    pub tenant: TenantName,
    pub traceparent: String,
}

impl Host for Capabilities {
    async fn publish(
        &mut self,
        topic: String,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        let Some(context) = &self.publish else {
            return Err(format!(
                "cannot publish to {topic:?}: no event bus is configured on this node (start geyser serve with --kafka-brokers)"
            ));
        };
        let full = topics::qualify(&context.tenant, &topic).map_err(|e| e.to_string())?;
        context
            .publisher
            .send(Outgoing {
                topic: &full,
                key: key.as_deref(),
                payload: &payload,
                headers: vec![(
                    "traceparent".into(),
                    context.traceparent.clone().into_bytes(),
                )],
            })
            .await
            .map(|_| ())
    }
}
