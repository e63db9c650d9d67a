//! Host configuration: one TOML file plus command-line/environment overrides. Defaults run with no
//! file at all; unknown keys are an error naming the file and key.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

/// Per-tenant quotas: these defaults apply to every tenant unless the admin overrides them
/// (`PUT /v1/quotas?tenant=NAME`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Functions a tenant may have.
    pub max_functions: u64,
    /// Largest component a tenant may upload (never more than `http.max_upload_bytes`).
    pub max_artifact_bytes: u64,
    /// Largest memory limit a tenant's function may ask for (never more than
    /// `engine.max_memory_mb`).
    pub max_memory_mb: u64,
    /// Invocations of one tenant running (or waiting for an instance slot) at once on a node;
    /// more wait for the tenant's own slots up to `engine.queue_timeout_ms`, then get 429.
    pub max_concurrency: u64,
    /// The same for each function of a tenant; 0: only the tenant's limit.
    pub max_function_concurrency: u64,
    /// HTTP requests per second of one tenant on a node (token bucket); beyond it 429 with
    /// `Retry-After`. 0: no limit.
    pub rate_per_second: f64,
    /// Requests a tenant may send at once after an idle spell; 0: one second's worth.
    pub rate_burst: u64,
    /// Keys a tenant may hold in its kv store; a write that would create one more fails
    /// (writes to existing keys and deletes still work).
    pub max_kv_keys: u64,
    /// How often a node rereads the admin's overrides (a change through the node applies at once).
    pub refresh_ms: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            max_functions: 1000,
            max_artifact_bytes: 50 << 20,
            max_memory_mb: 512,
            max_concurrency: 500,
            max_function_concurrency: 0,
            rate_per_second: 0.0,
            rate_burst: 0,
            max_kv_keys: 100_000,
            refresh_ms: 1000,
        }
    }
}

/// OTLP trace export: one span per invocation, in the caller's trace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// OTLP/HTTP traces URL (JSON bodies), e.g. `http://127.0.0.1:4318/v1/traces`. `None`: no
    /// export.
    pub endpoint: Option<String>,
    /// How long spans are batched before they are sent.
    pub batch_delay_ms: u64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: None,
            batch_delay_ms: 1000,
        }
    }
}

/// Prices, free tier, budgets and break-even advice. Defaults follow public FaaS list prices
/// (USD): $0.20 per million requests and $0.0000166667 per GB-second (AWS Lambda, x86),
/// $0.02 per million CPU-milliseconds = $0.00002 per CPU-second (Cloudflare Workers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    pub price_per_million_requests: f64,
    pub price_per_gb_second: f64,
    pub price_per_cpu_second: f64,
    /// Free each month per tenant (0 = no free tier; Lambda's is 1,000,000 and 400,000).
    pub free_requests: f64,
    pub free_gb_seconds: f64,
    pub free_cpu_seconds: f64,
    /// What one dedicated instance costs a month; a function whose projected monthly cost
    /// exceeds it is flagged as no longer rare enough for FaaS.
    pub dedicated_instance_monthly_usd: f64,
    /// A budget's policy when the tenant does not choose one: `refuse` or `warn`.
    pub default_budget_policy: String,
    /// How long a node reuses a tenant's month-to-date cost before reading it again; the
    /// budget is enforced within this (plus `metering.flush_interval_ms`).
    pub budget_refresh_ms: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            price_per_million_requests: 0.20,
            price_per_gb_second: 0.000_016_666_7,
            price_per_cpu_second: 0.000_02,
            free_requests: 0.0,
            free_gb_seconds: 0.0,
            free_cpu_seconds: 0.0,
            dedicated_instance_monthly_usd: 15.0,
            default_budget_policy: "refuse".into(),
            budget_refresh_ms: 1000,
        }
    }
}

/// `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Functions with series of their own; the rest share `tenant="_other"` (bounded cardinality).
    pub max_function_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            max_function_series: 1000,
        }
    }
}

/// The Kafka trigger and `publish`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `HOST:PORT[,HOST:PORT..]`. `None`: no Kafka; topic bindings are
    /// refused and `publish` fails with a clear error.
    pub brokers: Option<String>,
    /// How often a node looks for bindings added, changed or removed (on any node).
    pub reconcile_interval_ms: u64,
    /// Records fetched ahead per partition; beyond this (or `partition_buffer_bytes` of keys and
    /// payloads) the partition is paused until its worker has caught up to half (backpressure
    /// instead of unbounded buffering). Each pause costs a refetch, so not too small.
    pub partition_buffer: usize,
    pub partition_buffer_bytes: usize,
    /// Records of one partition run at once by an unordered binding.
    pub unordered_concurrency: usize,
    /// Longest wait between two attempts of a failing record (backoff doubles up to this).
    pub max_backoff_ms: u64,
    /// How long processed-event marks are kept (they catch redeliveries).
    pub processed_retention_ms: u64,
    /// How long `publish` waits for the broker's acknowledgement.
    pub publish_timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: None,
            reconcile_interval_ms: 1000,
            partition_buffer: 1024,
            partition_buffer_bytes: 8 << 20,
            unordered_concurrency: 16,
            max_backoff_ms: 30_000,
            processed_retention_ms: 7 * 24 * 3600 * 1000,
            publish_timeout_ms: 10_000,
        }
    }
}

/// The cron trigger.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Time between scheduler passes.
    pub pass_interval_ms: u64,
    /// A tick this late still fires as on time; older ticks were missed and follow the
    /// schedule's `missed` policy.
    pub grace_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            pass_interval_ms: 1000,
            grace_ms: 60_000,
        }
    }
}

