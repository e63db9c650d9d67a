//! The store: Geyser's only crate that speaks SQL. Tenants, API keys, functions, versions,
//! content-addressed artifacts, invocation records and rollups, budgets, quota overrides, the
//! per-tenant kv, log lines, cron and Kafka bindings — kept in one sqlx database (SQLite by
//! default, PostgreSQL for several nodes). The same queries serve both dialects; each dialect
//! has its own migration set (`migrations/sqlite`, `migrations/postgres`), kept equal up to the
//! dialect's spelling by a test.
//!
//! (The crate keeps its first name, `geyser-functions`; what it is, is the store.) Its domain
//! types come from `geyser-core` and are re-exported here.

mod artifacts;
mod budgets;
mod catalog;
mod changes;
mod kafka;
mod keys;
mod kv;
mod kv_buffer;
pub mod latency;
mod logs;
mod nodes;
mod queued;
mod quotas;
mod releases;
mod routes;
mod schedules;
mod secrets;
mod store;
mod tenants;
mod usage;

pub use budgets::{Budget, BudgetPolicy};
pub use catalog::{DeployRequest, Deployed, FunctionInfo, VersionInfo};
pub use changes::{CHANNEL as CHANGES_CHANNEL, Change, ChangeListener};
pub use geyser_core::{
    ActiveFunction, AliasName, AliasSpec, ArtifactHash, ArtifactSource, ConfigName, FunctionConfig,
    FunctionId, FunctionKind, FunctionLimits, FunctionName, HOUR_MS, Handlers, InvalidName,
    InvocationId, InvocationRecord, KeyId, LogLine, MissedTicks, Outcome, Overlap, QueuedRequest,
    QueuedSettings, QueuedStatus, QuotaOverrides, Quotas, Route, Selector, Tenant, TenantId,
    TenantName, TriggerKind, UnknownValue, Version, hour_of, now_ms,
};
pub use kafka::{BindingId, KafkaBinding, NewKafkaBinding, StartFrom};
pub use keys::{ApiKey, ApiKeyHash, PREFIX as KEY_PREFIX};
pub use kv::{KvError, KvTransaction, MAX_KEY_BYTES, MAX_VALUE_BYTES, SharedKvTransaction};
pub use logs::{LogQuery, StoredLogLine};
pub use queued::{
    AttemptResult, Claimed, NewQueued, PendingReport, QueueDepth, Queued, QueuedEnd, Report,
};
pub use releases::{AliasEvent, AliasInfo};
pub use routes::RouteCache;
pub use schedules::{CronBinding, CronClaim, CronRun, NewCronBinding, ScheduleId};
pub use store::{Backend, Store};
pub use tenants::{CreatedKey, CreatedTenant, KeyInfo, KeyLookup, MAX_KEY_NAME_CHARS};
pub use usage::{
    FunctionUsage, LatencyRow, RollupRow, UsageFigures, UsageReport, VersionRollupRow,
};

/// Errors of the function store. Variants carry the typed ids they concern.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tenant name {0:?} is already taken")]
    TenantExists(TenantName),
    #[error("unknown tenant {0:?}")]
    UnknownTenant(TenantName),
    #[error("function {name:?} not found")]
    UnknownFunction {
        tenant: TenantId,
        name: FunctionName,
    },
    #[error("function {name:?} has no version {version}")]
    UnknownVersion {
        tenant: TenantId,
        name: FunctionName,
        version: Version,
    },
    #[error("function {name:?} has no alias {alias:?}")]
    UnknownAlias {
        tenant: TenantId,
        name: FunctionName,
        alias: geyser_core::AliasName,
    },
    /// An alias setting that breaks a rule (the text names the field); nothing changed.
    #[error(transparent)]
    InvalidAlias(#[from] geyser_core::InvalidAlias),
    #[error("API key {} not found", .0.0)]
    UnknownKey(KeyId),
    #[error("artifact {0} not found")]
    UnknownArtifact(ArtifactHash),
    #[error("concurrent change to function {0:?}, retry")]
    Conflict(FunctionName),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    /// A batch's event wrote so much that its writes went to the database before it ended:
    /// undoing it alone is impossible, the batch's transaction must roll back.
    #[error("the event's writes were already written out; its batch must roll back")]
    EventWrittenOut,
    /// Writing a transaction's buffered writes failed part way; it rolls back instead.
    #[error("an earlier write of this transaction failed; it cannot commit")]
    WriteFailed,
    /// An optimistic batch found, at its commit, that something it read had changed since:
    /// nothing committed, the batch runs again.
    #[error("another writer changed what this batch read; it did not commit")]
    ReadsChanged,
    /// A configuration change that breaks a rule (the text names the field); nothing changed.
    #[error(transparent)]
    InvalidConfig(#[from] geyser_core::InvalidConfig),
}

/// A stored text parsed into `T` (a name, an id, a text enum); a value that does not parse is
/// [`Error::Corrupt`], never a silent default.
pub(crate) fn stored<T>(text: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| Error::Corrupt(format!("{e} in {text:?}")))
}

impl From<UnknownValue> for Error {
    fn from(err: UnknownValue) -> Self {
        Error::Corrupt(err.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
