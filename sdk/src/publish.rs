//! Publishing events to a topic (delivered once the host has an event bus configured).

use crate::bindings::geyser::function::publish as host;

/// Publishes `payload` to `topic`, optionally keyed (records with one key keep their order).
pub fn publish(topic: &str, key: Option<&[u8]>, payload: &[u8]) -> Result<(), String> {
    host::publish(topic, key, payload)
}
