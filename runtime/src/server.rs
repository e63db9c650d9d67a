//! Wiring of a running node: store, host, metering writer, eviction loop and HTTP server, and
//! the orderly stop (stop accepting, finish in-flight invocations, flush metering).

use crate::Error;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::cron::{CronRunner, CronSettings};
use crate::host::Host;
use crate::invoke::Invoker;
use crate::metering::Meter;
use crate::metrics::Metrics;
use geyser_functions::{ApiKey, Store};
use geyser_scheduler::{Clock, SystemClock};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// How the admin key is chosen.
#[derive(Debug, Clone)]
pub enum AdminKeySource {
    /// Given by the operator (e.g. `GEYSER_ADMIN_KEY`).
    Fixed(ApiKey),
    /// Read from `<data-dir>/admin.key`, generated there on first start.
    DataDir,
}

/// How long shutdown waits for running invocations.
/// Serves until `shutdown` resolves, then stops in order and returns once metering is flushed.
pub async fn serve(
    config: Config,
    admin_key: AdminKeySource,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_with_clock(config, admin_key, listener, shutdown, Arc::new(SystemClock)).await
}

/// [`serve`] with the clock the cron trigger reads (tests drive time with it).
pub async fn serve_with_clock(
    config: Config,
    admin_key: AdminKeySource,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> Result<(), Error> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir)?;
    let admin_key = match admin_key {
        AdminKeySource::Fixed(key) => key,
        AdminKeySource::DataDir => admin_key_from_data_dir(&config.data_dir)?,
    };
    let store = Store::open(&config.database_url(), 16).await?;
    let host = Arc::new(Host::new(&config.engine, &config.cache_dir())?);
    let (meter, writer) = Meter::spawn(store.clone(), &config.metering);
    let metrics = Arc::new(Metrics::new(config.metrics.max_function_series));
    let budgets = Arc::new(crate::billing::BudgetGuard::new(
        store.clone(),
        crate::billing::PriceTable::from_config(&config.billing),
        Duration::from_millis(config.billing.budget_refresh_ms),
    ));
    let quotas = Arc::new(crate::quotas::QuotaGuard::new(
        &config.quotas,
        Duration::from_millis(config.engine.queue_timeout_ms),
        config.engine.max_queued,
    ));
    if let Err(err) = quotas.refresh(&store).await {
        tracing::warn!(error = %err, "reading quota overrides failed; defaults apply");
    }
    let otlp = match &config.otlp.endpoint {
        Some(endpoint) => Some(Arc::new(crate::otlp::SpanExport::new(
            endpoint,
            Duration::from_millis(config.otlp.batch_delay_ms),
        )?)),
        None => None,
    };
    let tasks = TaskTracker::new();
    let publisher = match &config.kafka.brokers {
        Some(brokers) => Some(
            crate::kafka::Publisher::new(
                brokers,
                Duration::from_millis(config.kafka.publish_timeout_ms),
            )
            .map_err(|e| Error::Kafka(e.to_string()))?,
        ),
        None => None,
    };
    let invoker = Invoker {
        host: host.clone(),
        store: store.clone(),
        meter: meter.clone(),
        metrics: metrics.clone(),
        tasks: tasks.clone(),
        max_request_body_bytes: config.http.max_request_body_bytes,
        publisher: publisher.clone(),
        routes: Arc::new(crate::routes::RouteCache::new(Duration::from_millis(
            config.http.route_cache_ms,
        ))),
        budgets,
        otlp: otlp.clone(),
        quotas: quotas.clone(),
    };
    let evictor = tokio::spawn(evict_loop(host.clone()));
    let quota_refresher = tokio::spawn(quota_refresh_loop(
        store.clone(),
        quotas,
        Duration::from_millis(config.quotas.refresh_ms),
    ));
    let pruner = tokio::spawn(prune_loop(
        store.clone(),
        Duration::from_secs(config.metering.raw_retention_days.saturating_mul(86_400)),
    ));
    let cron = CronRunner {
        store: store.clone(),
        invoker: invoker.clone(),
        clock,
        settings: CronSettings {
            pass_interval: Duration::from_millis(config.scheduler.pass_interval_ms),
            grace: chrono::Duration::milliseconds(
                i64::try_from(config.scheduler.grace_ms).unwrap_or(i64::MAX),
            ),
        },
        tasks: tasks.clone(),
    };
    let scheduler = tokio::spawn(cron.clone().run());
    let kafka = publisher.map(|publisher| crate::kafka::KafkaTrigger {
        store: store.clone(),
        invoker: invoker.clone(),
        publisher,
        settings: crate::kafka::ConsumerSettings {
            brokers: config.kafka.brokers.clone().unwrap_or_default(),
            partition_buffer: config.kafka.partition_buffer,
            partition_buffer_bytes: config.kafka.partition_buffer_bytes,
            unordered_concurrency: config.kafka.unordered_concurrency,
            max_backoff: Duration::from_millis(config.kafka.max_backoff_ms),
        },
        metrics: metrics.clone(),
        reconcile_interval: Duration::from_millis(config.kafka.reconcile_interval_ms),
        processed_retention: Duration::from_millis(config.kafka.processed_retention_ms),
        changed: Arc::new(tokio::sync::Notify::new()),
    });
    let kafka_stop = tokio_util::sync::CancellationToken::new();
    let kafka_supervisor = kafka
        .clone()
        .map(|trigger| tokio::spawn(trigger.run(kafka_stop.clone())));
    let state = AppState {
        store: store.clone(),
        host,
        meter,
        metrics,
        invoker,
        cron,
        kafka,
        admin_key: Arc::new(admin_key),
        config: Arc::new(config),
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = store.backend_name(), "geyser listening");
    let header_read_timeout = Duration::from_millis(state.config.http.header_read_timeout_ms);
    let shutdown_grace = Duration::from_millis(state.config.http.shutdown_grace_ms);
    let body_idle_timeout = Duration::from_millis(state.config.http.body_idle_timeout_ms);
    let app = api::router(state);
    crate::http_server::serve(
        listener,
        app,
        header_read_timeout,
        body_idle_timeout,
        shutdown,
    )
    .await;

    tracing::info!("shutting down: waiting for running invocations");
    scheduler.abort();
    // Consumers finish the records in hand and commit what they processed.
    kafka_stop.cancel();
    if let Some(supervisor) = kafka_supervisor {
        let _ = supervisor.await;
    }
    tasks.close();
    if tokio::time::timeout(shutdown_grace, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("invocations still running after the grace period");
    }
    evictor.abort();
    pruner.abort();
    quota_refresher.abort();
    // The router (and with it every `Meter` clone but the tasks') is gone; the writer drains
    // its queue and exits.
    let _ = writer.await;
    if let Some(otlp) = otlp {
        let _ = tokio::task::spawn_blocking(move || otlp.shutdown()).await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Deletes raw invocation records past their retention, at start and then hourly (their
/// hourly rollups stay, so statements and usage do not change).
async fn prune_loop(store: Store, retention: Duration) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticker.tick().await;
        let before = geyser_functions::now_ms()
            .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        match store.prune_invocations(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "pruned invocation records past retention"),
            Err(err) => tracing::warn!(error = %err, "pruning invocation records failed"),
        }
    }
}

