//! Asynchronous invocation (`Prefer: respond-async`): every accepted call runs exactly once
//! (its kv effects counted), a failing one is retried `max_attempts` times and reported to its
//! destination, an old one expires, bad input is refused, and two nodes share one queue
//! without running anything twice — on SQLite and on PostgreSQL.

use geyser_e2e::{Api, Backend, TestServer, TestTenant, eventually, guest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

fn tweak(c: &mut geyser_runtime::config::Config) {
    c.queue.retry_backoff_ms = 50;
    c.queue.poll_interval_ms = 50;
}

fn server(backend: Backend) -> &'static TestServer {
    static SQLITE: OnceLock<TestServer> = OnceLock::new();
    static POSTGRES: OnceLock<TestServer> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| TestServer::start(backend, tweak))
}

fn peer(backend: Backend) -> &'static TestServer {
    static SQLITE: OnceLock<TestServer> = OnceLock::new();
    static POSTGRES: OnceLock<TestServer> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| TestServer::join(server(backend), tweak))
}

geyser_e2e::on_both_backends!(
    accepted_calls_run_once_each_and_report_their_answer,
    a_failing_call_is_retried_then_reported_to_its_destination,
    an_invocation_older_than_its_max_age_expires,
    bad_async_input_is_refused,
    a_full_queue_answers_429,
);

mod two_nodes {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_two_nodes_share_one_queue_without_running_anything_twice() {
        two_nodes_share_one_queue(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_two_nodes_share_one_queue_without_running_anything_twice() {
        two_nodes_share_one_queue(Backend::Postgres).await;
    }
}

fn probe() -> Vec<u8> {
    guest("geyser_fixture_probe")
}

/// Sends `path` to the tenant's `function` asynchronously; asserts the 202 and returns the id.
async fn call_async(api: &Api, t: &TestTenant, function: &str, path: &str, body: &[u8]) -> String {
    let reply = api
        .http
        .post(format!("{}/fn/{}/{function}{path}", api.base, t.name))
        .bearer_auth(&t.key)
        .header("prefer", "respond-async")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let headers = reply.headers().clone();
    let text = reply.text().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let id = headers["x-geyser-invocation"].to_str().unwrap().to_owned();
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("/v1/invocations/{id}")
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["invocation"], id.as_str());
    assert_eq!(doc["status"], "queued");
    id
}

/// The invocation's status once it has ended.
async fn ended(api: &Api, t: &TestTenant, id: &str) -> Value {
    eventually(
        &format!("invocation {id} ends"),
        Duration::from_secs(60),
        || async {
            let doc = api
                .get(&format!("/v1/invocations/{id}"), Some(&t.key))
                .await
                .json();
            matches!(
                doc["status"].as_str(),
                Some("succeeded" | "failed" | "expired")
            )
            .then_some(doc)
        },
    )
    .await
}

async fn records_by_trigger(api: &Api, t: &TestTenant, function: &str, trigger: &str) -> usize {
    let records = api
        .get(
            &format!("/v1/functions/{function}/invocations?limit=1000"),
            Some(&t.key),
        )
        .await
        .json();
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"] == trigger)
        .count()
}

async fn accepted_calls_run_once_each_and_report_their_answer(api: Api) {
    let t = api.create_tenant("async-once").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids.push(call_async(&api, &t, "probe", "/kv?op=incr&key=hits", b"").await);
    }
    let mut answers = Vec::new();
    for id in &ids {
        let doc = ended(&api, &t, id).await;
        assert_eq!(doc["status"], "succeeded", "{doc}");
        assert_eq!(doc["attempts"], 1, "{doc}");
        assert_eq!(doc["http_status"], 200, "{doc}");
        assert_eq!(doc["kind"], "http");
        assert_eq!(doc["outcome"], "ok");
        assert_eq!(doc["version"], 1);
        answers.push(doc["response"].as_str().unwrap().parse::<u64>().unwrap());
    }
    // Each call incremented once: the answers are 1..=100, each once.
    answers.sort();
    assert_eq!(answers, (1..=100).collect::<Vec<u64>>());
    let count = api.invoke(&t.name, "probe", "/kv?op=get&key=hits").await;
    assert_eq!(count.body, "100");
    // Metered as `async`, one record per call.
    eventually("100 async records", Duration::from_secs(10), || async {
        (records_by_trigger(&api, &t, "probe", "async").await == 100).then_some(())
    })
    .await;

