//! Wiring of a running node: store, host, metering writer, eviction loop and HTTP server, and
//! the orderly stop (stop accepting, finish in-flight invocations, flush metering).

use crate::Error;
use crate::admission::NodeAdmission;
use crate::config::Config;
use crate::observe::NodeObserver;
use geyser_billing::{BudgetGuard, PriceTable};
use geyser_core::{EventBusControl, Kv, MetricFamilies, Publish, SecretBox};
use geyser_cron::{CronRunner, CronSettings};
use geyser_engine::{Host, Invoker, InvokerParts, InvokerSettings, NodeOutbound};
use geyser_functions::{ApiKey, RouteCache, Store};
use geyser_http::{AppState, EdgeConfig};
use geyser_kafka::{ConsumerSettings, KafkaStats, KafkaTrigger, Publisher};
use geyser_quotas::{QuotaGuard, QuotaKv};
use geyser_releases::CanaryWatch;
use geyser_scheduler::{Clock, SystemClock};
use geyser_secrets::NodeKey;
use geyser_telemetry::{Meter, Metrics, SpanExport};
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
    let node = starting(&listener, Node::start(config, admin_key, clock)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = node.state.store.backend_name(), "geyser listening");
    let readiness = node.state.readiness.clone();
    let drain = node.timeouts.drain;
    let shutdown = async move {
        shutdown.await;
        if !drain.is_zero() {
            readiness.drain();
            tracing::info!(
                drain_ms = drain.as_millis() as u64,
                "draining: /readyz answers 503"
            );
            tokio::time::sleep(drain).await;
        }
    };
    geyser_http::serve(
        listener,
        node.router(),
        node.timeouts.header_read,
        node.timeouts.body_idle,
        shutdown,
    )
    .await;
    node.stop().await;
    Ok(())
}

/// While the node starts, what reaches `listener` is answered at once — `/healthz` 200
/// `starting`, anything else 503 — so a load balancer's readiness check sees a node that is
/// not ready yet instead of a connection that hangs. Returns what `start` returned.
async fn starting<T>(
    listener: &TcpListener,
    start: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::pin!(start);
    loop {
        tokio::select! {
            node = &mut start => return node,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(geyser_http::answer_starting(stream));
                }
            }
        }
    }
}

/// The HTTP server's timeouts, from `[http]`.
struct Timeouts {
    header_read: Duration,
    body_idle: Duration,
    shutdown_grace: Duration,
    drain: Duration,
}

/// A node wired and running its background loops (cron passes, Kafka consumers, eviction,
/// pruning, quota refresh, the metering writer), ready to answer through [`Node::router`]
/// — from a socket ([`serve`]) or, in tests, with `tower::ServiceExt::oneshot`.
pub struct Node {
    pub state: AppState,
    timeouts: Timeouts,
    tasks: TaskTracker,
    scheduler: tokio::task::JoinHandle<()>,
    kafka_stop: tokio_util::sync::CancellationToken,
    kafka_supervisor: Option<tokio::task::JoinHandle<()>>,
    loops: [tokio::task::JoinHandle<()>; 6],
    /// This process's row in the cluster's heartbeats.
    node_id: String,
    queue_workers: geyser_queue::QueueWorkers,
    writer: tokio::task::JoinHandle<()>,
    otlp: Option<Arc<SpanExport>>,
}

