//! Asynchronous invocation: what a call accepted with 202 becomes (its kind, its status as it
//! moves through the queue) and a function's asynchronous settings (attempts, maximum age,
//! destinations for the end of an invocation).

use crate::{FunctionName, TenantName, topics};
use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// Where an asynchronous invocation is: waiting (first time or for a retry), taken by a
    /// node's worker, or ended — with the guest's answer, after its last failed attempt, or
    /// because it grew older than its function's `max_age_ms` before it could run.
    pub enum QueuedStatus ("async status") {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Expired = "expired",
    }
}

impl QueuedStatus {
    /// Whether it has ended (it will never run again).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            QueuedStatus::Succeeded | QueuedStatus::Failed | QueuedStatus::Expired
        )
    }
}

crate::text_enum! {
    /// What an asynchronous invocation runs: an HTTP request through the gateway, or an event
    /// (a manual delivery, or a destination's event).
    pub enum QueuedKind ("async kind") {
        Http = "http",
        Event = "event",
    }
}

/// Where an ended asynchronous invocation is reported: a record to a topic of the tenant's
/// namespace, or an event to another function of the tenant. JSON: `{"topic": "acme.failures"}`
/// or `{"function": "on-failure"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    Topic(String),
    Function(FunctionName),
}

/// A function's asynchronous settings (`PUT /v1/functions/{name}/async`); a field left out is
/// the node's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedSettings {
    /// Attempts before an invocation fails (1–10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// An invocation that could not run (or be retried) within this many milliseconds of its
    /// acceptance expires (at most 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
    /// Where a failed or expired invocation is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Destination>,
    /// Where a succeeded invocation is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<Destination>,
}

/// Why [`QueuedSettings::check`] refused settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidQueuedSettings {
    #[error("{0}")]
    Invalid(String),
    /// A destination topic outside the tenant's namespace (403).
    #[error("{0}")]
    Forbidden(String),
}

/// Bounds of [`QueuedSettings`].
pub const MAX_ASYNC_ATTEMPTS: u32 = 10;
pub const MAX_ASYNC_AGE_MS: u64 = 24 * 3_600_000;

impl QueuedSettings {
    /// Checks the bounds and that every destination belongs to `tenant`; `function` may not be
    /// its own destination (a failure would report to itself for ever).
    pub fn check(
        &self,
        tenant: &TenantName,
        function: &FunctionName,
    ) -> Result<(), InvalidQueuedSettings> {
        if let Some(n) = self.max_attempts
            && !(1..=MAX_ASYNC_ATTEMPTS).contains(&n)
        {
            return Err(InvalidQueuedSettings::Invalid(format!(
                "max_attempts must be 1..={MAX_ASYNC_ATTEMPTS}, not {n}"
            )));
        }
        if let Some(ms) = self.max_age_ms
            && !(1..=MAX_ASYNC_AGE_MS).contains(&ms)
        {
            return Err(InvalidQueuedSettings::Invalid(format!(
                "max_age_ms must be 1..={MAX_ASYNC_AGE_MS}, not {ms}"
            )));
        }
        for destination in [&self.on_failure, &self.on_success].into_iter().flatten() {
            match destination {
                Destination::Topic(topic) => topics::check_owned(tenant, topic)
                    .map_err(|e| InvalidQueuedSettings::Forbidden(e.to_string()))?,
                Destination::Function(name) if name == function => {
                    return Err(InvalidQueuedSettings::Invalid(format!(
                        "{function} cannot be its own destination"
                    )));
                }
                Destination::Function(_) => {}
            }
        }
        Ok(())
    }
}

/// What an asynchronous invocation runs, besides its body (stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum QueuedRequest {
    /// An HTTP call as the guest sees it: the path below the function's mount and the headers
    /// the gateway passes (the owner's key already replaced by `x-geyser-owner`).
    Http {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
    },
    /// An event: a manual delivery, or the report of another invocation's end
    /// (`source: "destination"`, which itself reports nowhere).
    Event {
        source: String,
        topic: String,
        key: Option<String>,
        headers: Vec<(String, String)>,
    },
}

impl QueuedRequest {
    pub fn kind(&self) -> QueuedKind {
        match self {
            QueuedRequest::Http { .. } => QueuedKind::Http,
            QueuedRequest::Event { .. } => QueuedKind::Event,
        }
    }

    /// Whether its end is reported to the function's destinations (a destination's own event
    /// is not, so two functions that report to each other cannot loop).
    pub fn reports(&self) -> bool {
        !matches!(self, QueuedRequest::Event { source, .. } if source == DESTINATION_SOURCE)
    }
}

/// The `source` of an event that reports another invocation's end.
pub const DESTINATION_SOURCE: &str = "destination";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_bounded_and_destinations_stay_in_the_tenant() {
        let tenant = TenantName::parse("acme").unwrap();
        let function = FunctionName::parse("orders").unwrap();
        let parse = |json: &str| serde_json::from_str::<QueuedSettings>(json).unwrap();
        assert!(
            parse(r#"{"max_attempts": 3, "on_failure": {"topic": "acme.dlq"}}"#)
                .check(&tenant, &function)
                .is_ok()
        );
        assert!(
            parse(r#"{"on_success": {"function": "audit"}}"#)
                .check(&tenant, &function)
                .is_ok()
        );
        assert!(matches!(
            parse(r#"{"on_failure": {"topic": "globex.dlq"}}"#).check(&tenant, &function),
            Err(InvalidQueuedSettings::Forbidden(_))
        ));
        for bad in [
            r#"{"max_attempts": 0}"#,
            r#"{"max_attempts": 11}"#,
            r#"{"max_age_ms": 0}"#,
            r#"{"on_failure": {"function": "orders"}}"#,
        ] {
            assert!(
                matches!(
                    parse(bad).check(&tenant, &function),
                    Err(InvalidQueuedSettings::Invalid(_))
                ),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<QueuedSettings>(r#"{"retries": 3}"#).is_err());
        assert!(
            serde_json::from_str::<QueuedSettings>(r#"{"on_failure": {"queue": "x"}}"#).is_err()
        );
    }
}
