//! Harness of the end-to-end suite: a real Geyser node on an ephemeral port (its own thread and
//! runtime, so it outlives any one test), backed by a real SQLite file or a fresh PostgreSQL
//! database, and a small client for its API.

use geyser_functions::ApiKey;
use geyser_runtime::config::Config;
use geyser_runtime::server::{AdminKeySource, serve_with_clock};
use geyser_scheduler::{Clock, SystemClock};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

use geyser_test_support::fresh_postgres_database;
pub use geyser_test_support::guest;

/// The node key of every test server (64 hex digits).
pub const TEST_SECRET_KEY: &str =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running node. Dropping it stops the node (flushing metering) and waits for it.
pub struct TestServer {
    pub url: String,
    pub admin_key: String,
    pub backend: Backend,
    /// The database this node uses; another node may join it.
    pub database_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a node; `tweak` adjusts the test defaults (small pool, 8 MiB uploads).
    pub fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_with_clock(backend, Arc::new(SystemClock), tweak)
    }

    /// A node whose cron trigger reads `clock` (tests drive time with a `FixedClock`).
    pub fn start_with_clock(
        backend: Backend,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        Self::launch(
            backend,
            None,
            format!("admin-{}", rand::random::<u64>()),
            clock,
            tweak,
        )
    }

    /// Starts a second node on the same database (and admin key) as `first`, with its own data
    /// directory and so its own compiled-artifact cache: a scale-out peer.
    pub fn join(first: &TestServer, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::join_with_clock(first, Arc::new(SystemClock), tweak)
    }

    /// A node on an existing database (e.g. a restart after `stop`).
    pub fn start_on(
        backend: Backend,
        database_url: &str,
        admin_key: &str,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        Self::launch(
            backend,
            Some(database_url.to_owned()),
            admin_key.to_owned(),
            clock,
            tweak,
        )
    }

    pub fn join_with_clock(
        first: &TestServer,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        // The first node answers only once it has migrated the database the peer joins; a peer
        // started earlier would race its migrations.
        first.wait_ready();
        Self::launch(
            first.backend,
            Some(first.database_url.clone()),
            first.admin_key.clone(),
            clock,
            tweak,
        )
    }

    /// Blocks until `GET /healthz` answers 200 (at most 60 s).
    pub fn wait_ready(&self) {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reply = String::new();
                let answered = stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").is_ok()
                    && stream.read_to_string(&mut reply).is_ok();
                if answered
                    && (reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"))
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready",
                self.url
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn launch(
        backend: Backend,
        database_url: Option<String>,
        admin_key: String,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,geyser_runtime=warn".into()),
            )
            .with_test_writer()
            .try_init();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        config.engine.max_instances = 64;
        config.http.max_upload_bytes = 8 << 20;
        config.database_url = database_url;
        // One node key for every node of the suite: nodes joining a database (a peer, a
        // restart on another data directory) must share the key its secrets were sealed with.
        config.secrets.key = Some(TEST_SECRET_KEY.to_owned());
        tweak(&mut config);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let key = admin_key.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                if backend == Backend::Postgres && config.database_url.is_none() {
                    config.database_url = Some(fresh_postgres_database().await);
                }
                let database_url = config.database_url();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                let server = serve_with_clock(
                    config,
                    AdminKeySource::Fixed(ApiKey::from_presented(&key)),
                    listener,
                    async {
                        let _ = shutdown_rx.await;
                    },
                    clock,
                );
                let _ = ready_tx.send((addr, database_url));
                server.await.expect("server failed");
            });
        });
        let (addr, database_url) = ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not start");
        // While the node opens its store it answers 503 `starting`: hand it out once started.
        let server = TestServer {
            url: format!("http://{addr}"),
            admin_key,
            backend,
            database_url,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            _data_dir: data_dir,
        };
        server.wait_ready();
        server
    }

    /// Stops the node (as SIGTERM would) and hands back its data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.stop_and_wait();
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self._data_dir, dir)
    }

    fn stop_and_wait(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    pub fn api(&self) -> Api {
        Api {
            base: self.url.clone(),
            http: reqwest::Client::new(),
            admin_key: self.admin_key.clone(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_and_wait();
    }
}

/// A unique tenant name for one test.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A tenant created through the API.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub name: String,
    pub key: String,
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error.message` of a JSON error reply.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Client for one test server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub admin_key: String,
}

impl Api {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request reached the server");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    /// `POST` a JSON body.
    pub async fn post_json(&self, path: &str, key: &str, body: serde_json::Value) -> Reply {
        self.json_request(Method::POST, path, key, body).await
    }

    /// `PUT` a JSON body.
    pub async fn put_json(&self, path: &str, key: &str, body: serde_json::Value) -> Reply {
        self.json_request(Method::PUT, path, key, body).await
    }

    async fn json_request(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: serde_json::Value,
    ) -> Reply {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request reached the server");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        self.send(Method::GET, path, key, None).await
    }

    pub async fn create_tenant(&self, prefix: &str) -> TestTenant {
        let name = unique(prefix);
        let reply = self
            .create_tenant_named(&name, &self.admin_key.clone())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let key = reply.json()["api_key"]
            .as_str()
            .expect("api_key")
            .to_owned();
        TestTenant { name, key }
    }

    pub async fn create_tenant_named(&self, name: &str, key: &str) -> Reply {
        self.post_json("/v1/tenants", key, serde_json::json!({ "name": name }))
            .await
    }

    /// `PUT /v1/functions/{name}{query}` with `bytes`.
    pub async fn deploy(
        &self,
        tenant: &TestTenant,
        name: &str,
        query: &str,
        bytes: Vec<u8>,
    ) -> Reply {
        self.send(
            Method::PUT,
            &format!("/v1/functions/{name}{query}"),
            Some(&tenant.key),
            Some(bytes),
        )
        .await
    }

    /// Deploys and asserts success; returns the version number.
    pub async fn deploy_ok(
        &self,
        tenant: &TestTenant,
        name: &str,
        query: &str,
        bytes: Vec<u8>,
    ) -> i64 {
        let reply = self.deploy(tenant, name, query, bytes).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()["version"].as_i64().expect("version")
    }

    /// Calls `/fn/{tenant}/{function}{path}`.
    pub async fn invoke(&self, tenant: &str, function: &str, path: &str) -> Reply {
        self.send(
            Method::GET,
            &format!("/fn/{tenant}/{function}{path}"),
            None,
            None,
        )
        .await
    }

    pub async fn usage(&self, key: &str) -> Value {
        let reply = self.get("/v1/usage", Some(key)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()
    }

    /// Usage once the total invocation count reached `expected` (records are written after the
    /// response is streamed, so the last ones may still be on their way). Fails if the count
    /// ends up different.
    pub async fn usage_when(&self, key: &str, expected: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let usage = self.usage(key).await;
            let n = usage["totals"]["invocations"].as_u64().unwrap_or(0);
            if n > expected || (n < expected && Instant::now() > deadline) {
                panic!("expected {expected} invocations, usage says {n}: {usage}");
            }
            if n == expected {
                return usage;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The value of a metric in `/metrics`: `name` is the series as printed, labels included
    /// (`geyser_kafka_records_total{tenant="a",function="b",topic="a.t"}`).
    pub async fn metric(&self, name: &str) -> f64 {
        let reply = self.get("/metrics", Some(&self.admin_key)).await;
        find_metric(&reply.body, name)
            .unwrap_or_else(|| panic!("metric {name} missing:\n{}", reply.body))
    }

    /// [`Api::metric`], or `None` while the series does not exist.
    pub async fn metric_if_present(&self, name: &str) -> Option<f64> {
        find_metric(
            &self.get("/metrics", Some(&self.admin_key)).await.body,
            name,
        )
    }
}

fn find_metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Polls `check` every 50 ms until it returns `Some`, panicking with `what` after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Api {
    /// This month's billing statement of the tenant whose key this is (asserts 200).
    pub async fn statement(&self, key: &str) -> Value {
        let reply = self.get("/v1/billing/statement", Some(key)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()
    }

    /// The record of invocation `id` of `function`, once it has been written (within 10 s).
    pub async fn invocation(&self, key: &str, function: &str, id: &str) -> Value {
        eventually(
            &format!("the record of {id}"),
            Duration::from_secs(10),
            || async {
                self.invocations(key, function)
                    .await
                    .into_iter()
                    .find(|r| r["id"] == id)
            },
        )
        .await
    }

    /// A function's latest invocation records, newest first (asserts 200).
    pub async fn invocations(&self, key: &str, function: &str) -> Vec<Value> {
        let reply = self
            .get(&format!("/v1/functions/{function}/invocations"), Some(key))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json().as_array().expect("a list").clone()
    }
}

/// Equal up to floating-point summation order (relative 1e-9, absolute 1e-9 near zero).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9_f64.max(1e-9 * a.abs().max(b.abs()))
}

/// A JSON number as f64 (panics on anything else).
pub fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Row of function `name` in a usage reply.
pub fn usage_row<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["functions"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["function"] == name))
        .unwrap_or_else(|| panic!("no usage row for {name}: {usage}"))
}

/// Runs each named `async fn(Api)` scenario once per backend, each on the calling test binary's
/// shared node `server(backend)` (tests isolate themselves by tenant).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::server($crate::Backend::Sqlite).api()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::server($crate::Backend::Postgres).api()).await;
                }
            )*
        }
    };
}

/// A real HTTP server for guests' outbound calls, on `127.0.0.1:0` in its own thread and
/// runtime (so it outlives any one test). Routes: `/hello` answers `upstream hello` and the
/// `authorization`, `host` and `traceparent` it received, one `name: value` per line; `/slow`
/// answers after 30 s; `/big?kb=N` answers N KiB; `POST /charges` is a payments service (see
/// [`Upstream::PAYMENTS_KEY`]); anything else 404.
pub struct Upstream {
    pub port: u16,
}

/// Charges a payments service took, by idempotency key.
type Charges = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

/// `POST /charges` of [`Upstream`]: 401 without `authorization: Bearer PAYMENTS_KEY`; by the
/// body's `quantity`: 5 → 402 declined, 6 → answers after 30 s, else 201 and the charge is
/// recorded once per `idempotency-key`. `GET /charges` answers how many were recorded.
async fn charge(
    charges: Charges,
    headers: axum::http::HeaderMap,
    body: axum::Json<Value>,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode as S;
    let bearer = format!("Bearer {}", Upstream::PAYMENTS_KEY);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(bearer.as_str()) {
        return (S::UNAUTHORIZED, "no".into());
    }
    match body["quantity"].as_u64() {
        Some(5) => (S::PAYMENT_REQUIRED, "declined".into()),
        Some(6) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (S::CREATED, "late".into())
        }
        _ => {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            charges.lock().unwrap().insert(key);
            (S::CREATED, "{\"charged\":true}".into())
        }
    }
}

impl Upstream {
    /// The API key the payments route wants.
    pub const PAYMENTS_KEY: &'static str = "pay-secret-42";

    pub fn start() -> Upstream {
        use axum::routing::get;
        let charges: Charges = Arc::default();
        let charged = charges.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("upstream runtime");
            runtime.block_on(async move {
                let app = axum::Router::new()
                    .route(
                        "/hello",
                        get(|headers: axum::http::HeaderMap| async move {
                            let mut text = String::from("upstream hello\n");
                            for name in ["authorization", "host", "traceparent"] {
                                if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
                                    text.push_str(&format!("{name}: {v}\n"));
                                }
                            }
                            text
                        }),
                    )
                    .route(
                        "/slow",
                        get(|| async {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            "late"
                        }),
                    )
                    .route(
                        "/big",
                        get(
                            |axum::extract::Query(q): axum::extract::Query<
                                std::collections::HashMap<String, usize>,
                            >| async move {
                                "x".repeat(q.get("kb").copied().unwrap_or(1) << 10)
                            },
                        ),
                    )
                    .route(
                        "/charges",
                        axum::routing::post({
                            let charges = charges.clone();
                            move |headers, body| charge(charges.clone(), headers, body)
                        })
                        .get(move || {
                            let charged = charged.clone();
                            async move { charged.lock().unwrap().len().to_string() }
                        }),
                    );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind upstream");
                let _ = tx.send(listener.local_addr().expect("addr").port());
                axum::serve(listener, app).await.expect("upstream failed");
            });
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("upstream did not start");
        Upstream { port }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// `text` percent-encoded for a query value.
pub fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
