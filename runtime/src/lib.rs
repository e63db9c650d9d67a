//! The Geyser host: a multi-tenant serverless runtime for WebAssembly components.
//!
//! A node runs one wasmtime [`Engine`](wasmtime::Engine), keeps function versions warm only while
//! they are used, runs every invocation in a fresh `Store` with a memory limit and a deadline,
//! and meters each one per tenant. [`server::serve`] wires everything behind an HTTP listener.
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

pub mod api;
mod artifact_cache;
pub mod billing;
mod capabilities;
pub mod config;
mod cpu;
pub mod cron;
mod engine;
mod guest_body;
pub mod handlers;
pub mod host;
mod http_server;
pub mod invoke;
pub mod kafka;
mod metering;
mod metrics;
pub mod otlp;
pub mod quotas;
mod resident;
mod routes;
mod sandbox;
pub mod server;
pub mod trace;

/// Errors that stop a node from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Store(#[from] geyser_functions::Error),
    #[error("cannot set up the wasm engine: {0}")]
    Engine(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot set up the Kafka client: {0}")]
    Kafka(String),
    #[error(transparent)]
    Otlp(#[from] otlp::OtlpError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
