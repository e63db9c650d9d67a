//! The node key's check value: the first node stores it, every later start compares.

use crate::{Result, Store};
use geyser_core::SealedSecret;

/// The one row of `secret_key_check`.
const SECRET_KEY_CHECK_ID: i64 = 1;

impl Store {
    /// The check value this database keeps for the node key: `candidate` if there was none
    /// (it is stored), else the one stored by the first node that started on it.
    pub async fn secret_key_check(&self, candidate: &SealedSecret) -> Result<SealedSecret> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO secret_key_check (id, sealed) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(SECRET_KEY_CHECK_ID)
        .bind(&candidate.0)
        .execute(&mut *tx)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT sealed FROM secret_key_check WHERE id = $1")
                .bind(SECRET_KEY_CHECK_ID)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(SealedSecret(stored))
    }
}
