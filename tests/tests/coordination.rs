//! Two nodes on one PostgreSQL database, each caching routes and quotas for a minute: what is
//! changed through one reaches the other through `LISTEN/NOTIFY` at once, not after the cache
//! runs out — a deploy, a quota, a tenant disabled. The times measured are printed. A version
//! compiled by the node it was deployed through is loaded, not compiled, by the other.

use geyser_e2e::{Backend, TestServer, guest};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// Caches that polling alone would keep stale for a minute.
fn slow_polling(config: &mut geyser_runtime::config::Config) {
    config.http.route_cache_ms = 60_000;
    config.quotas.refresh_ms = 60_000;
}

/// Polls `check` until it holds; how long that took (failing after 10 s).
async fn until<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: not seen within 10 s"
        );
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_node_reach_the_other_at_once() {
    let a = TestServer::start(Backend::Postgres, slow_polling);
    let b = TestServer::join(&a, slow_polling);
    let (api_a, api_b) = (a.api(), b.api());
    let t = api_a.create_tenant("push").await;
    api_a.deploy_ok(&t, "f", "", guest("example_hello")).await;
    // B caches the route of version 1.
    let first = api_b.invoke(&t.name, "f", "/print?text=x").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_ne!(first.body, "printed");

    // A deploy through A: B answers with version 2 without waiting out its cache.
    api_a
        .deploy_ok(&t, "f", "", guest("geyser_fixture_probe"))
        .await;
    let deploy = until("the deploy on B", || async {
        api_b.invoke(&t.name, "f", "/print?text=x").await.body == "printed"
    })
    .await;

    // B loaded the version A compiled, from the database, instead of compiling it.
    assert_eq!(
        api_b.metric("geyser_compiles_total").await,
        0.0,
        "B compiled a version A had compiled"
    );

    // A rate quota set through A holds on B at once.
    let reply = api_a
        .put_json(
            &format!("/v1/quotas?tenant={}", t.name),
            &a.admin_key,
            json!({"rate_per_second": 1, "rate_burst": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let quota = until("the quota on B", || async {
        api_b.invoke(&t.name, "f", "/print?text=x").await.status == StatusCode::TOO_MANY_REQUESTS
    })
    .await;

    // Lifted through A, B admits the calls again.
    let reply = api_a
        .put_json(
            &format!("/v1/quotas?tenant={}", t.name),
            &a.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    until("the quota lifted on B", || async {
        let mut all = true;
        for _ in 0..3 {
            all &= api_b.invoke(&t.name, "f", "/print?text=x").await.status == StatusCode::OK;
        }
        all
    })
    .await;

    // A tenant disabled through A is refused by B at once.
    let reply = api_a
        .send(
            reqwest::Method::POST,
            &format!("/v1/tenants/{}/disable", t.name),
            Some(&a.admin_key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let disabled = until("the tenant disabled on B", || async {
        api_b.invoke(&t.name, "f", "/print?text=x").await.status != StatusCode::OK
    })
    .await;
    println!(
        "propagation through LISTEN/NOTIFY: deploy {:.1} ms, quota {:.1} ms, tenant disabled {:.1} ms",
        deploy.as_secs_f64() * 1e3,
        quota.as_secs_f64() * 1e3,
        disabled.as_secs_f64() * 1e3
    );
    // Polling would have taken a minute; a notification takes a round trip or two.
    for (what, took) in [("deploy", deploy), ("quota", quota), ("disable", disabled)] {
        assert!(took < Duration::from_secs(2), "{what} took {took:?}");
    }
}
