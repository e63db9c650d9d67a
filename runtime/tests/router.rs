//! The fast layer beside the end-to-end suite: a whole node (the binary's own wiring, a real
//! hello component built from source) on an in-memory SQLite database, driven through its
//! router with `oneshot` — no socket, no process, no file database.

use axum::body::Body;
use geyser_functions::ApiKey;
use geyser_runtime::config::Config;
use geyser_runtime::server::{AdminKeySource, Node};
use geyser_scheduler::SystemClock;
use http_body_util::BodyExt;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

struct Fixture {
    node: Node,
    admin: String,
    _data: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn node() -> Fixture {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    // One named in-memory database shared by the pool's connections (a bare `:memory:` would
    // give each connection its own, empty one).
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    config.database_url = Some(format!(
        "sqlite:file:geyser-router-{}-{n}?mode=memory&cache=shared",
        std::process::id()
    ));
    let admin = ApiKey::generate();
    let secret = admin.expose().to_owned();
    let node = Node::start(config, AdminKeySource::Fixed(admin), Arc::new(SystemClock))
        .await
        .unwrap();
    Fixture {
        node,
        admin: secret,
        _data: data,
    }
}

impl Fixture {
    /// Sends one request through the node's router (no socket).
    async fn call(&self, request: hyper::http::request::Builder, body: Body) -> Reply {
        let response = self
            .node
            .router()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn send(&self, method: Method, uri: &str, key: Option<&str>, body: Body) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        self.call(request, body).await
    }

    async fn json(&self, method: Method, uri: &str, key: &str, body: Value) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        self.call(request, Body::from(body.to_string())).await
    }

    /// A tenant and its key.
    async fn tenant(&self, name: &str) -> String {
        let reply = self
            .json(
                Method::POST,
                "/v1/tenants",
                &self.admin,
                json!({"name": name}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()["api_key"].as_str().unwrap().to_owned()
    }
}

fn hello() -> Vec<u8> {
    geyser_test_support::guest("example_hello")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_invoke_and_meter_on_an_in_memory_database() {
    let f = node().await;
    let key = f.tenant("memo").await;
    let deployed = f
        .send(
            Method::PUT,
            "/v1/functions/hello?public=true",
            Some(&key),
            Body::from(hello()),
        )
        .await;
    assert_eq!(deployed.status, StatusCode::CREATED, "{}", deployed.body);
    assert_eq!(deployed.json()["version"], 1, "{}", deployed.body);

    for _ in 0..3 {
        let reply = f
            .send(Method::GET, "/fn/memo/hello/", None, Body::empty())
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.body.contains("hello"), "{}", reply.body);
    }
    // A body declared larger than `http.max_request_body_bytes` is refused before the guest
    // runs (nothing metered).
    let request = Request::builder()
        .method(Method::POST)
        .uri("/fn/memo/hello/")
        .header("content-length", (20u64 << 20).to_string())
        .header("content-type", "application/octet-stream");
    let refused = f.call(request, Body::from("small")).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("http.max_request_body_bytes"),
        "{}",
        refused.body
    );

    // `/v1/usage` flushes metering first: the three calls are there, none failed.
    let usage = f
        .send(Method::GET, "/v1/usage", Some(&key), Body::empty())
        .await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    let usage = usage.json();
    let hello = usage["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "hello")
        .unwrap_or_else(|| panic!("{usage}"));
    assert_eq!(hello["invocations"], 3, "{usage}");
    assert_eq!(hello["errors"], 0, "{usage}");
    f.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_stores_nothing() {
    let f = node().await;
    let key = f.tenant("strict").await;

    let invalid = f
        .send(
            Method::PUT,
            "/v1/functions/broken",
            Some(&key),
            Body::from(&b"\0asm not really"[..]),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.body);
    let listed = f
        .send(Method::GET, "/v1/functions", Some(&key), Body::empty())
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(0),
        "{}",
        listed.body
    );

    let wrong_key = f
        .send(
            Method::GET,
            "/v1/functions",
            Some("gy_00000000000000000000000000000000"),
            Body::empty(),
        )
        .await;
    assert_eq!(
        wrong_key.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        wrong_key.body
    );

    let unknown = f
        .send(Method::GET, "/fn/strict/nothing/", None, Body::empty())
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);

    // A misspelt quota is refused (it would otherwise silently mean "the default").
    let misspelt = f
        .json(
            Method::PUT,
            "/v1/quotas?tenant=strict",
            &f.admin,
            json!({"max_function": 3}),
        )
        .await;
    assert!(
        misspelt.status.is_client_error(),
        "{} {}",
        misspelt.status,
        misspelt.body
    );
    assert!(misspelt.body.contains("max_function"), "{}", misspelt.body);
    let shown = f
        .send(Method::GET, "/v1/quotas", Some(&key), Body::empty())
        .await
        .json();
    assert_eq!(shown["overrides"]["max_functions"], Value::Null, "{shown}");
    f.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_overrides_round_trip_through_the_store() {
    let f = node().await;
    let key = f.tenant("tuned").await;
    let set = f
        .json(
            Method::PUT,
            "/v1/quotas?tenant=tuned",
            &f.admin,
            json!({"max_functions": 2, "rate_per_second": 1.5}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let shown = f
        .send(Method::GET, "/v1/quotas", Some(&key), Body::empty())
        .await
        .json();
    assert_eq!(shown["quotas"]["max_functions"], 2, "{shown}");
    assert_eq!(shown["quotas"]["rate_per_second"], 1.5, "{shown}");
    assert_eq!(shown["overrides"]["max_functions"], 2, "{shown}");
    assert_eq!(shown["overrides"]["max_kv_keys"], Value::Null, "{shown}");
    // The default for what was not overridden.
    assert_eq!(shown["quotas"]["max_kv_keys"], 100_000, "{shown}");
    f.node.stop().await;
}

/// The node key: generated into the data directory (mode 0600) on first start and reused; a
/// node given another key than the one the database's secrets were sealed with refuses to
/// start, saying so; a malformed key is refused too.
#[tokio::test]
async fn a_wrong_secret_key_fails_at_start() {
    let data = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: data.path().to_path_buf(),
        database_url: Some(format!(
            "sqlite://{}?mode=rwc",
            data.path().join("keys.db").display()
        )),
        ..Config::default()
    };
    let start = |config: Config| async move {
        Node::start(
            config,
            AdminKeySource::Fixed(ApiKey::generate()),
            Arc::new(SystemClock),
        )
        .await
    };
    let first = start(config()).await.unwrap();
    first.stop().await;
    let key_file = data.path().join("secret.key");
    let generated = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(generated.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The same key again (from the file, then given as the environment would): starts.
    start(config()).await.unwrap().stop().await;
    let mut same = config();
    same.secrets.key = Some(generated.trim().to_owned());
    start(same).await.unwrap().stop().await;

    let mut other = config();
    other.secrets.key = Some("ab".repeat(32));
    let err = start(other)
        .await
        .err()
        .expect("another key must be refused");
    assert!(err.to_string().contains("not the key"), "{err}");
    let mut malformed = config();
    malformed.secrets.key = Some("abc".into());
    let err = start(malformed)
        .await
        .err()
        .expect("a malformed key must be refused");
    assert!(err.to_string().contains("64 hex digits"), "{err}");
}
