//! Raw invocation records past their retention are pruned; the hourly rollups (usage,
//! statements) keep counting them. On SQLite and PostgreSQL.

use geyser_functions::{
    FunctionName, InvocationId, InvocationRecord, LogLine, Outcome, TriggerKind, Version, now_ms,
};

mod common;
use common::{stores, tenant};

/// A record that started at `at_ms`, with an id of that time (as `InvocationId::new` gives).
fn record(tenant: geyser_functions::TenantId, at_ms: i64) -> InvocationRecord {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(at_ms / 1000).unwrap(),
        u32::try_from(at_ms % 1000).unwrap() * 1_000_000,
    );
    InvocationRecord {
        id: InvocationId(uuid::Uuid::new_v7(ts)),
        tenant,
        function: FunctionName::parse("job").unwrap(),
        version: Version(1),
        trigger: TriggerKind::Cron,
        started_at_ms: at_ms,
        wall_ns: 2_000_000,
        cpu_ns: 1_000_000,
        peak_memory_bytes: 1 << 20,
        memory_limit_bytes: 64 << 20,
        outcome: Outcome::Ok,
        traceparent: None,
        outbound_requests: 0,
        outbound_bytes: 0,
        outbound_wait_ns: 0,
        http_status: None,
    }
}

#[tokio::test]
async fn pruning_keeps_the_rollups() {
    for (store, _dir) in stores().await {
        let tenant = tenant(&store, "prune").await;
        let day = 24 * 3_600_000;
        let now = now_ms();
        let records = [
            record(tenant, now - 40 * day),
            record(tenant, now - 31 * day),
            record(tenant, now),
        ];
        store.insert_invocations(&records).await.unwrap();
        let job = FunctionName::parse("job").unwrap();
        assert_eq!(
            store
                .recent_invocations(tenant, &job, 10)
                .await
                .unwrap()
                .len(),
            3
        );

        assert_eq!(store.prune_invocations(now - 30 * day).await.unwrap(), 2);
        let left = store.recent_invocations(tenant, &job, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].started_at_ms, now);
        let usage = store.usage(tenant).await.unwrap().totals();
        assert_eq!(usage.invocations, 3, "rollups still count pruned records");
        assert_eq!(usage.cpu_ns, 3_000_000);
        assert_eq!(store.prune_invocations(now - 30 * day).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn log_lines_past_retention_are_pruned() {
    for (store, _dir) in stores().await {
        let tenant = tenant(&store, "logprune").await;
        let day = 24 * 3_600_000;
        let now = now_ms();
        let job = FunctionName::parse("job").unwrap();
        let line = |at_ms: i64, message: &str| LogLine {
            tenant,
            function: job.clone(),
            invocation: InvocationId(uuid::Uuid::now_v7()),
            at_ms,
            level: "info".into(),
            message: message.into(),
        };
        store
            .insert_logs(&[
                line(now - 40 * day, "old"),
                line(now - 31 * day, "older than 30 days"),
                line(now, "new"),
            ])
            .await
            .unwrap();
        assert_eq!(store.prune_logs(now - 30 * day).await.unwrap(), 2);
        let left = store.recent_logs(tenant, &job, 10).await.unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].message, "new");
        assert_eq!(store.prune_logs(now - 30 * day).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_retried_batch_is_rolled_up_once() {
    for (store, _dir) in stores().await {
        let tenant = tenant(&store, "retry").await;
        let now = now_ms();
        let first = [record(tenant, now), record(tenant, now)];
        store.insert_invocations(&first).await.unwrap();
        // The writer's retry after an ambiguous commit sends the same batch again, with one
        // new record beside the two already stored.
        let retried = [first[0].clone(), first[1].clone(), record(tenant, now)];
        store.insert_invocations(&retried).await.unwrap();
        let usage = store.usage(tenant).await.unwrap().totals();
        assert_eq!(usage.invocations, 3, "each record is billed once");
        assert_eq!(usage.cpu_ns, 3_000_000);
        let job = FunctionName::parse("job").unwrap();
        let stored = store.recent_invocations(tenant, &job, 10).await.unwrap();
        assert_eq!(stored.len(), 3);
    }
}