impl Node {
    /// Opens the store, builds every component and starts the background loops.
    pub async fn start(
        config: Config,
        admin_key: AdminKeySource,
        clock: Arc<dyn Clock>,
    ) -> Result<Node, Error> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir)?;
        let admin_key = match admin_key {
            AdminKeySource::Fixed(key) => key,
            AdminKeySource::DataDir => admin_key_from_data_dir(&config.data_dir)?,
        };
        // Each asynchronous worker may hold a connection for its kv transaction while its guest
        // runs (and the guest's kv quota check needs another): they get their own share.
        let connections = 16 + config.queue.workers;
        let store = Store::open(&config.database_url(), connections).await?;
        let secrets: Arc<dyn SecretBox> = Arc::new(node_key(&config, &store).await?);
        let outbound = Arc::new(
            NodeOutbound::new(&config.outbound)
                .map_err(|e| Error::Config(crate::config::ConfigError::Invalid(e.to_string())))?,
        );
        let host = Arc::new(Host::new(&config.engine, &config.cache_dir())?);
        let (meter, writer) = Meter::spawn(store.clone(), &config.metering);
        let metrics = Arc::new(Metrics::new(config.metrics.max_function_series));
        let budgets = Arc::new(BudgetGuard::new(
            store.clone(),
            PriceTable::from_config(&config.billing),
            Duration::from_millis(config.billing.budget_refresh_ms),
        ));
        let quotas = Arc::new(QuotaGuard::new(
            &config.quotas,
            Duration::from_millis(config.engine.queue_timeout_ms),
            config.engine.max_queued,
        ));
        if let Err(err) = quotas.refresh(&store).await {
            tracing::warn!(error = %err, "reading quota overrides failed; defaults apply");
        }
        let otlp = match &config.otlp.endpoint {
            Some(endpoint) => Some(Arc::new(SpanExport::new(
                endpoint,
                Duration::from_millis(config.otlp.batch_delay_ms),
            )?)),
            None => None,
        };
        let tasks = TaskTracker::new();
        let kafka_connection = config
            .kafka
            .connection(|variable| std::env::var(variable).ok())
            .map_err(Error::Kafka)?;
        let publisher = match &kafka_connection {
            Some(connection) => Some(
                Publisher::new(
                    connection,
                    Duration::from_millis(config.kafka.publish_timeout_ms),
                )
                .map_err(|e| Error::Kafka(format!("kafka.properties: {e}")))?,
            ),
            None => None,
        };
        let kv: Arc<dyn Kv> = Arc::new(QuotaKv::new(
            Arc::new(store.clone()),
            quotas.clone(),
            store.clone(),
        ));
        let routes = Arc::new(RouteCache::new(Duration::from_millis(
            config.http.route_cache_ms,
        )));
        let canaries = CanaryWatch::new(
            store.clone(),
            routes.clone(),
            meter.clone(),
            geyser_releases::WINDOW,
        );
        let invoker = Invoker::new(InvokerParts {
            host: host.clone(),
            artifacts: Arc::new(store.clone()),
            kv,
            publish: publisher
                .clone()
                .map(|publisher| Arc::new(publisher) as Arc<dyn Publish>),
            secrets: secrets.clone(),
            outbound,
            admission: Arc::new(NodeAdmission {
                budgets: budgets.clone(),
                quotas: quotas.clone(),
                metrics: metrics.clone(),
            }),
            observer: Arc::new(NodeObserver {
                metrics: metrics.clone(),
                meter: meter.clone(),
                otlp: otlp.clone(),
                canaries: canaries.clone(),
            }),
            tasks: tasks.clone(),
            settings: InvokerSettings {
                max_request_body_bytes: config.http.max_request_body_bytes,
                measure_cpu: config.metering.enabled,
            },
        });
        let evictor = tokio::spawn(evict_loop(host.clone()));
        let quota_refresher = tokio::spawn(quota_refresh_loop(
            store.clone(),
            quotas.clone(),
            Duration::from_millis(config.quotas.refresh_ms),
        ));
        let pruner = tokio::spawn(prune_loop(
            store.clone(),
            Duration::from_secs(config.metering.raw_retention_days.saturating_mul(86_400)),
        ));
        let log_trimmer = tokio::spawn(log_trim_loop(
            store.clone(),
            quotas.clone(),
            metrics.clone(),
            Duration::from_millis(config.metering.log_trim_interval_ms.max(1)),
        ));
        let cron = CronRunner {
            store: store.clone(),
            invoker: invoker.clone(),
            routes: routes.clone(),
            passes: Default::default(),
            clock,
            settings: CronSettings {
                pass_interval: Duration::from_millis(config.scheduler.pass_interval_ms),
                grace: chrono::Duration::milliseconds(
                    i64::try_from(config.scheduler.grace_ms).unwrap_or(i64::MAX),
                ),
                lease: Duration::from_millis(config.scheduler.lease_ms),
                lease_margin: Duration::from_millis(config.scheduler.lease_margin_ms),
                retry_backoff: Duration::from_millis(config.scheduler.retry_backoff_ms),
                max_retry_backoff: Duration::from_millis(config.scheduler.max_retry_backoff_ms),
            },
            tasks: tasks.clone(),
        };
        let scheduler = tokio::spawn(cron.clone().run());
        let kafka_stats = Arc::new(KafkaStats::default());
        let kafka = publisher.map(|publisher| KafkaTrigger {
            store: store.clone(),
            invoker: invoker.clone(),
            routes: routes.clone(),
            quotas: quotas.clone(),
            publisher,
            settings: ConsumerSettings {
                connection: kafka_connection.clone().unwrap_or_default(),
                partition_buffer: config.kafka.partition_buffer,
                partition_buffer_bytes: config.kafka.partition_buffer_bytes,
                unordered_concurrency: config.kafka.unordered_concurrency,
                max_backoff: Duration::from_millis(config.kafka.max_backoff_ms),
                batch_records: config.kafka.batch_records,
                batch_time: Duration::from_millis(config.kafka.batch_ms),
            },
            stats: kafka_stats.clone(),
            reconcile_interval: Duration::from_millis(config.kafka.reconcile_interval_ms),
            processed_retention: Duration::from_millis(config.kafka.processed_retention_ms),
            changed: Arc::new(tokio::sync::Notify::new()),
        });
        let kafka_stop = tokio_util::sync::CancellationToken::new();
        let kafka_supervisor = kafka
            .clone()
            .map(|trigger| tokio::spawn(trigger.run(kafka_stop.clone())));
        let queue = geyser_queue::AsyncQueue::new(store.clone(), config.queue.clone());
        let queue_workers = geyser_queue::QueueWorkers::start(geyser_queue::QueueParts {
            store: store.clone(),
            routes: routes.clone(),
            invoker: invoker.clone(),
            quotas: quotas.clone(),
            publish: kafka
                .as_ref()
                .map(|trigger| Arc::new(trigger.publisher.clone()) as Arc<dyn Publish>),
            queue: queue.clone(),
        });
        // `/metrics` writes each component's families in this order.
        let families: Vec<Arc<dyn MetricFamilies>> = vec![
            metrics.clone(),
            Arc::new(invoker.clone()),
            Arc::new(cron.clone()),
            budgets.clone(),
            quotas.clone(),
            kafka_stats,
            Arc::new(canaries.clone()),
            queue.stats(),
        ];
        let timeouts = Timeouts {
            header_read: Duration::from_millis(config.http.header_read_timeout_ms),
            body_idle: Duration::from_millis(config.http.body_idle_timeout_ms),
            shutdown_grace: Duration::from_millis(config.http.shutdown_grace_ms),
            drain: Duration::from_millis(config.http.drain_ms),
        };
        let bus = kafka.map(|trigger| Arc::new(trigger) as Arc<dyn EventBusControl>);
        let changes = geyser_http::ChangeTargets {
            store: store.clone(),
            routes: routes.clone(),
            quotas: quotas.clone(),
            budgets: budgets.clone(),
            bus: bus.clone(),
        };
        let change_listener = tokio::spawn(crate::coordination::follow_changes(changes.clone()));
        let node_id = uuid::Uuid::now_v7().to_string();
        // Counted before the first request, so this node never admits a whole quota alone.
        crate::coordination::heartbeat(&store, &quotas, &node_id).await;
        let heartbeat = tokio::spawn(crate::coordination::keep_heartbeat(
            store.clone(),
            quotas.clone(),
            node_id.clone(),
        ));
        let state = AppState {
            store: store.clone(),
            invoker,
            routes,
            meter,
            budgets,
            quotas,
            cron,
            bus,
            metrics: Arc::new(families),
            admin_key: Arc::new(admin_key),
            canaries,
            queue,
            secrets,
            config: Arc::new(EdgeConfig {
                http: config.http.clone(),
                engine: config.engine.clone(),
                billing: config.billing.clone(),
            }),
            log_tails: Default::default(),
            readiness: Default::default(),
            changes,
        };
        Ok(Node {
            state,
            timeouts,
            tasks,
            scheduler,
            kafka_stop,
            kafka_supervisor,
            loops: [
                evictor,
                pruner,
                quota_refresher,
                log_trimmer,
                change_listener,
                heartbeat,
            ],
            node_id,
            queue_workers,
            writer,
            otlp,
        })
    }

    /// The management API, gateway, metrics and dashboard over this node's state.
    pub fn router(&self) -> geyser_http::Router {
        geyser_http::router(self.state.clone())
    }

    /// The orderly stop once no more requests come: finish in-flight invocations (up to the
    /// grace period), let consumers commit, and flush metering.
    pub async fn stop(self) {
        let Node {
            state,
            timeouts,
            tasks,
            scheduler,
            kafka_stop,
            kafka_supervisor,
            loops,
            queue_workers,
            writer,
            otlp,
            node_id,
        } = self;
        tracing::info!("shutting down: waiting for running invocations");
        scheduler.abort();
        // Consumers finish the records in hand and commit what they processed.
        kafka_stop.cancel();
        if let Some(supervisor) = kafka_supervisor {
            let _ = supervisor.await;
        }
        // Workers take nothing more and end the invocations in hand (one cut off by the grace
        // period keeps its row `running`: its lease runs out and another node runs it again,
        // its kv writes rolled back).
        if tokio::time::timeout(timeouts.shutdown_grace, queue_workers.stop())
            .await
            .is_err()
        {
            tracing::warn!("asynchronous invocations still running after the grace period");
        }
        tasks.close();
        if tokio::time::timeout(timeouts.shutdown_grace, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("invocations still running after the grace period");
        }
        for task in loops {
            task.abort();
        }
        let store = state.store.clone();
        // The other nodes take over this one's share of the quotas at once.
        if let Err(err) = store.leave(&node_id).await {
            tracing::warn!(error = %err, "removing the node's heartbeat failed");
        }
        // With the state (and every router made from it) gone, the last `Meter` clones are the
        // tasks'; the writer drains its queue and exits.
        drop(state);
        let _ = writer.await;
        if let Some(otlp) = otlp {
            let _ = tokio::task::spawn_blocking(move || otlp.shutdown()).await;
        }
        store.close().await;
        tracing::info!("stopped");
    }
}

