//! The kv store against real SQLite and PostgreSQL: atomicity under concurrency, CAS, limits,
//! tenant scoping.

use geyser_functions::KvError;

mod common;
use common::{stores, tenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_exact() {
    for (store, _dir) in stores().await {
        let t = tenant(&store, "inc").await;
        let tasks: Vec<_> = (0..200)
            .map(|i: i32| {
                let store = store.clone();
                let _ = i;
                tokio::spawn(async move { store.kv_increment(t, "n", 1).await })
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.unwrap().unwrap());
        }
        assert_eq!(
            store.kv_get(t, "n").await.unwrap(),
            Some(b"200".to_vec()),
            "{:?}",
            store.backend()
        );
        // Every intermediate value was returned to exactly one caller: no lost or doubled update.
        seen.sort_unstable();
        assert_eq!(seen, (1..=200).collect::<Vec<i64>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_cas_limits_and_scoping() {
    for (store, _dir) in stores().await {
        let a = tenant(&store, "a").await;
        let b = tenant(&store, "b").await;
        assert_eq!(store.kv_get(a, "k").await.unwrap(), None);
        store.kv_set(a, "k", b"v1").await.unwrap();
        assert_eq!(store.kv_get(a, "k").await.unwrap(), Some(b"v1".to_vec()));
        // Another tenant's namespace is separate.
        assert_eq!(store.kv_get(b, "k").await.unwrap(), None);
        store.kv_set(b, "k", b"theirs").await.unwrap();
        assert_eq!(store.kv_get(a, "k").await.unwrap(), Some(b"v1".to_vec()));

        assert!(
            !store
                .kv_compare_and_swap(a, "k", Some(b"nope"), b"v2")
                .await
                .unwrap()
        );
        assert!(
            store
                .kv_compare_and_swap(a, "k", Some(b"v1"), b"v2")
                .await
                .unwrap()
        );
        assert!(
            !store
                .kv_compare_and_swap(a, "k", None, b"v3")
                .await
                .unwrap()
        );
        assert!(
            store
                .kv_compare_and_swap(a, "fresh", None, b"x")
                .await
                .unwrap()
        );
        assert_eq!(store.kv_get(a, "k").await.unwrap(), Some(b"v2".to_vec()));

        assert!(matches!(
            store.kv_increment(a, "k", 1).await,
            Err(KvError::NotANumber(_))
        ));
        assert_eq!(store.kv_get(a, "k").await.unwrap(), Some(b"v2".to_vec()));
        assert_eq!(store.kv_increment(a, "c", 5).await.unwrap(), 5);
        assert_eq!(store.kv_increment(a, "c", -7).await.unwrap(), -2);

        for key in ["p/1", "p/2", "p/3", "q/1"] {
            store.kv_set(a, key, b"").await.unwrap();
        }
        assert_eq!(
            store.kv_list_keys(a, "p/", 10).await.unwrap(),
            ["p/1", "p/2", "p/3"]
        );
        assert_eq!(
            store.kv_list_keys(a, "p/", 2).await.unwrap(),
            ["p/1", "p/2"]
        );
        assert_eq!(
            store.kv_list_keys(b, "p/", 10).await.unwrap(),
            Vec::<String>::new()
        );

        assert!(store.kv_delete(a, "p/1").await.unwrap());
        assert!(!store.kv_delete(a, "p/1").await.unwrap());

        assert!(matches!(
            store.kv_set(a, "", b"x").await,
            Err(KvError::InvalidKey(0))
        ));
        let long = "k".repeat(257);
        assert!(matches!(
            store.kv_get(a, &long).await,
            Err(KvError::InvalidKey(257))
        ));
        let big = vec![0u8; (1 << 20) + 1];
        assert!(matches!(
            store.kv_set(a, "big", &big).await,
            Err(KvError::ValueTooLarge(_))
        ));
        store.kv_set(a, "max", &big[..1 << 20]).await.unwrap();
    }
}
