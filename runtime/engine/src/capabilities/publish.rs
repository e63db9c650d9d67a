//! `geyser:function/publish`: writes a record to a topic in the tenant's namespace through the
//! node's event bus ([`geyser_core::Publish`]), carrying the invocation's `traceparent`.
//! Without one the call fails with a clear error rather than dropping the record.

use super::Capabilities;
use super::wit::publish::Host;
use geyser_core::{OutgoingRecord, Publish, TenantName, topics};
use std::sync::Arc;

/// What publishing needs besides the record: where to, in whose namespace, in which trace.
#[derive(Clone)]
pub struct PublishContext {
    pub bus: Arc<dyn Publish>,
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
            .bus
            .publish(OutgoingRecord {
                topic: &full,
                key: key.as_deref(),
                payload: &payload,
                traceparent: &context.traceparent,
            })
            .await
    }
}