/// Deletes raw invocation records and captured log lines past their retention, at start and
/// then hourly (the hourly rollups stay, so statements and usage do not change).
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
        match store.prune_logs(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(lines = n, "pruned log lines past retention"),
            Err(err) => tracing::warn!(error = %err, "pruning log lines failed"),
        }
    }
}

/// Keeps every tenant's captured log lines within its `max_log_bytes`, dropping the oldest
/// (counted in `geyser_log_lines_dropped_total`). Several nodes may trim at once: each drops
/// only what is still over.
async fn log_trim_loop(
    store: Store,
    quotas: Arc<QuotaGuard>,
    metrics: Arc<Metrics>,
    period: Duration,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let sizes = match store.log_sizes().await {
            Ok(sizes) => sizes,
            Err(err) => {
                tracing::warn!(error = %err, "reading log sizes failed");
                continue;
            }
        };
        for (tenant, size) in sizes {
            let bound = quotas.quotas(tenant).max_log_bytes;
            if size <= bound {
                continue;
            }
            match store.drop_oldest_logs(tenant, size - bound).await {
                Ok(lines) => {
                    metrics.log_lines_dropped(lines);
                    tracing::info!(tenant = %tenant, lines, "dropped the oldest log lines beyond the tenant's max_log_bytes");
                }
                Err(err) => {
                    tracing::warn!(tenant = %tenant, error = %err, "trimming log lines failed")
                }
            }
        }
    }
}

