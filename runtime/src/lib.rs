//! The Geyser node, wired: [`server::serve`] opens the store, builds the engine with the node's
//! admission policy and finish observer, starts the triggers (cron, Kafka) and serves the HTTP
//! edge until shutdown, then stops in order. [`config::Config`] assembles each crate's section.
//! The `geyser` binary (`src/main.rs`) adds the CLI.
//!
//! Crates and their edges (enforced by each crate's `Cargo.toml`; see ARCHITECTURE.md):
//! `geyser-core` (vocabulary, capability traits) ← `geyser-functions` (the store, sqlx) and
//! `geyser-engine` (wasmtime; no sqlx/axum/rdkafka) ← `geyser-billing`, `geyser-quotas`,
//! `geyser-telemetry` ← `geyser-cron`, `geyser-kafka` (rdkafka), `geyser-http` (axum; no
//! rdkafka) ← this crate.
//!
//! ```no_run
//! use geyser_runtime::config::Config;
//! use geyser_runtime::server::{serve, AdminKeySource};
//!
//! # async fn run() -> Result<(), geyser_runtime::Error> {
//! let config = Config::default();
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! serve(config, AdminKeySource::DataDir, listener, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

mod admission;
pub mod config;
mod coordination;
mod observe;
pub mod server;

/// Errors that stop a node from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Store(#[from] geyser_functions::Error),
    #[error(transparent)]
    Engine(#[from] geyser_engine::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot set up the Kafka client: {0}")]
    Kafka(String),
    #[error(transparent)]
    Otlp(#[from] geyser_telemetry::OtlpError),
    /// The node key is malformed, or not the key this database's secrets were sealed with.
    #[error("secret key: {0}")]
    SecretKey(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
