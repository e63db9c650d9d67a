//! `geyser serve`: reads config (file, flags, environment), installs logging, runs the node
//! until SIGINT/SIGTERM.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use geyser_functions::ApiKey;
use geyser_runtime::config::Config;
use geyser_runtime::server::{AdminKeySource, serve};
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "GEYSER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory: SQLite database, compiled-artifact cache, admin key [default: ./geyser-data].
    #[arg(long, env = "GEYSER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `sqlite://FILE` or `postgres://...` [default: SQLite in the data directory].
    #[arg(long, env = "GEYSER_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// TOML config file; flags and environment override it.
    #[arg(long, env = "GEYSER_CONFIG")]
    config: Option<PathBuf>,
    /// Admin key; without it one is generated into `<data-dir>/admin.key`.
    #[arg(long, env = "GEYSER_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// Kafka bootstrap servers `HOST:PORT[,..]`; without them there are no topic triggers.
    #[arg(long, env = "GEYSER_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    #[arg(long, env = "GEYSER_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn install_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
}

pub async fn run(args: ServeArgs) -> Result<()> {
    install_logging(args.log_format);
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = args.database_url {
        config.database_url = Some(url);
    }
    // The node key that seals function secrets (64 hex digits; nodes of one cluster share
    // it) comes from the environment only, never from argv. Without it: `secrets.key_file`,
    // else `<data-dir>/secret.key`, generated on first start.
    if let Some(key) = std::env::var("GEYSER_SECRET_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        config.secrets.key = Some(key);
    }
    if let Some(brokers) = args.kafka_brokers.filter(|b| !b.trim().is_empty()) {
        config.kafka.brokers = Some(brokers);
    }
    let admin = match args.admin_key {
        Some(key) if !key.trim().is_empty() => {
            AdminKeySource::Fixed(ApiKey::from_presented(key.trim()))
        }
        _ => AdminKeySource::DataDir,
    };
    let listener = listen(config.listen, config.http.listen_backlog)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    serve(config, admin, listener, shutdown_signal()).await?;
    Ok(())
}

/// A listening socket with room for `backlog` connections waiting to be accepted (tokio's
/// `TcpListener::bind` queues 1,024: a burst of 10,000 connections had SYNs dropped, retried
/// by the clients a second later).
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}
