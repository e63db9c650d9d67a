//! Event functions: `#[geyser_sdk::event] fn handle(event: Event) -> Result<(), String>`.
//! Returning `Err` (or trapping) makes the host retry the event, then park it in a dead-letter
//! topic; the event's `id` is stable across retries, so use it to stay idempotent.

use serde::de::DeserializeOwned;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable id, e.g. `topic/partition/offset`: the idempotency key.
    pub id: String,
    pub source: String,
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// 1 on first delivery.
    pub attempt: u32,
}

impl Event {
    /// The payload parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| format!("event {} payload is not the expected JSON: {e}", self.id))
    }

    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}