    // The body and headers reach the guest as sent.
    let id = call_async(&api, &t, "probe", "/echo?x=1", b"queued body").await;
    let doc = ended(&api, &t, &id).await;
    let echoed = doc["response"].as_str().unwrap();
    assert!(echoed.starts_with("POST /echo?x=1"), "{echoed}");
    assert!(echoed.contains("x-geyser-owner: true"), "{echoed}");
    assert!(echoed.ends_with("queued body"), "{echoed}");

    // An event delivery asynchronously, to an event function.
    api.deploy_ok(&t, "counter", "", guest("example_event_counter"))
        .await;
    let reply = api
        .http
        .post(format!("{}/v1/functions/counter/events?key=k", api.base))
        .bearer_auth(&t.key)
        .header("prefer", "respond-async")
        .body("one")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    let id = reply.headers()["x-geyser-invocation"]
        .to_str()
        .unwrap()
        .to_owned();
    let doc = ended(&api, &t, &id).await;
    assert_eq!(doc["status"], "succeeded", "{doc}");
    assert_eq!(doc["kind"], "event");
    assert_eq!(api.invoke(&t.name, "counter", "/counts/k").await.body, "1");
}

async fn a_failing_call_is_retried_then_reported_to_its_destination(api: Api) {
    let t = api.create_tenant("async-retry").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    api.deploy_ok(&t, "counter", "", guest("example_event_counter"))
        .await;
    let reply = api
        .put_json(
            "/v1/functions/probe/async",
            &t.key,
            json!({"max_attempts": 3, "on_failure": {"function": "counter"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let shown = api
        .get("/v1/functions/probe/async", Some(&t.key))
        .await
        .json();
    assert_eq!(shown["max_attempts"], 3);
    assert_eq!(shown["on_failure"]["function"], "counter");

    let id = call_async(&api, &t, "probe", "/status?code=503", b"").await;
    let doc = ended(&api, &t, &id).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_eq!(doc["attempts"], 3, "{doc}");
    assert_eq!(doc["http_status"], 503, "{doc}");
    assert_eq!(doc["error"], "function answered 503", "{doc}");
    eventually("3 attempts metered", Duration::from_secs(10), || async {
        (records_by_trigger(&api, &t, "probe", "async").await == 3).then_some(())
    })
    .await;
    // The destination (an event function counting by the event's key, which is the failed
    // invocation's id) heard of it once.
    eventually(
        "the destination counts the failure",
        Duration::from_secs(30),
        || async {
            (api.invoke(&t.name, "counter", &format!("/counts/{id}"))
                .await
                .body
                == "1")
                .then_some(())
        },
    )
    .await;

    // A trap also counts as a failure; with one attempt it fails at once.
    let reply = api
        .put_json(
            "/v1/functions/probe/async",
            &t.key,
            json!({"max_attempts": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let id = call_async(&api, &t, "probe", "/trap", b"").await;
    let doc = ended(&api, &t, &id).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert_eq!(doc["attempts"], 1, "{doc}");
    assert_eq!(doc["outcome"], "trap", "{doc}");
}

async fn an_invocation_older_than_its_max_age_expires(api: Api) {
    let t = api.create_tenant("async-expiry").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    // The second attempt would come after the maximum age: the first failure expires it.
    let reply = api
        .put_json(
            "/v1/functions/probe/async",
            &t.key,
            json!({"max_attempts": 5, "max_age_ms": 20}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let id = call_async(&api, &t, "probe", "/status?code=500", b"").await;
    let doc = ended(&api, &t, &id).await;
    assert_eq!(doc["status"], "expired", "{doc}");
    assert!(doc["attempts"].as_u64().unwrap() <= 1, "{doc}");
}

async fn bad_async_input_is_refused(api: Api) {
    let t = api.create_tenant("async-bad").await;
    let other = api.create_tenant("async-other").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    api.deploy_ok(&t, "helper", "", probe()).await;

    // A body over async.max_body_bytes (256 KiB).
    let reply = api
        .http
        .post(format!("{}/fn/{}/probe/echo", api.base, t.name))
        .header("prefer", "respond-async")
        .body(vec![b'x'; (256 << 10) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Unknown ids, malformed ids, another tenant's id.
    let id = call_async(&api, &t, "probe", "/", b"").await;
    let unknown = uuid_like();
    for (path, key) in [
        (format!("/v1/invocations/{unknown}"), &t.key),
        ("/v1/invocations/not-an-id".to_owned(), &t.key),
        (format!("/v1/invocations/{id}"), &other.key),
    ] {
        let reply = api.get(&path, Some(key)).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
    }

    // Settings: a topic outside the tenant's namespace is 403; bad bounds 400; nothing stored.
    let put = |body: Value| api.put_json("/v1/functions/probe/async", &t.key, body);
    assert_eq!(
        put(json!({"on_failure": {"topic": "someone-else.dlq"}}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({"max_attempts": 0}),
        json!({"max_attempts": 11}),
        json!({"max_age_ms": 0}),
        json!({"on_failure": {"function": "probe"}}),
        json!({"on_failure": {"function": "missing"}}),
        // Every destination function must exist, not only the first.
        json!({"on_failure": {"function": "helper"}, "on_success": {"function": "missing"}}),
        json!({"retries": 3}),
    ] {
        let reply = put(bad.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
    let shown = api
        .get("/v1/functions/probe/async", Some(&t.key))
        .await
        .json();
    assert_eq!(shown["max_attempts"], 3, "{shown}");
    assert!(shown.get("on_failure").is_none(), "{shown}");
    let reply = api
        .send(
            Method::GET,
            "/v1/functions/missing/async",
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // An unknown function asynchronously: 404, nothing queued.
    let reply = api
        .http
        .post(format!("{}/fn/{}/missing/", api.base, t.name))
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
}

fn uuid_like() -> String {
    "0190c1b2-0000-7000-8000-000000000000".to_owned()
}

async fn a_full_queue_answers_429(api: Api) {
    let t = api.create_tenant("async-full").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    let reply = api
        .put_json(
            &format!("/v1/quotas?tenant={}", t.name),
            &api.admin_key,
            json!({"max_async_queued": 3}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // Three slow calls fill the queue while they wait or run; the fourth is refused.
    for _ in 0..3 {
        call_async(&api, &t, "probe", "/spin?ms=1500", b"").await;
    }
    let reply = api
        .http
        .post(format!("{}/fn/{}/probe/", api.base, t.name))
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.headers().contains_key("retry-after"));
    let quotas = api.get("/v1/quotas", Some(&t.key)).await.json();
    assert_eq!(quotas["quotas"]["max_async_queued"], 3, "{quotas}");
}

async fn two_nodes_share_one_queue(backend: Backend) {
    let (a, b) = (server(backend).api(), peer(backend).api());
    let t = a.create_tenant("async-two").await;
    a.deploy_ok(&t, "probe", "", probe()).await;
    let mut ids = Vec::new();
    for i in 0..120 {
        let node = if i % 2 == 0 { &a } else { &b };
        ids.push(call_async(node, &t, "probe", "/kv?op=incr&key=n", b"").await);
    }
    for id in &ids {
        let doc = ended(&a, &t, id).await;
        assert_eq!(doc["status"], "succeeded", "{doc}");
        assert_eq!(doc["attempts"], 1, "{doc}");
    }
    assert_eq!(
        a.invoke(&t.name, "probe", "/kv?op=get&key=n").await.body,
        "120"
    );
    // One metered run per call across both nodes (each node meters its own).
    eventually("120 async records", Duration::from_secs(10), || async {
        (records_by_trigger(&a, &t, "probe", "async").await == 120).then_some(())
    })
    .await;
}
