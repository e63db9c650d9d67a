//! `geyser:function/publish`. Delivery to topics arrives with the Kafka trigger; until then a
//! publish is refused with a clear error rather than silently dropped.

use super::Capabilities;
use super::wit::publish::Host;

impl Host for Capabilities {
    async fn publish(
        &mut self,
        topic: String,
        _key: Option<Vec<u8>>,
        _payload: Vec<u8>,
    ) -> Result<(), String> {
        Err(format!(
            "cannot publish to {topic:?}: no event bus is configured on this node"
        ))
    }
}