/// Sizing of the wasmtime engine and the per-function limits it enforces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Memory limit of a function that does not ask for one.
    pub default_memory_mb: u32,
    /// Largest memory limit a function may ask for; also sizes pooling-allocator slots.
    pub max_memory_mb: u32,
    pub default_timeout_ms: u64,
    pub max_timeout_ms: u64,
    /// A function version unused this long is dropped from memory (scale to zero).
    pub idle_ttl_ms: u64,
    /// Instances that may run at once; the pooling allocator reserves this many slots.
    /// Requests beyond it wait up to `queue_timeout_ms`, then get 503.
    pub max_instances: u32,
    pub queue_timeout_ms: u64,
    /// Invocations that may wait for an instance slot (and, per tenant, for the tenant's
    /// slots); beyond it requests are shed at once with 503 and `Retry-After`.
    pub max_queued: u64,
    /// Epoch tick: the granularity of timeouts and of cooperative yielding. A running guest
    /// yields its worker thread every tick, so this bounds how long other tenants' requests wait
    /// behind a busy guest: with 10 ms, tenant B's hello took p50 255 ms while tenant A ran four
    /// endless loops on 2 cores; with 1 ms, 33 ms (tests/tests/quotas.rs, noisy neighbour).
    pub epoch_tick_ms: u64,
    /// Initialize linear memory by mapping the module's data copy-on-write (wasmtime's
    /// `memory_init_cow`) instead of copying it into each new instance. Off by default: for
    /// small guests the copy is cheaper than the copy-on-write faults and TLB shootdowns of
    /// every invocation (bench/RESULTS.md: +11 % warm throughput on examples/hello). Guests
    /// with megabytes of static data may do better with it on.
    pub memory_init_cow: bool,
    /// Bytes of a reused linear memory slot reset by `memset` and kept resident rather than
    /// returned to the kernel (`linear_memory_keep_resident`). 0 by default: on examples/hello
    /// 256 KiB cost 10 % of throughput against 0, 1 MiB 21 % (bench/RESULTS.md).
    pub keep_resident_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest component upload.
    pub max_upload_bytes: usize,
    /// Largest request body passed to a function.
    pub max_request_body_bytes: usize,
    /// How long a node reuses a function lookup (active version, limits, owner) before asking
    /// the database again. A deploy, rollback or delete through this node applies at once;
    /// through another node, within this time. 0: look up every call.
    pub route_cache_ms: u64,
    /// A client must send a request's head within this (slowloris protection).
    pub header_read_timeout_ms: u64,
    /// A request body that sends nothing for this long fails (slow-body protection).
    pub body_idle_timeout_ms: u64,
    /// On SIGTERM: how long running invocations (and streaming bodies) may take to finish
    /// after the node stopped accepting connections.
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeteringConfig {
    /// `false` switches per-invocation records and CPU-time measurement off. Only for measuring
    /// what metering costs (`bench/compare.sh`): a node without it bills nothing.
    pub enabled: bool,
    /// Records written per transaction at most.
    pub batch_size: usize,
    /// How long a record may wait before its batch is written. A node killed with -9 loses
    /// at most this much of its records (a clean stop loses none).
    pub flush_interval_ms: u64,
    /// Raw invocation records older than this are deleted; hourly rollups (statements, usage,
    /// charts) are kept.
    pub raw_retention_days: u64,
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
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_memory_mb: 128,
            max_memory_mb: 512,
            default_timeout_ms: 10_000,
            max_timeout_ms: 300_000,
            idle_ttl_ms: 300_000,
            max_instances: 1000,
            queue_timeout_ms: 5_000,
            max_queued: 10_000,
            epoch_tick_ms: 1,
            memory_init_cow: false,
            keep_resident_bytes: 0,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_upload_bytes: 50 << 20,
            max_request_body_bytes: 10 << 20,
            route_cache_ms: 1000,
            header_read_timeout_ms: 30_000,
            body_idle_timeout_ms: 30_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl Default for MeteringConfig {
    fn default() -> Self {
        MeteringConfig {
            enabled: true,
            batch_size: 500,
            flush_interval_ms: 200,
            raw_retention_days: 30,
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
        let e = &self.engine;
        let check = |ok: bool, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid(msg.to_owned()))
            }
        };
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
        let q = &self.quotas;
        check(
            q.rate_per_second.is_finite() && q.rate_per_second >= 0.0,
            "quotas.rate_per_second must be a number >= 0",
        )?;
        check(
            q.max_concurrency >= 1 && q.refresh_ms >= 10,
            "quotas.max_concurrency must be at least 1 and quotas.refresh_ms at least 10",
        )?;
        let k = &self.kafka;
        check(
            k.partition_buffer >= 1
                && k.partition_buffer_bytes >= 1
                && k.unordered_concurrency >= 1,
            "kafka.partition_buffer, kafka.partition_buffer_bytes and kafka.unordered_concurrency must be at least 1",
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

impl BillingConfig {
    /// The default budget policy, if the configured name is valid.
    pub fn budget_policy(&self) -> Option<geyser_functions::BudgetPolicy> {
        self.default_budget_policy.parse().ok()
    }
}

impl EngineConfig {
    pub fn idle_ttl(&self) -> Duration {
        Duration::from_millis(self.idle_ttl_ms)
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
    fn partial_files_keep_defaults() {
        let config: Config = toml::from_str("[engine]\nidle_ttl_ms = 5\n").unwrap();
        assert_eq!(config.engine.idle_ttl_ms, 5);
        assert_eq!(config.engine.default_memory_mb, 128);
    }
}
