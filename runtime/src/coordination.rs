//! The node's ear for what other nodes change: a PostgreSQL `LISTEN geyser_changes` connection
//! whose notifications are applied to this node's caches as they arrive (deploys, rollbacks,
//! deletes, alias and configuration changes, tenant access, quotas, budgets, Kafka bindings).
//! Polling stays the fallback: after the connection is lost the node treats everything as
//! changed, and it tries again every second. On SQLite there is no other node to hear.

use geyser_http::ChangeTargets;
use std::time::Duration;

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
