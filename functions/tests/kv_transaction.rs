//! A delivery's kv transaction against real SQLite and PostgreSQL: it sees its own writes, the
//! store sees none of them before the commit and all after, a batch's failed event is undone
//! alone (its processed mark with it), and a transaction too big to buffer still commits whole.

use geyser_functions::{BindingId, Error, KvError, MAX_VALUE_BYTES, Store, TenantId};

mod common;
use common::{stores, tenant};

async fn stored(store: &Store, tenant: TenantId, key: &str) -> Option<Vec<u8>> {
    store.kv_get(tenant, key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_sees_its_writes_and_the_store_sees_them_at_commit() {
    for (store, _dir) in stores().await {
        let t = tenant(&store, "tx").await;
        let other = tenant(&store, "other").await;
        store.kv_set(t, "n", b"41").await.unwrap();
        store.kv_set(t, "p:old", b"x").await.unwrap();
        store.kv_set(t, "zero", b"007").await.unwrap();
        store.kv_set(other, "p:theirs", b"x").await.unwrap();

        let mut kv = store.kv_transaction();
        assert_eq!(kv.increment(t, "n", 1).await.unwrap(), 42);
        assert_eq!(kv.increment(t, "n", -2).await.unwrap(), 40);
        assert_eq!(kv.get(t, "n").await.unwrap(), Some(b"40".to_vec()));
        assert!(matches!(
            kv.increment(t, "zero", 1).await,
            Err(KvError::NotANumber(_))
        ));
        kv.set(t, "p:new", b"v").await.unwrap();
        assert!(kv.delete(t, "p:old").await.unwrap());
        assert!(!kv.delete(t, "p:old").await.unwrap());
        assert!(!kv.compare_and_swap(t, "p:new", None, b"w").await.unwrap());
        assert!(
            kv.compare_and_swap(t, "p:new", Some(b"v"), b"w")
                .await
                .unwrap()
        );
        assert!(kv.compare_and_swap(t, "p:cas", None, b"c").await.unwrap());
        assert_eq!(kv.list_keys(t, "p:", 10).await.unwrap(), ["p:cas", "p:new"]);
        assert_eq!(kv.list_keys(t, "p:", 1).await.unwrap(), ["p:cas"]);
        assert!(matches!(
            kv.set(t, "big", &vec![0; MAX_VALUE_BYTES + 1]).await,
            Err(KvError::ValueTooLarge(_))
        ));
        assert!(matches!(
            kv.increment(t, "", 1).await,
            Err(KvError::InvalidKey(0))
        ));

        // Nothing is visible outside before the commit.
        assert_eq!(stored(&store, t, "n").await, Some(b"41".to_vec()));
        assert_eq!(stored(&store, t, "p:new").await, None);
        kv.commit().await.unwrap();

        assert_eq!(stored(&store, t, "n").await, Some(b"40".to_vec()));
        assert_eq!(stored(&store, t, "p:new").await, Some(b"w".to_vec()));
        assert_eq!(stored(&store, t, "p:cas").await, Some(b"c".to_vec()));
        assert_eq!(stored(&store, t, "p:old").await, None);
        assert_eq!(stored(&store, t, "zero").await, Some(b"007".to_vec()));
        assert_eq!(
            store.kv_list_keys(other, "p:", 10).await.unwrap(),
            ["p:theirs"]
        );
        // The store's own increment agrees with what the transaction wrote.
        assert_eq!(store.kv_increment(t, "n", 2).await.unwrap(), 42);

        // A dropped transaction leaves nothing.
        let mut kv = store.kv_transaction();
        kv.set(t, "dropped", b"1").await.unwrap();
        drop(kv);
        assert_eq!(stored(&store, t, "dropped").await, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_is_undone_alone_with_its_mark() {
    for (store, _dir) in stores().await {
        let t = tenant(&store, "batch").await;
        let binding = BindingId(3);
        let mut kv = store.kv_transaction();
        assert!(store.commit_event(kv, binding, "topic/0/0").await.unwrap());

        kv = store.kv_transaction();
        let ids: Vec<String> = (0..3).map(|n| format!("topic/0/{n}")).collect();
        let processed = store.processed_among(&mut kv, binding, &ids).await.unwrap();
        // SQLite asks once for the batch; PostgreSQL leaves it to each mark's insert.
        let expected: &[&str] = match store.backend() {
            geyser_functions::Backend::Sqlite => &["topic/0/0"],
            geyser_functions::Backend::Postgres => &[],
        };
        assert_eq!(processed.into_iter().collect::<Vec<_>>(), expected);

        kv.begin_event().await.unwrap();
        assert!(!store.mark_event(&mut kv, binding, &ids[0]).await.unwrap());
        kv.keep_event().await.unwrap();

        kv.begin_event().await.unwrap();
        assert!(store.mark_event(&mut kv, binding, &ids[1]).await.unwrap());
        assert_eq!(kv.increment(t, "count", 1).await.unwrap(), 1);
        kv.set(t, "last", b"1").await.unwrap();
        kv.keep_event().await.unwrap();

        kv.begin_event().await.unwrap();
        assert!(store.mark_event(&mut kv, binding, &ids[2]).await.unwrap());
        assert!(!store.mark_event(&mut kv, binding, &ids[2]).await.unwrap());
        assert_eq!(kv.increment(t, "count", 1).await.unwrap(), 2);
        kv.set(t, "last", b"2").await.unwrap();
        kv.set(t, "only-failed", b"x").await.unwrap();
        kv.undo_event().await.unwrap();

        assert_eq!(kv.get(t, "count").await.unwrap(), Some(b"1".to_vec()));
        kv.commit().await.unwrap();
        assert_eq!(stored(&store, t, "count").await, Some(b"1".to_vec()));
        assert_eq!(stored(&store, t, "last").await, Some(b"1".to_vec()));
        assert_eq!(stored(&store, t, "only-failed").await, None);
        assert!(store.event_processed(binding, &ids[1]).await.unwrap());
        assert!(!store.event_processed(binding, &ids[2]).await.unwrap());
        // A later delivery of the kept event is a duplicate.
        assert!(
            !store
                .commit_event(store.kv_transaction(), binding, &ids[1])
                .await
                .unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_too_big_to_buffer_commits_whole() {
    for (store, _dir) in stores().await {
        let t = tenant(&store, "big").await;
        let value = vec![b'v'; MAX_VALUE_BYTES];
        let mut kv = store.kv_transaction();
        kv.set(t, "before", b"kept").await.unwrap();
        kv.begin_event().await.unwrap();
        for n in 0..10 {
            kv.set(t, &format!("big{n}"), &value).await.unwrap();
        }
        assert_eq!(
            kv.get(t, "big9").await.unwrap().map(|v| v.len()),
            Some(value.len())
        );
        assert_eq!(kv.list_keys(t, "big", 20).await.unwrap().len(), 10);
        match store.backend() {
            // Its writes went to the database during the event: only the whole transaction
            // can take them back.
            geyser_functions::Backend::Sqlite => {
                assert!(matches!(kv.undo_event().await, Err(Error::EventWrittenOut)));
                drop(kv);
                assert_eq!(stored(&store, t, "before").await, None);
                assert_eq!(stored(&store, t, "big0").await, None);
            }
            geyser_functions::Backend::Postgres => {
                kv.keep_event().await.unwrap();
                kv.commit().await.unwrap();
                assert_eq!(stored(&store, t, "before").await, Some(b"kept".to_vec()));
                assert_eq!(stored(&store, t, "big9").await, Some(value.clone()));
            }
        }
        let mut kv = store.kv_transaction();
        for n in 0..10 {
            kv.set(t, &format!("big{n}"), &value).await.unwrap();
        }
        kv.set(t, "after", b"1").await.unwrap();
        kv.commit().await.unwrap();
        assert_eq!(stored(&store, t, "big0").await, Some(value.clone()));
        assert_eq!(stored(&store, t, "after").await, Some(b"1".to_vec()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_one_statement_checks_and_commits_every_mark() {
    for (store, _dir) in stores().await {
        let t = tenant(&store, "many").await;
        let binding = BindingId(9);
        let ids: Vec<String> = (0..150).map(|n| format!("big/1/{n}")).collect();
        for done in [&ids[5], &ids[70], &ids[140]] {
            assert!(
                store
                    .commit_event(store.kv_transaction(), binding, done)
                    .await
                    .unwrap()
            );
        }
        let mut kv = store.kv_transaction();
        let processed = store.processed_among(&mut kv, binding, &ids).await.unwrap();
        let expected = match store.backend() {
            geyser_functions::Backend::Sqlite => 3,
            geyser_functions::Backend::Postgres => 0,
        };
        assert_eq!(processed.len(), expected, "{processed:?}");
        let mut fresh = 0;
        for id in &ids {
            kv.begin_event().await.unwrap();
            if store.mark_event(&mut kv, binding, id).await.unwrap() {
                fresh += 1;
                kv.increment(t, &format!("k{}", fresh % 40), 1)
                    .await
                    .unwrap();
            }
            kv.keep_event().await.unwrap();
        }
        assert_eq!(fresh, 147);
        kv.commit().await.unwrap();
        for id in &ids {
            assert!(store.event_processed(binding, id).await.unwrap(), "{id}");
        }
        let mut total = 0;
        for k in 0..40 {
            if let Some(v) = stored(&store, t, &format!("k{k}")).await {
                total += String::from_utf8(v).unwrap().parse::<i64>().unwrap();
            }
        }
        assert_eq!(total, 147);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffer_that_fails_to_write_out_cannot_commit() {
    let (store, dir) = stores().await.remove(0);
    assert_eq!(store.backend(), geyser_functions::Backend::Sqlite);
    let t = tenant(&store, "poisoned").await;
    // A fault the database raises while the buffer is written out during the transaction.
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON kv WHEN NEW.key = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);

    let value = vec![b'v'; MAX_VALUE_BYTES];
    let mut kv = store.kv_transaction();
    kv.set(t, "poison", b"x").await.unwrap();
    let mut refused = None;
    for n in 0..10 {
        if let Err(err) = kv.set(t, &format!("big{n}"), &value).await {
            refused = Some(err);
            break;
        }
    }
    assert!(matches!(refused, Some(KvError::Backend(_))), "{refused:?}");
    // A guest that ignored the error cannot commit the writes that did go out.
    assert!(matches!(kv.commit().await, Err(Error::WriteFailed)));
    assert_eq!(stored(&store, t, "big0").await, None);
}

/// The SQLite store of `stores()` (optimistic batches exist only there).
async fn sqlite() -> (Store, tempfile::TempDir) {
    let (store, dir) = stores().await.remove(0);
    assert_eq!(store.backend(), geyser_functions::Backend::Sqlite);
    (store, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optimistic_batch_commits_only_if_what_it_read_is_unchanged() {
    let (store, _dir) = sqlite().await;
    let t = tenant(&store, "optimist").await;
    let binding = BindingId(4);
    store.kv_set(t, "seen", b"1").await.unwrap();
    store.kv_set(t, "p:a", b"1").await.unwrap();

    // Changed value, created key, changed listing: each stops the commit, nothing lands.
    for change in ["value", "created", "listed"] {
        let mut kv = store.kv_batch_transaction();
        let ids = vec![format!("{change}/0/0")];
        assert!(
            store
                .processed_among(&mut kv, binding, &ids)
                .await
                .unwrap()
                .is_empty()
        );
        kv.begin_event().await.unwrap();
        assert!(store.mark_event(&mut kv, binding, &ids[0]).await.unwrap());
        assert_eq!(kv.increment(t, "seen", 1).await.unwrap(), 2);
        assert_eq!(kv.get(t, "absent").await.unwrap(), None);
        assert_eq!(kv.list_keys(t, "p:", 10).await.unwrap(), ["p:a"]);
        kv.set(t, "written", b"w").await.unwrap();
        kv.keep_event().await.unwrap();
        // Another writer, while the batch runs (it holds no lock).
        match change {
            "value" => store.kv_set(t, "seen", b"5").await.unwrap(),
            "created" => store.kv_set(t, "absent", b"now").await.unwrap(),
            _ => store.kv_set(t, "p:b", b"1").await.unwrap(),
        }
        assert!(
            matches!(kv.commit().await, Err(Error::ReadsChanged)),
            "{change}"
        );
        assert_eq!(stored(&store, t, "written").await, None, "{change}");
        assert!(!store.event_processed(binding, &ids[0]).await.unwrap());
        store.kv_delete(t, "absent").await.unwrap();
        store.kv_delete(t, "p:b").await.unwrap();
        store.kv_set(t, "seen", b"1").await.unwrap();
    }

    // A write to a key it did not read does not stop it.
    let mut kv = store.kv_batch_transaction();
    assert_eq!(kv.increment(t, "seen", 1).await.unwrap(), 2);
    store.kv_set(t, "elsewhere", b"x").await.unwrap();
    kv.commit().await.unwrap();
    assert_eq!(stored(&store, t, "seen").await, Some(b"2".to_vec()));

    // A mark that appeared meanwhile fails the commit: the event is not processed twice.
    let mut kv = store.kv_batch_transaction();
    let ids = vec!["race/0/0".to_owned()];
    assert!(
        store
            .processed_among(&mut kv, binding, &ids)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.mark_event(&mut kv, binding, &ids[0]).await.unwrap());
    kv.increment(t, "raced", 1).await.unwrap();
    assert!(
        store
            .commit_event(store.kv_transaction(), binding, &ids[0])
            .await
            .unwrap()
    );
    assert!(kv.commit().await.is_err());
    assert_eq!(stored(&store, t, "raced").await, None);

    // Read only: nothing to lock or commit.
    let mut kv = store.kv_batch_transaction();
    assert_eq!(kv.get(t, "seen").await.unwrap(), Some(b"2".to_vec()));
    store.kv_set(t, "seen", b"3").await.unwrap();
    kv.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimistic_batches_run_side_by_side_and_lose_no_increment() {
    let (store, _dir) = sqlite().await;
    let t = tenant(&store, "side").await;
    // Two batches open at once (neither holds the write lock while it runs), each counting
    // its own key and both a shared one: one of them finds the shared key changed.
    let mut first = store.kv_batch_transaction();
    let mut second = store.kv_batch_transaction();
    first.increment(t, "first", 1).await.unwrap();
    second.increment(t, "second", 1).await.unwrap();
    first.increment(t, "shared", 1).await.unwrap();
    second.increment(t, "shared", 1).await.unwrap();
    first.commit().await.unwrap();
    assert!(matches!(second.commit().await, Err(Error::ReadsChanged)));
    assert_eq!(stored(&store, t, "shared").await, Some(b"1".to_vec()));
    assert_eq!(stored(&store, t, "second").await, None);

    // Disjoint keys: both commit.
    let mut first = store.kv_batch_transaction();
    let mut second = store.kv_batch_transaction();
    first.increment(t, "first", 1).await.unwrap();
    second.increment(t, "second", 1).await.unwrap();
    second.commit().await.unwrap();
    first.commit().await.unwrap();
    assert_eq!(stored(&store, t, "first").await, Some(b"2".to_vec()));
    assert_eq!(stored(&store, t, "second").await, Some(b"1".to_vec()));
}