/// Rereads the admin's quota overrides, so a change through another node applies here too.
async fn quota_refresh_loop(
    store: Store,
    quotas: Arc<crate::quotas::QuotaGuard>,
    period: Duration,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = quotas.refresh(&store).await {
            tracing::warn!(error = %err, "reading quota overrides failed; keeping the last ones");
        }
    }
}

async fn evict_loop(host: Arc<Host>) {
    let period =
        (host.config().idle_ttl() / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let evicted = host.evict_idle();
        if evicted > 0 {
            // Off the async threads: trimming walks the allocator's arenas.
            let _ = tokio::task::spawn_blocking(crate::host::release_freed_memory).await;
            tracing::debug!(
                evicted,
                resident = host.resident_count(),
                "evicted idle functions"
            );
        }
    }
}

/// Reads `<data-dir>/admin.key`, or generates it (mode 0600) and says where it is.
fn admin_key_from_data_dir(data_dir: &Path) -> Result<ApiKey, Error> {
    let path = data_dir.join("admin.key");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(ApiKey::from_presented(text.trim())),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    let key = ApiKey::generate();
    write_private(&path, key.expose())?;
    tracing::info!(path = %path.display(), "generated admin key");
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_key_is_generated_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let first = admin_key_from_data_dir(dir.path()).unwrap();
        let second = admin_key_from_data_dir(dir.path()).unwrap();
        assert!(first.matches(&second));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("admin.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
