//! Host configuration: one TOML file plus command-line/environment overrides. Defaults run with no
//! file at all; unknown keys are an error naming the file and key.

//!
//! Each section is a typed struct owned by the crate that uses it; this file only assembles
//! them and checks what spans sections.

pub use geyser_billing::BillingConfig;
pub use geyser_cron::SchedulerConfig;
pub use geyser_engine::EngineConfig;
pub use geyser_engine::OutboundConfig;
pub use geyser_http::HttpConfig;
pub use geyser_kafka::KafkaConfig;
pub use geyser_queue::AsyncConfig;
pub use geyser_quotas::QuotaConfig;
pub use geyser_secrets::SecretsConfig;
pub use geyser_telemetry::{MeteringConfig, MetricsConfig, OtlpConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `geyser serve` needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; `None` means SQLite at `<data_dir>/geyser.db`.
    pub database_url: Option<String>,
    pub engine: EngineConfig,
    pub http: HttpConfig,
    pub metering: MeteringConfig,
    pub scheduler: SchedulerConfig,
    pub kafka: KafkaConfig,
    pub billing: BillingConfig,
    pub metrics: MetricsConfig,
    pub otlp: OtlpConfig,
    pub quotas: QuotaConfig,
    pub outbound: OutboundConfig,
    pub secrets: SecretsConfig,
    /// `[async]`: asynchronous invocation.
    #[serde(rename = "async")]
    pub queue: AsyncConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./geyser-data"),
            database_url: None,
            engine: EngineConfig::default(),
            http: HttpConfig::default(),
            metering: MeteringConfig::default(),
            scheduler: SchedulerConfig::default(),
            kafka: KafkaConfig::default(),
            billing: BillingConfig::default(),
            metrics: MetricsConfig::default(),
            otlp: OtlpConfig::default(),
            quotas: QuotaConfig::default(),
            outbound: OutboundConfig::default(),
            secrets: SecretsConfig::default(),
            queue: AsyncConfig::default(),
        }
    }
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file; unknown keys are rejected with the file and key in the message.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.queue.check().map_err(ConfigError::Invalid)?;
        let e = &self.engine;
        let check = |ok: bool, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid(msg.to_owned()))
            }
        };
        check(
            self.http.listen_backlog >= 1,
            "http.listen_backlog must be at least 1",
        )?;
        check(
            e.default_memory_mb >= 1,
            "engine.default_memory_mb must be at least 1",
        )?;
        check(
            e.default_memory_mb <= e.max_memory_mb,
            "engine.default_memory_mb must not exceed engine.max_memory_mb",
        )?;
        check(
            e.max_memory_mb <= 4096,
            "engine.max_memory_mb must be at most 4096",
        )?;
        check(
            e.default_timeout_ms >= 1 && e.default_timeout_ms <= e.max_timeout_ms,
            "engine.default_timeout_ms must be between 1 and engine.max_timeout_ms",
        )?;
        check(
            e.max_instances >= 1,
            "engine.max_instances must be at least 1",
        )?;
        check(
            e.epoch_tick_ms >= 1,
            "engine.epoch_tick_ms must be at least 1",
        )?;
        check(
            e.node_memory_mb.is_none_or(|mb| mb >= 1),
            "engine.node_memory_mb must be at least 1 (leave it out for 75 % of the machine)",
        )?;
        check(
            (1..=100).contains(&e.memory_high_water_percent),
            "engine.memory_high_water_percent must be between 1 and 100",
        )?;
        check(
            e.max_concurrent_compiles >= 1,
            "engine.max_concurrent_compiles must be at least 1",
        )?;
        check(
            e.compile_timeout_ms >= 1,
            "engine.compile_timeout_ms must be at least 1",
        )?;
        let s = &self.scheduler;
        check(
            s.lease_ms >= 100,
            "scheduler.lease_ms must be at least 100 (a claim must outlive the step that extends it)",
        )?;
        check(
            s.retry_backoff_ms >= 1 && s.retry_backoff_ms <= s.max_retry_backoff_ms,
            "scheduler.retry_backoff_ms must be between 1 and scheduler.max_retry_backoff_ms",
        )?;
        self.outbound
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let q = &self.quotas.defaults;
        check(
            (1..=100).contains(&q.node_memory_percent),
            "quotas.node_memory_percent must be between 1 and 100",
        )?;
        check(
            q.rate_per_second.is_finite() && q.rate_per_second >= 0.0,
            "quotas.rate_per_second must be a number >= 0",
        )?;
        check(
            q.max_concurrency >= 1 && self.quotas.refresh_ms >= 10,
            "quotas.max_concurrency must be at least 1 and quotas.refresh_ms at least 10",
        )?;
        let k = &self.kafka;
        check(
            k.partition_buffer >= 1
                && k.partition_buffer_bytes >= 1
                && k.unordered_concurrency >= 1
                && k.batch_records >= 1,
            "kafka.partition_buffer, kafka.partition_buffer_bytes, kafka.unordered_concurrency and kafka.batch_records must be at least 1",
        )?;
        check(
            k.reconcile_interval_ms >= 10,
            "kafka.reconcile_interval_ms must be at least 10",
        )?;
        check(
            self.metering.batch_size >= 1,
            "metering.batch_size must be at least 1",
        )?;
        let b = &self.billing;
        check(
            [
                b.price_per_million_requests,
                b.price_per_gb_second,
                b.price_per_cpu_second,
                b.free_requests,
                b.free_gb_seconds,
                b.free_cpu_seconds,
                b.dedicated_instance_monthly_usd,
            ]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0),
            "billing prices, free tiers and dedicated_instance_monthly_usd must be numbers >= 0",
        )?;
        check(
            self.billing.budget_policy().is_some(),
            "billing.default_budget_policy must be \"refuse\" or \"warn\"",
        )?;
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("geyser.db").display()
            ),
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geyser.toml");
        std::fs::write(&path, "[engine]\nmax_memroy_mb = 3\n").unwrap();
        let err = Config::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("geyser.toml"), "{err}");
        assert!(err.contains("max_memroy_mb"), "{err}");
    }

    #[test]
    fn defaults_are_valid_and_sqlite_lives_in_the_data_dir() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(
            config.database_url(),
            "sqlite://./geyser-data/geyser.db?mode=rwc"
        );
    }

    #[test]
    fn node_guard_settings_out_of_range_are_refused() {
        for (toml, field) in [
            ("[engine]\nnode_memory_mb = 0\n", "engine.node_memory_mb"),
            (
                "[engine]\nmemory_high_water_percent = 0\n",
                "memory_high_water_percent",
            ),
            (
                "[engine]\nmax_concurrent_compiles = 0\n",
                "max_concurrent_compiles",
            ),
            (
                "[quotas]\nnode_memory_percent = 101\n",
                "node_memory_percent",
            ),
            ("[scheduler]\nlease_ms = 5\n", "scheduler.lease_ms"),
        ] {
            let config: Config = toml::from_str(toml).unwrap();
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{toml}: {err}");
        }
    }

    #[test]
    fn partial_files_keep_defaults() {
        let config: Config = toml::from_str("[engine]\nidle_ttl_ms = 5\n").unwrap();
        assert_eq!(config.engine.idle_ttl_ms, 5);
        assert_eq!(config.engine.default_memory_mb, 128);
    }
}
