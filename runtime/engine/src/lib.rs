//! The Geyser engine: everything between "this version of this function should run with this
//! input" and "it ended like this". Three lifetimes are explicit:
//!
//! - process: a wasmtime [`Engine`](wasmtime::Engine) (pooling allocator, epoch interruption,
//!   async) and a `Linker` for each way of initialising memory, copied or copy-on-write,
//!   chosen per component by its data size ([`engine`], [`memory_init`]);
//! - function version: validated and compiled at deploy, cached on disk by content hash,
//!   pre-instantiated while warm, evicted when idle ([`host`], [`resident`](crate::host));
//! - invocation: a fresh `Store` with its limiter and deadline ([`sandbox`]), dispatched by the
//!   [`Invoker`].
//!
//! The engine reaches the world only through traits: guests' kv through [`geyser_core::Kv`],
//! publishing through [`geyser_core::Publish`], component bytes through
//! [`geyser_core::ArtifactSource`]; admission (disabled tenants, budgets, quotas) and finish
//! observer (metrics, metering, OTLP together) are [`hooks`] the binary registers. Its `Cargo.toml`
//! has no sqlx, axum or rdkafka, so it cannot know them.
//!
//! ```no_run
//! use geyser_engine::{EngineConfig, Host};
//! # fn run() -> Result<(), geyser_engine::Error> {
//! let host = Host::new(&EngineConfig::default(), std::path::Path::new("/tmp/geyser-cache"))?;
//! assert_eq!(host.resident_count(), 0);
//! # Ok(())
//! # }
//! ```

mod artifact_cache;
pub mod capabilities;
pub mod compile;
mod compile_cache;
mod config;
mod cpu;
mod engine;
pub mod fair;
mod guest_body;
pub mod handlers;
pub mod hooks;
pub mod host;
pub mod invoke;
pub mod memory;
pub mod memory_init;
mod metrics;
pub mod outbound;
mod resident;
mod sandbox;

pub use compile::CompileRefusal;
pub use config::EngineConfig;
pub use guest_body::GuestBody;
pub use handlers::{Event, Tick};
pub use hooks::{Admission, AdmissionPermit, Finish, Observer, Refusal, RefusalReason};
pub use host::{ComponentError, Host, LoadError, PrepareError, release_freed_memory};
pub use invoke::{
    InvocationExtras, InvokeError, Invoked, Invoker, InvokerParts, InvokerSettings, describe,
};
pub use memory::{MemoryShortage, NodeMemory};
pub use memory_init::MemoryInit;
pub use outbound::{NodeOutbound, OutboundConfig, OutboundTotals};

/// Errors that stop the engine from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot set up the wasm engine: {0}")]
    Setup(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
