//! Geyser's shared vocabulary, free of any database, wasm engine or protocol: typed ids and
//! validated names, what a function is (owner, handlers, limits, active version), what an
//! invocation leaves (outcome, record, log lines), W3C trace context, tenant topic namespaces,
//! a generation-checked TTL cache, and the capability traits the engine calls — [`Kv`],
//! [`Publish`], [`ArtifactSource`] — which the store and the triggers implement.
//!
//! Every other host crate depends on this one; it depends on none of them.

mod artifact;
pub mod backoff;
mod function;
mod function_config;
mod ids;
pub mod kv;
mod names;
pub mod prom;
pub mod publish;
mod queued;
mod quotas;
mod record;
mod release;
mod schedule;
mod text_enum;
pub mod topics;
pub mod trace;
pub mod ttl;

pub use artifact::{ArtifactHash, ArtifactSource, SourceError};
pub use function::{ActiveFunction, FunctionKind, FunctionLimits, Handlers, Tenant};
pub use function_config::{
    ConfigName, FunctionConfig, InvalidConfig, MAX_CONFIG_ENTRIES, MAX_CONFIG_VALUE_BYTES,
    MAX_OUTBOUND_HOSTS, OutboundHost, OutboundScheme, SealedSecret, SecretBox, SecretError,
    SecretValue, check_value,
};
pub use ids::{FunctionId, InvocationId, KeyId, TenantId, Version};
pub use kv::Kv;
pub use names::{FunctionName, InvalidName, TenantName};
pub use prom::MetricFamilies;
pub use publish::{EventBusControl, OutgoingRecord, Publish};
pub use queued::{
    DESTINATION_SOURCE, Destination, InvalidQueuedSettings, MAX_ASYNC_AGE_MS, MAX_ASYNC_ATTEMPTS,
    QueuedKind, QueuedRequest, QueuedSettings, QueuedStatus,
};
pub use quotas::{QuotaOverrides, Quotas};
pub use record::{HOUR_MS, InvocationRecord, LogLine, Outcome, TriggerKind, hour_of};
pub use release::{
    AliasEventKind, AliasName, AliasSpec, Arm, Canary, CanaryRoute, InvalidAlias, LIVE, RollbackOn,
    Route, Selector, sticky_draw,
};
pub use schedule::{MissedTicks, Overlap};
pub use trace::TraceContext;
pub use ttl::{Generation, Lookup, TtlCache};

/// A stored text that names no known value (an outcome, a trigger, a handler kind, an id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownValue(pub String);

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
