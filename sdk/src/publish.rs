//! Publishing events to a topic in the tenant's namespace (`report-ready` is written to
//! `<tenant>.report-ready`; the node needs Kafka configured, otherwise publish returns an error).

use crate::bindings::geyser::function::publish as host;

/// Publishes `payload` to `topic`, optionally keyed (records with one key keep their order).
pub fn publish(topic: &str, key: Option<&[u8]>, payload: &[u8]) -> Result<(), String> {
    host::publish(topic, key, payload)
}
