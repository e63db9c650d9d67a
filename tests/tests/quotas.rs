//! Quotas and fairness: deploy quotas, the request rate, tenant concurrency, load shedding of a
//! saturated node, and a noisy neighbour that must not starve another tenant.

use geyser_e2e::{Api, Backend, TestServer, TestTenant, guest};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A node whose invocations wait at most 300 ms for a tenant's (or the node's) slots.
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TestServer::start(Backend::Sqlite, |config| {
            config.engine.queue_timeout_ms = 300;
            // bench/noisy.sh compares long-guest throttling off (0) and on (unset: the default).
            if let Ok(slots) = std::env::var("GEYSER_BENCH_LONG_GUEST_SLOTS") {
                config.engine.long_guest_slots = slots.parse().ok();
            }
        })
    })
}

fn hello() -> Vec<u8> {
    guest("example_hello")
}

fn probe() -> Vec<u8> {
    guest("geyser_fixture_probe")
}

async fn set_quotas(api: &Api, tenant: &TestTenant, body: serde_json::Value) {
    let reply = api
        .put_json(
            &format!("/v1/quotas?tenant={}", tenant.name),
            &api.admin_key,
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Asserts a refusal's status and error code; returns its `Retry-After` in seconds.
fn refused(reply: &geyser_e2e::Reply, status: StatusCode, code: &str) -> u64 {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], code, "{}", reply.body);
    reply
        .headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", reply.headers))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_quotas_are_enforced_and_adjustable_by_the_admin() {
    let api = server().api();
    let t = api.create_tenant("deployq").await;
    let quotas = api.get("/v1/quotas", Some(&t.key)).await;
    assert_eq!(quotas.status, StatusCode::OK, "{}", quotas.body);
    let quotas = quotas.json();
    assert_eq!(quotas["quotas"]["max_functions"], 1000, "{quotas}");
    assert_eq!(quotas["quotas"]["max_concurrency"], 500);
    assert_eq!(
        quotas["overrides"]["max_functions"],
        serde_json::Value::Null
    );
    assert_eq!(quotas["used"]["functions"], 0);

    // Only the admin changes quotas; bad values change nothing.
    let path = format!("/v1/quotas?tenant={}", t.name);
    let reply = api
        .put_json(&path, &t.key, json!({"max_functions": 9}))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    for bad in [
        json!({"max_concurrency": 0}),
        json!({"rate_per_second": -1.0}),
        json!({"max_memory_mb": 100_000}),
        json!({"max_artifact_bytes": 0}),
        json!({"max_funtions": 2}),
        json!({"max_functions": "two"}),
    ] {
        let reply = api.put_json(&path, &api.admin_key, bad.clone()).await;
        // 400 for a value out of range, 422 for a body of the wrong shape.
        assert!(
            [400, 422].contains(&reply.status.as_u16()),
            "{bad}: {}",
            reply.body
        );
        assert!(!reply.error_message().is_empty());
    }
    let unchanged = api.get("/v1/quotas", Some(&t.key)).await.json();
    assert_eq!(unchanged["quotas"]["max_functions"], 1000, "{unchanged}");

    set_quotas(&api, &t, json!({"max_functions": 2, "max_memory_mb": 100})).await;
    // The default memory limit (128 MiB) is above this tenant's quota.
    let reply = api.deploy(&t, "a", "", hello()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    api.deploy_ok(&t, "a", "?memory_mb=64", hello()).await;
    api.deploy_ok(&t, "b", "?memory_mb=100", hello()).await;
    let reply = api.deploy(&t, "c", "?memory_mb=64", hello()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "quota_exceeded");
    assert!(
        reply.error_message().contains("quota is 2"),
        "{}",
        reply.body
    );
    // A new version of an existing function is not a new function.
    assert_eq!(api.deploy_ok(&t, "a", "?memory_mb=64", hello()).await, 2);
    let reply = api.deploy(&t, "b", "?memory_mb=101", hello()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(reply.error_message().contains("100 MiB"), "{}", reply.body);

    let bytes = hello();
    set_quotas(&api, &t, json!({"max_artifact_bytes": bytes.len() - 1})).await;
    let reply = api.deploy(&t, "a", "", bytes.clone()).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );

    let report = api.get("/v1/quotas", Some(&t.key)).await.json();
    assert_eq!(report["used"]["functions"], 2, "{report}");
    assert_eq!(report["quotas"]["max_artifact_bytes"], bytes.len() - 1);
    // Overrides replace each other wholesale: max_functions is back to the default.
    assert_eq!(report["quotas"]["max_functions"], 1000);
    set_quotas(&api, &t, json!({})).await;
    api.deploy_ok(&t, "c", "", bytes).await;
    let functions = api.get("/v1/functions", Some(&t.key)).await.json();
    assert_eq!(functions.as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_beyond_the_bucket_gets_429_with_retry_after() {
    let api = server().api();
    let t = api.create_tenant("rate").await;
    let other = api.create_tenant("rate-other").await;
    api.deploy_ok(&t, "hello", "", hello()).await;
    api.deploy_ok(&other, "hello", "", hello()).await;
    set_quotas(&api, &t, json!({"rate_per_second": 0.2, "rate_burst": 3})).await;

    for _ in 0..3 {
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    let reply = api.invoke(&t.name, "hello", "/").await;
    // One token every 5 s.
    let wait = refused(&reply, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    // Another tenant has its own bucket.
    for _ in 0..5 {
        assert_eq!(
            api.invoke(&other.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    // Refusals are not billed: three invocations recorded.
    let usage = api.usage_when(&t.key, 3).await;
    assert_eq!(usage["totals"]["invocations"], 3, "{usage}");
    assert!(
        api.metric("geyser_quota_refusals_total{reason=\"rate\"}")
            .await
            >= 1.0
    );
    let metrics = api.get("/metrics", Some(&api.admin_key)).await.body;
    assert!(
        metrics.contains(&format!(
            "geyser_tenant_quota{{tenant=\"{}\",quota=\"rate_per_second\"}} 0.2",
            t.name
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_concurrency_limit_waits_then_gets_429_and_others_are_served() {
    let api = server().api();
    let t = api.create_tenant("conc").await;
    let other = api.create_tenant("conc-other").await;
    api.deploy_ok(&t, "probe", "?timeout_ms=3000", probe())
        .await;
    api.deploy_ok(&other, "hello", "", hello()).await;
    set_quotas(&api, &t, json!({"max_concurrency": 2})).await;

    // Two endless loops hold the tenant's two slots until their 3 s timeout.
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let api = api.clone();
            let name = t.name.clone();
            tokio::spawn(async move { api.invoke(&name, "probe", "/loop").await.status })
        })
        .collect();
    let report = geyser_e2e::eventually("two loops running", Duration::from_secs(5), || {
        let api = api.clone();
        let key = t.key.clone();
        async move {
            let report = api.get("/v1/quotas", Some(&key)).await.json();
            (report["used"]["in_flight"] == 2).then_some(report)
        }
    })
    .await;
    assert_eq!(report["quotas"]["max_concurrency"], 2);

    let start = Instant::now();
    let reply = api.invoke(&t.name, "probe", "/").await;
    let wait = refused(&reply, StatusCode::TOO_MANY_REQUESTS, "concurrency_limited");
    assert_eq!(wait, 1);
    // It waited for the queue timeout (300 ms), not for the loops.
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
    // Another tenant is not affected.
    assert_eq!(
        api.invoke(&other.name, "hello", "/").await.status,
        StatusCode::OK
    );

    for handle in loops {
        assert_eq!(handle.await.unwrap(), StatusCode::GATEWAY_TIMEOUT);
    }
    // Slots are free again.
    assert_eq!(
        api.invoke(&t.name, "probe", "/").await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_node_sheds_load_with_503_and_retry_after() {
    let node = TestServer::start(Backend::Sqlite, |config| {
        config.engine.max_instances = 2;
        config.engine.max_queued = 1;
        config.engine.queue_timeout_ms = 5000;
    });
    let api = node.api();
    let t = api.create_tenant("shed").await;
    api.deploy_ok(&t, "probe", "?timeout_ms=2000", probe())
        .await;
    let busy: Vec<_> = (0..3)
        .map(|_| {
            let api = api.clone();
            let name = t.name.clone();
            tokio::spawn(async move { api.invoke(&name, "probe", "/loop").await.status })
        })
        .collect();
    // Two run, one waits in the queue (its single place).
    geyser_e2e::eventually("queue full", Duration::from_secs(5), || {
        let api = api.clone();
        async move { (api.metric("geyser_queued_invocations").await >= 1.0).then_some(()) }
    })
    .await;
    let start = Instant::now();
    let reply = api.invoke(&t.name, "probe", "/").await;
    assert_eq!(
        refused(&reply, StatusCode::SERVICE_UNAVAILABLE, "saturated"),
        1
    );
    // Shed at once, not after the queue timeout.
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    let mut statuses: Vec<u16> = Vec::new();
    for handle in busy {
        statuses.push(handle.await.unwrap().as_u16());
    }
    statuses.sort_unstable();
    // The queued one ran after a loop ended, and timed out like the others.
    assert_eq!(statuses, [504, 504, 504]);
    assert_eq!(
        api.invoke(&t.name, "probe", "/").await.status,
        StatusCode::OK
    );
}

/// While tenant A runs endless loops and memory bombs at its concurrency limit, tenant B's
/// hello keeps answering: never an error, never anywhere near its timeout. The latencies are
/// printed; `bench/noisy.sh` records the ratio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_neighbour_does_not_starve_another_tenant() {
    let api = server().api();
    let a = api.create_tenant("noisy").await;
    let b = api.create_tenant("quiet").await;
    api.deploy_ok(&a, "probe", "?timeout_ms=1000&memory_mb=64", probe())
        .await;
    api.deploy_ok(&b, "hello", "", hello()).await;
    set_quotas(&api, &a, json!({"max_concurrency": 4})).await;

    async fn latencies(api: &Api, b: &TestTenant, calls: usize) -> Vec<Duration> {
        let mut out = Vec::with_capacity(calls);
        for _ in 0..calls {
            let start = Instant::now();
            let reply = api.invoke(&b.name, "hello", "/").await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            out.push(start.elapsed());
        }
        out.sort_unstable();
        out
    }
    let quiet = latencies(&api, &b, 100).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (0..8)
        .map(|i| {
            let api = api.clone();
            let name = a.name.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let path = if i % 2 == 0 { "/loop" } else { "/grow" };
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    statuses.push(api.invoke(&name, "probe", path).await.status.as_u16());
                }
                statuses
            })
        })
        .collect();
    geyser_e2e::eventually("the attack at its limit", Duration::from_secs(10), || {
        let api = api.clone();
        let key = a.key.clone();
        async move {
            let report = api.get("/v1/quotas", Some(&key)).await.json();
            (report["used"]["in_flight"] == 4).then_some(())
        }
    })
    .await;
    let noisy = latencies(&api, &b, 100).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses: Vec<u16> = Vec::new();
    for attacker in attackers {
        statuses.extend(attacker.await.unwrap());
    }

    let p = |v: &[Duration], q: f64| v[((v.len() as f64 * q).ceil() as usize).min(v.len()) - 1];
    println!(
        "tenant B hello over {} calls: quiet p50 {:?} p99 {:?}; under attack p50 {:?} p99 {:?} (ratio p99 {:.2})",
        noisy.len(),
        p(&quiet, 0.5),
        p(&quiet, 0.99),
        p(&noisy, 0.5),
        p(&noisy, 0.99),
        p(&noisy, 0.99).as_secs_f64() / p(&quiet, 0.99).as_secs_f64()
    );
    // Never starved beyond its timeout (10 s); in practice far below.
    assert!(p(&noisy, 1.0) < Duration::from_secs(5), "{noisy:?}");
    // The attack really ran: loops timed out, bombs hit their limit, the rest waited for A's
    // own slots and were refused.
    assert!(statuses.contains(&504), "{statuses:?}");
    assert!(statuses.contains(&500), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [429, 500, 504].contains(s)),
        "{statuses:?}"
    );
}

/// kv abuse: a tenant at its key quota cannot create more keys (writes to existing keys still
/// work), oversized keys are refused, and the refusals reach the guest with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_keys_beyond_the_quota_and_oversized_keys_are_refused() {
    let api = server().api();
    let t = api.create_tenant("kvq").await;
    api.deploy_ok(&t, "counter", "", guest("example_event_counter"))
        .await;
    set_quotas(&api, &t, json!({"max_kv_keys": 5})).await;
    let event = |key: String| {
        let api = api.clone();
        let tenant = t.clone();
        async move {
            api.send(
                reqwest::Method::POST,
                &format!("/v1/functions/counter/events?key={key}"),
                Some(&tenant.key),
                Some(b"x".to_vec()),
            )
            .await
        }
    };
    // Each new record key makes one kv key (`count:<key>`).
    for i in 0..5 {
        let reply = event(format!("k{i}")).await;
        assert_eq!(reply.status, StatusCode::OK, "k{i}: {}", reply.body);
    }
    for i in 5..10 {
        let reply = event(format!("k{i}")).await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            reply.body
        );
        assert!(
            reply.error_message().contains("kv quota exceeded"),
            "{}",
            reply.body
        );
    }
    // Existing keys can still be written.
    assert_eq!(event("k0".into()).await.status, StatusCode::OK);
    let count = api.invoke(&t.name, "counter", "/counts/k0").await;
    assert_eq!(count.body, "2");
    // A key over 256 bytes is refused whatever the quota.
    let reply = event("x".repeat(300)).await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    assert!(
        reply.error_message().contains("key must be"),
        "{}",
        reply.body
    );

    let report = api.get("/v1/quotas", Some(&t.key)).await.json();
    assert_eq!(report["used"]["kv_keys"], 5, "{report}");
    assert_eq!(report["quotas"]["max_kv_keys"], 5);
    assert!(
        api.metric("geyser_quota_refusals_total{reason=\"kv_keys\"}")
            .await
            >= 5.0
    );
    // Raising the quota lets the tenant grow again.
    set_quotas(&api, &t, json!({"max_kv_keys": 6})).await;
    assert_eq!(event("k5".into()).await.status, StatusCode::OK);
    assert_eq!(
        event("k6".into()).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
