//! The ticket-reservation example end to end: a burst sale from zero that never oversells (one
//! node and two nodes on one PostgreSQL), idempotent retries, hold expiry, confirmation,
//! release, and kv isolation between tenants.

use geyser_e2e::{Api, Backend, TestServer, TestTenant, Upstream, guest};
use geyser_functions::{Store, TenantName};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn tickets() -> Vec<u8> {
    guest("example_ticket_reservation")
}

/// A node sized for a burst: requests beyond the instance pool wait instead of being shed.
fn burst_server(backend: Backend) -> TestServer {
    TestServer::start(backend, |c| {
        c.engine.idle_ttl_ms = 300;
        c.engine.queue_timeout_ms = 120_000;
    })
}

async fn create_event(api: &Api, t: &TestTenant, seats: u32, hold_seconds: u32) -> String {
    let body = json!({
        "name": "Live",
        "date": "2026-12-31T20:00:00Z",
        "hold_seconds": hold_seconds,
        "tiers": [
            {"name": "standard", "seats": seats, "price_cents": 5000},
            {"name": "premium", "seats": 20, "price_cents": 20000}
        ]
    });
    let reply = api
        .post_json(&format!("/fn/{}/tickets/events", t.name), &t.key, body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()["id"].as_str().unwrap().to_owned()
}

async fn reserve(
    api: &Api,
    tenant: &str,
    event: &str,
    tier: &str,
    quantity: u32,
    idem: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = api
        .http
        .post(format!(
            "{}/fn/{tenant}/tickets/events/{event}/reservations",
            api.base
        ))
        .json(&json!({"tier": tier, "quantity": quantity}));
    if let Some(key) = idem {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("reservation request");
    let status = response.status();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

async fn available(api: &Api, tenant: &str, event: &str, tier: &str) -> i64 {
    let reply = api
        .get(&format!("/fn/{tenant}/tickets/events/{event}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let event = reply.json();
    event["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tier)
        .unwrap()["available"]
        .as_i64()
        .unwrap()
}

async fn wait_until_scaled_to_zero(api: &Api) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.metric("geyser_resident_functions").await > 0.0 {
        assert!(Instant::now() < deadline, "function never scaled to zero");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fires `n` concurrent one-seat reservations, spread over `apis` round-robin; returns how many
/// got 201 and how many 409, and fails on anything else.
async fn burst(apis: &[Api], tenant: &str, event: &str, n: usize) -> (usize, usize) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let api = apis[i % apis.len()].clone();
            let (tenant, event) = (tenant.to_owned(), event.to_owned());
            tokio::spawn(async move { reserve(&api, &tenant, &event, "standard", 1, None).await })
        })
        .collect();
    let (mut held, mut sold_out) = (0, 0);
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => held += 1,
            StatusCode::CONFLICT => {
                assert!(body["available"].as_i64().unwrap() >= 0, "{body}");
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    (held, sold_out)
}

/// The tier's taken-seats counter, read straight from the database.
async fn taken_in_store(database_url: &str, tenant: &str, event: &str) -> String {
    let store = Store::open(database_url, 1).await.unwrap();
    let tenant = store
        .tenant_by_name(&TenantName::parse(tenant).unwrap())
        .await
        .unwrap();
    let value = store
        .kv_get(tenant.id, &format!("events/{event}/taken/standard"))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(value).unwrap()
}

async fn burst_sale_from_zero(backend: Backend) {
    let server = burst_server(backend);
    let api = server.api();
    let t = api.create_tenant("sale").await;
    api.deploy_ok(&t, "tickets", "?timeout_ms=60000", tickets())
        .await;
    let event = create_event(&api, &t, 500, 600).await;
    wait_until_scaled_to_zero(&api).await;

    let (held, sold_out) = burst(std::slice::from_ref(&api), &t.name, &event, 2000).await;
    assert_eq!((held, sold_out), (500, 1500));
    assert_eq!(available(&api, &t.name, &event, "standard").await, 0);
    assert_eq!(
        taken_in_store(&server.database_url, &t.name, &event).await,
        "500"
    );

    // create + 2000 reservations + 1 read
    let usage = api.usage_when(&t.key, 2002).await;
    assert_eq!(usage["totals"]["errors"], 0, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_2000_from_zero_sells_exactly_500_sqlite() {
    burst_sale_from_zero(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_2000_from_zero_sells_exactly_500_postgres() {
    burst_sale_from_zero(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_split_across_two_nodes_sells_exactly_500() {
    let first = burst_server(Backend::Postgres);
    let second = TestServer::join(&first, |c| c.engine.queue_timeout_ms = 120_000);
    let apis = [first.api(), second.api()];
    let t = apis[0].create_tenant("twonodes").await;
    apis[0]
        .deploy_ok(&t, "tickets", "?timeout_ms=60000", tickets())
        .await;
    let event = create_event(&apis[0], &t, 500, 600).await;

    let (held, sold_out) = burst(&apis, &t.name, &event, 2000).await;
    assert_eq!((held, sold_out), (500, 1500));
    assert_eq!(available(&apis[1], &t.name, &event, "standard").await, 0);
    assert_eq!(
        taken_in_store(&first.database_url, &t.name, &event).await,
        "500"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_expiry_confirm_release_and_isolation() {
    let server = TestServer::start(Backend::Sqlite, |_| {});
    let api = server.api();
    let t = api.create_tenant("flow").await;
    api.deploy_ok(&t, "tickets", "", tickets()).await;

    // Only the owner creates events.
    let anonymous = api
        .http
        .post(format!("{}/fn/{}/tickets/events", api.base, t.name))
        .json(&json!({"name": "x", "date": "d", "tiers": [{"name": "a", "seats": 1, "price_cents": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let bad = api
        .post_json(
            &format!("/fn/{}/tickets/events", t.name),
            &t.key,
            json!({"name": "x", "date": "d", "tiers": []}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let event = create_event(&api, &t, 3, 1).await;

    // Idempotent retry: same reservation, no extra seat.
    let (s1, r1) = reserve(&api, &t.name, &event, "standard", 1, Some("order-1")).await;
    let (s2, r2) = reserve(&api, &t.name, &event, "standard", 1, Some("order-1")).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(r1["id"], r2["id"]);
    assert_eq!(r1["status"], "held");
    assert_eq!(available(&api, &t.name, &event, "standard").await, 2);

    // Bad input.
    let (status, body) = reserve(&api, &t.name, &event, "balcony", 1, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = reserve(&api, &t.name, &event, "standard", 0, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let missing = api
        .get(&format!("/fn/{}/tickets/events/nope", t.name), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Confirm one hold right away; let the other expire.
    let (_, r3) = reserve(&api, &t.name, &event, "standard", 2, None).await;
    assert_eq!(available(&api, &t.name, &event, "standard").await, 0);
    let (status, body) = reserve(&api, &t.name, &event, "standard", 1, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["available"], 0);
    let confirm = api
        .send(
            reqwest::Method::POST,
            &format!(
                "/fn/{}/tickets/reservations/{}/confirm",
                t.name,
                r1["id"].as_str().unwrap()
            ),
            None,
            None,
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert_eq!(confirm.json()["status"], "confirmed");

    // The unconfirmed 2-seat hold expires after 1 s and its seats come back; the confirmed one
    // stays sold.
    let deadline = Instant::now() + Duration::from_secs(10);
    while available(&api, &t.name, &event, "standard").await != 2 {
        assert!(
            Instant::now() < deadline,
            "expired hold never returned its seats"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let late = api
        .send(
            reqwest::Method::POST,
            &format!(
                "/fn/{}/tickets/reservations/{}/confirm",
                t.name,
                r3["id"].as_str().unwrap()
            ),
            None,
            None,
        )
        .await;
    assert_eq!(late.status, StatusCode::GONE, "{}", late.body);

    // Release gives seats back exactly once.
    let (_, r4) = reserve(&api, &t.name, &event, "standard", 1, None).await;
    assert_eq!(available(&api, &t.name, &event, "standard").await, 1);
    let path = format!(
        "/fn/{}/tickets/reservations/{}",
        t.name,
        r4["id"].as_str().unwrap()
    );
    for _ in 0..2 {
        let reply = api.send(reqwest::Method::DELETE, &path, None, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json()["status"], "released");
    }
    assert_eq!(available(&api, &t.name, &event, "standard").await, 2);

    // Another tenant running the same code has its own kv namespace: A's event does not exist there.
    let b = api.create_tenant("flow-b").await;
    api.deploy_ok(&b, "tickets", "", tickets()).await;
    let theirs = api
        .get(&format!("/fn/{}/tickets/events/{event}", b.name), None)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

/// A request body larger than the node passes to guests reaches an SDK function as an error
/// the SDK answers itself, never as a truncated prefix its handler would take for the whole
/// body (before the fix the handler parsed the first 1024 bytes and said "invalid JSON").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_function_never_sees_a_truncated_body() {
    let server = TestServer::start(Backend::Sqlite, |c| c.http.max_request_body_bytes = 1024);
    let api = server.api();
    let t = api.create_tenant("truncated").await;
    api.deploy_ok(&t, "tickets", "", tickets()).await;
    let notes = "n".repeat(4000);
    let big = json!({"name": "x", "date": "d", "notes": notes,
        "tiers": [{"name": "a", "seats": 1, "price_cents": 1}]});
    // With its length declared, the host refuses it before the guest runs.
    let reply = api
        .post_json(
            &format!("/fn/{}/tickets/events", t.name),
            &t.key,
            big.clone(),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("max_request_body_bytes"),
        "{}",
        reply.body
    );
    // Chunked (no length): the guest's read of the body fails at the limit and the SDK answers.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .to_string()
        .into_bytes()
        .chunks(512)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let response = api
        .http
        .post(format!("{}/fn/{}/tickets/events", api.base, t.name))
        .bearer_auth(&t.key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("could not be read to its end") && !body.contains("JSON"),
        "the handler must not have run: {body}"
    );
    // The same event within the limit is created.
    let small = json!({"name": "x", "date": "d",
        "tiers": [{"name": "a", "seats": 1, "price_cents": 1}]});
    let reply = api
        .post_json(&format!("/fn/{}/tickets/events", t.name), &t.key, small)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

/// Confirmation through a real payments service (outbound HTTP, an API key as a secret): a
/// charge confirms, a decline or a timeout releases the hold and its seats come back, a retried
/// confirm does not charge twice, and the event never sells more seats than it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_confirm_or_release_and_no_seat_is_lost() {
    let payments = Upstream::start();
    let port = payments.port;
    let server = TestServer::start(Backend::Sqlite, |c| {
        c.outbound.allowed_private = vec![format!("127.0.0.1:{port}")];
    });
    let api = server.api();
    let t = api.create_tenant("paid").await;
    api.deploy_ok(&t, "tickets", "", tickets()).await;
    let reply = api
        .put_json(
            "/v1/functions/tickets/config",
            &t.key,
            json!({
                "variables": {"PAYMENTS_URL": payments.url(""), "PAYMENTS_TIMEOUT_MS": "500"},
                "secrets": {"PAYMENTS_API_KEY": Upstream::PAYMENTS_KEY},
                "allowed_outbound_hosts": [format!("http://127.0.0.1:{port}")],
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let event = create_event(&api, &t, 10, 600).await;
    let confirm = |id: String| {
        let api = api.clone();
        let tenant = t.name.clone();
        async move {
            api.send(
                reqwest::Method::POST,
                &format!("/fn/{tenant}/tickets/reservations/{id}/confirm"),
                None,
                None,
            )
            .await
        }
    };
    let charges = || async {
        reqwest::get(payments.url("/charges"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };

    // Paid: confirmed, charged once; confirming again neither fails nor charges again.
    let (_, paid) = reserve(&api, &t.name, &event, "standard", 2, None).await;
    let paid = paid["id"].as_str().unwrap().to_owned();
    let reply = confirm(paid.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["status"], "confirmed");
    assert_eq!(confirm(paid).await.status, StatusCode::OK);
    assert_eq!(charges().await, "1");

    // Declined: 402, released, seats back.
    let (_, declined) = reserve(&api, &t.name, &event, "standard", 5, None).await;
    assert_eq!(available(&api, &t.name, &event, "standard").await, 3);
    let reply = confirm(declined["id"].as_str().unwrap().to_owned()).await;
    assert_eq!(reply.status, StatusCode::PAYMENT_REQUIRED, "{}", reply.body);
    assert_eq!(available(&api, &t.name, &event, "standard").await, 8);

    // Too slow (the function's 500 ms payment timeout): 502, released, seats back.
    let (_, slow) = reserve(&api, &t.name, &event, "standard", 6, None).await;
    let slow = slow["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let reply = confirm(slow.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert!(reply.body.contains("timed out"), "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(available(&api, &t.name, &event, "standard").await, 8);
    let shown = api
        .get(&format!("/fn/{}/tickets/reservations/{slow}", t.name), None)
        .await;
    assert_eq!(shown.json()["status"], "released", "{}", shown.body);

    // The seats that came back sell; then the tier is sold out, never oversold.
    let (status, rest) = reserve(&api, &t.name, &event, "standard", 8, None).await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    let reply = confirm(rest["id"].as_str().unwrap().to_owned()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(charges().await, "2");
    let (status, _) = reserve(&api, &t.name, &event, "standard", 1, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(available(&api, &t.name, &event, "standard").await, 0);
}
