//! The supervisor: one consumer running per topic binding stored in the database (bindings made
//! on any node reach every node), reconciled every `reconcile_interval_ms` or at once after a
//! change through this node's API.

use crate::consumer::{self, BindingWorker, ConsumerSettings};
use crate::producer::Publisher;
use crate::stats::KafkaStats;
use geyser_engine::Invoker;
use geyser_functions::{BindingId, KafkaBinding, RouteCache, Store, now_ms};
use geyser_quotas::QuotaGuard;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often processed-event marks older than the retention are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Runs consumers for the stored bindings. Cheap to clone.
#[derive(Clone)]
pub struct KafkaTrigger {
    pub store: Store,
    pub invoker: Invoker,
    pub routes: Arc<RouteCache>,
    pub quotas: Arc<QuotaGuard>,
    pub publisher: Publisher,
    pub settings: ConsumerSettings,
    /// Per-binding figures for `/metrics`.
    pub stats: Arc<KafkaStats>,
    pub reconcile_interval: Duration,
    pub processed_retention: Duration,
    /// Wakes the supervisor at once after a binding changed through this node's API.
    pub changed: Arc<Notify>,
}

impl std::fmt::Debug for KafkaTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTrigger")
            .field("connection", &self.settings.connection)
            .finish_non_exhaustive()
    }
}

struct Running {
    binding: KafkaBinding,
    labels: (String, String, String),
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl KafkaTrigger {
    /// Supervises consumers until `stop` is cancelled, then stops them all (each commits what
    /// it processed) and returns.
    pub async fn run(self, stop: CancellationToken) {
        let mut running: HashMap<BindingId, Running> = HashMap::new();
        let mut last_prune = std::time::Instant::now()
            .checked_sub(PRUNE_INTERVAL)
            .unwrap_or_else(std::time::Instant::now);
        loop {
            match self.store.all_kafka_bindings().await {
                Ok(bindings) => self.reconcile(&mut running, bindings).await,
                Err(err) => tracing::warn!(error = %err, "cannot load Kafka bindings"),
            }
            if last_prune.elapsed() >= PRUNE_INTERVAL {
                last_prune = std::time::Instant::now();
                let retention =
                    i64::try_from(self.processed_retention.as_millis()).unwrap_or(i64::MAX);
                match self
                    .store
                    .prune_processed_events(now_ms().saturating_sub(retention))
                    .await
                {
                    Ok(pruned) if pruned > 0 => {
                        tracing::info!(pruned, "pruned processed-event marks")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "cannot prune processed-event marks"),
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.changed.notified() => {}
                () = tokio::time::sleep(self.reconcile_interval) => {}
            }
        }
        for (_, consumer) in running.drain() {
            consumer.stop.cancel();
            let _ = consumer.task.await;
        }
    }

    async fn reconcile(
        &self,
        running: &mut HashMap<BindingId, Running>,
        bindings: Vec<KafkaBinding>,
    ) {
        let wanted: HashMap<BindingId, KafkaBinding> =
            bindings.into_iter().map(|b| (b.id, b)).collect();
        let stale: Vec<BindingId> = running
            .iter()
            .filter(|(id, r)| wanted.get(id) != Some(&r.binding))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(consumer) = running.remove(&id) {
                consumer.stop.cancel();
                let _ = consumer.task.await;
                let (tenant, function, topic) = &consumer.labels;
                if !wanted.contains_key(&id) {
                    self.stats.remove(tenant, function, topic);
                }
            }
        }
        for (id, binding) in wanted {
            if running.contains_key(&id) {
                continue;
            }
            let tenant = match self.store.tenant(binding.tenant).await {
                Ok(Some(tenant)) => tenant,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot load the tenant of a Kafka binding");
                    continue;
                }
            };
            let labels = (
                tenant.name.to_string(),
                binding.function.to_string(),
                binding.topic.clone(),
            );
            let worker = Arc::new(BindingWorker {
                binding: binding.clone(),
                tenant: tenant.name,
                invoker: self.invoker.clone(),
                store: self.store.clone(),
                routes: self.routes.clone(),
                quotas: self.quotas.clone(),
                publisher: self.publisher.clone(),
                settings: self.settings.clone(),
                stats: self.stats.binding(&labels.0, &labels.1, &labels.2),
            });
            let stop = CancellationToken::new();
            let task = tokio::spawn(consumer::run(worker, stop.clone()));
            running.insert(
                id,
                Running {
                    binding,
                    labels,
                    stop,
                    task,
                },
            );
        }
    }
}

#[async_trait::async_trait]
impl geyser_core::EventBusControl for KafkaTrigger {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), String> {
        self.publisher.ensure_topic(topic, partitions).await
    }

    fn bindings_changed(&self) {
        self.changed.notify_one();
    }

    async fn reachable(&self) -> Result<(), String> {
        self.publisher.reachable().await
    }
}