/// Rereads the admin's quota overrides, so a change through another node applies here too.
async fn quota_refresh_loop(store: Store, quotas: Arc<QuotaGuard>, period: Duration) {
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
            let _ = tokio::task::spawn_blocking(geyser_engine::release_freed_memory).await;
            tracing::debug!(
                evicted,
                resident = host.resident_count(),
                "evicted idle functions"
            );
        }
    }
}

/// The node key: `GEYSER_SECRET_KEY` (put in `config.secrets.key` by the binary), else the
/// key file (`secrets.key_file`, default `<data-dir>/secret.key`), generated with mode 0600
/// when it does not exist. The database keeps a check value sealed by the first node's key, so
/// a node with another key refuses to start instead of failing to open secrets later.
async fn node_key(config: &Config, store: &Store) -> Result<NodeKey, Error> {
    let bad = |e: geyser_secrets::BadKey| Error::SecretKey(e.to_string());
    let key = match &config.secrets.key {
        Some(hex) => NodeKey::from_hex(hex).map_err(bad)?,
        None => {
            let path = config
                .secrets
                .key_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("secret.key"));
            match std::fs::read_to_string(&path) {
                Ok(text) => NodeKey::from_hex(&text)
                    .map_err(|e| Error::SecretKey(format!("{}: {e}", path.display())))?,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    let hex = NodeKey::generate_hex();
                    write_private(&path, &hex)?;
                    tracing::info!(path = %path.display(), "generated secret key");
                    NodeKey::from_hex(&hex).map_err(bad)?
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let check = store.secret_key_check(&key.key_check()).await?;
    if !key.verifies(&check) {
        return Err(Error::SecretKey(
            "this is not the key the database's secrets were sealed with; give every node of \
             the cluster the same GEYSER_SECRET_KEY or secrets.key_file"
                .into(),
        ));
    }
    Ok(key)
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
