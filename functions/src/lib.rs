//! Everything about a deployed function and its owner: tenants, API keys, functions, versions,
//! content-addressed artifacts and invocation records, kept in one sqlx store (SQLite by default,
//! PostgreSQL for several nodes). The same queries and migrations serve both dialects.

mod artifacts;
mod budgets;
mod catalog;
mod ids;
mod kafka;
mod keys;
mod kv;
pub mod latency;
mod logs;
mod names;
mod quotas;
mod schedules;
mod store;
mod tenants;
mod usage;

pub use artifacts::{ArtifactHash, ArtifactSource};
pub use budgets::{Budget, BudgetPolicy};
pub use catalog::{
    ActiveFunction, DeployRequest, Deployed, FunctionInfo, FunctionKind, FunctionLimits, Handlers,
    VersionInfo,
};
pub use ids::{FunctionId, InvocationId, KeyId, TenantId, Version};
pub use kafka::{BindingId, KafkaBinding, NewKafkaBinding, StartFrom};
pub use keys::{ApiKey, ApiKeyHash, PREFIX as KEY_PREFIX};
pub use kv::{KvError, KvTransaction, MAX_KEY_BYTES, MAX_VALUE_BYTES};
pub use logs::LogLine;
pub use names::{FunctionName, InvalidName, TenantName};
pub use quotas::QuotaOverrides;
pub use schedules::{CronBinding, CronRun, NewCronBinding, ScheduleId};
pub use store::{Backend, Store};
pub use tenants::{CreatedKey, CreatedTenant, KeyInfo, KeyLookup, MAX_KEY_NAME_CHARS, Tenant};
pub use usage::{
    FunctionUsage, HOUR_MS, InvocationRecord, LatencyRow, Outcome, RollupRow, TriggerKind,
    UsageFigures, UsageReport, hour_of,
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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
