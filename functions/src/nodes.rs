//! Node heartbeats: each node of a cluster writes its row every second; the nodes seen within
//! a lease are the ones that share each tenant's rate and concurrency quotas.

use crate::{Result, Store, now_ms};

impl Store {
    /// Records that node `id` is alive now, forgets nodes silent for twice `lease_ms`, and
    /// answers how many nodes were seen within `lease_ms` (this one included).
    pub async fn heartbeat(&self, id: &str, lease_ms: i64) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO cluster_nodes (id, seen_at_ms) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET seen_at_ms = excluded.seen_at_ms",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM cluster_nodes WHERE seen_at_ms < $1")
            .bind(now - 2 * lease_ms)
            .execute(&mut *tx)
            .await?;
        let live: i64 =
            sqlx::query_scalar("SELECT COUNT(*) AS n FROM cluster_nodes WHERE seen_at_ms >= $1")
                .bind(now - lease_ms)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(u64::try_from(live).unwrap_or(1).max(1))
    }

    /// Node `id` stops: the others stop counting it at once.
    pub async fn leave(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM cluster_nodes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
