//! The node's ear for what other nodes change: a PostgreSQL `LISTEN geyser_changes` connection
//! whose notifications are applied to this node's caches as they arrive (deploys, rollbacks,
//! deletes, alias and configuration changes, tenant access, quotas, budgets, Kafka bindings).
//! Polling stays the fallback: after the connection is lost the node treats everything as
//! changed, and it tries again every second. On SQLite there is no other node to hear.

use geyser_functions::{Backend, Store};
use geyser_http::ChangeTargets;
use geyser_quotas::QuotaGuard;
use std::sync::Arc;
use std::time::Duration;

/// How often a node writes its heartbeat, and how long one counts.
const HEARTBEAT: Duration = Duration::from_secs(1);
const LEASE_MS: i64 = 3000;

/// Writes this node's heartbeat once and tells the quota guard how many live nodes share each
/// tenant's rate and concurrency quotas. On SQLite (one machine) there is nothing to share.
pub(crate) async fn heartbeat(store: &Store, quotas: &QuotaGuard, node: &str) {
    if store.backend() != Backend::Postgres {
        return;
    }
    match store.heartbeat(node, LEASE_MS).await {
        Ok(nodes) => quotas.set_cluster_nodes(nodes),
        Err(err) => tracing::warn!(error = %err, "writing the node's heartbeat failed"),
    }
}

/// [`heartbeat`] every second after the one `Node::start` wrote. A node that misses its
/// heartbeats for the lease drops out of the count; one that joins is counted by the others
/// within a heartbeat.
pub(crate) async fn keep_heartbeat(store: Store, quotas: Arc<QuotaGuard>, node: String) {
    if store.backend() != Backend::Postgres {
        return;
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        heartbeat(&store, &quotas, &node).await;
    }
}

pub(crate) async fn follow_changes(targets: ChangeTargets) {
    let mut connected_before = false;
    loop {
        match targets.store.listen_changes().await {
            Ok(None) => return,
            Ok(Some(mut listener)) => {
                tracing::info!("listening for changes made on other nodes");
                if connected_before {
                    targets.apply_all();
                }
                connected_before = true;
                loop {
                    match listener.next().await {
                        Ok(Some(change)) => {
                            tracing::debug!(change = %change.payload(), "change heard");
                            targets.apply(&change);
                        }
                        // Reconnected: what was announced meanwhile is unknown.
                        Ok(None) => targets.apply_all(),
                        Err(err) => {
                            tracing::warn!(error = %err, "change listener failed; polling until it is back");
                            break;
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for changes; polling until it can");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
