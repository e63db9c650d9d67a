//! What a deployed function is to everything that runs it: its owner, its handlers, its
//! limits, and the version that answers now.

use crate::{
    ArtifactHash, FunctionConfig, FunctionId, FunctionName, TenantId, TenantName, UnknownValue,
    Version,
};
use std::sync::Arc;

/// A tenant as the rest of the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: TenantName,
    /// Disabled by the admin: its functions do not answer and its keys are refused; its data
    /// stays.
    pub disabled: bool,
}

/// Per-version limits and visibility. Kept per version so a rollback restores them too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionLimits {
    pub memory_mb: u32,
    pub timeout_ms: u64,
    /// CPU time one invocation may use (`None`: only the wall-clock timeout); past it the
    /// guest traps with `cpu-limit`.
    pub cpu_limit_ms: Option<u64>,
    /// Public functions may be invoked without a key; private ones need the owner's key.
    pub public: bool,
}

crate::text_enum! {
    /// Which handler a component exports, found when it is compiled at deploy.
    pub enum FunctionKind ("function kind") {
        /// `wasi:http/incoming-handler`: invoked at `/fn/{tenant}/{function}`.
        Http = "http",
        /// `geyser:function/event-handler`: invoked with events.
        Event = "event",
        /// `geyser:function/schedule-handler`: invoked with ticks.
        Schedule = "schedule",
    }
}

/// The set of handlers a component exports; a component may export several (an HTTP handler
/// next to an event handler, say). Stored as a comma-separated list such as `http,event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Handlers {
    pub http: bool,
    pub event: bool,
    pub schedule: bool,
}

impl Handlers {
    pub fn insert(&mut self, kind: FunctionKind) {
        match kind {
            FunctionKind::Http => self.http = true,
            FunctionKind::Event => self.event = true,
            FunctionKind::Schedule => self.schedule = true,
        }
    }

    pub fn contains(self, kind: FunctionKind) -> bool {
        match kind {
            FunctionKind::Http => self.http,
            FunctionKind::Event => self.event,
            FunctionKind::Schedule => self.schedule,
        }
    }

    pub fn is_empty(self) -> bool {
        !(self.http || self.event || self.schedule)
    }

    /// The kinds in a fixed order: http, event, schedule.
    pub fn kinds(self) -> impl Iterator<Item = FunctionKind> {
        [
            FunctionKind::Http,
            FunctionKind::Event,
            FunctionKind::Schedule,
        ]
        .into_iter()
        .filter(move |kind| self.contains(*kind))
    }

    /// `http`, `event`, `http,event`, ...
    pub fn to_text(self) -> String {
        self.kinds()
            .map(FunctionKind::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        let mut handlers = Handlers::default();
        for part in s.split(',') {
            handlers.insert(part.parse::<FunctionKind>()?);
        }
        Ok(handlers)
    }
}

/// The active version of a function, resolved for an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFunction {
    pub tenant: Tenant,
    pub function: FunctionId,
    pub name: FunctionName,
    pub version: Version,
    pub hash: ArtifactHash,
    pub kind: Handlers,
    pub limits: FunctionLimits,
    /// Variables, sealed secrets and allowed outbound hosts of this version.
    pub config: Arc<FunctionConfig>,
}
