//! Shared by the store tests: one fresh store per backend.

use geyser_functions::{Store, TenantId, TenantName};
use geyser_test_support::fresh_postgres_database;

/// A new SQLite file and a new PostgreSQL database, each opened and migrated (the temp dir
/// keeps the SQLite file alive).
pub async fn stores() -> Vec<(Store, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("store.db").display()
    );
    vec![
        (Store::open(&sqlite, 8).await.unwrap(), dir),
        (
            Store::open(&fresh_postgres_database().await, 8)
                .await
                .unwrap(),
            tempfile::tempdir().unwrap(),
        ),
    ]
}

/// A new tenant named `name` in `store`.
pub async fn tenant(store: &Store, name: &str) -> TenantId {
    store
        .create_tenant(&TenantName::parse(name).unwrap())
        .await
        .unwrap()
        .tenant
        .id
}
