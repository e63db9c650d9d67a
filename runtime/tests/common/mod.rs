//! Helpers shared by the tests that run the real `geyser` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_geyser");

pub struct Node {
    pub child: Child,
    pub url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /healthz` answers 200 (the listener is bound before the node has finished starting).
pub fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}

/// A runtime for a test's client side (its HTTP calls to the node).
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `GET url` with `key`, as JSON.
pub async fn get_json(http: &reqwest::Client, url: String, key: &str) -> serde_json::Value {
    http.get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `PUT {base}/v1/functions/{name}?{query}` with `bytes` as `key`; it must answer 201.
pub async fn deploy(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    name: &str,
    query: &str,
    bytes: Vec<u8>,
) {
    let reply = http
        .put(format!("{base}/v1/functions/{name}?{query}"))
        .bearer_auth(key)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Node {
    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        self.child.wait().expect("wait for geyser")
    }
}

/// `geyser serve` on a fresh port with `data_dir`, plus `extra` arguments and an optional
/// admin key (none: generated into the data dir).
pub fn start(data_dir: &Path, extra: &[&str], admin_key: Option<&str>) -> Node {
    start_logging(data_dir, extra, admin_key, "warn", Stdio::null())
}

/// [`start`] with extra environment variables.
pub fn start_with_env(
    data_dir: &Path,
    extra: &[&str],
    admin_key: Option<&str>,
    env: &[(&str, &str)],
) -> Node {
    spawn_node(data_dir, extra, admin_key, "warn", Stdio::null(), env)
}

/// [`start`] with `RUST_LOG=filter` and the node's log output (stderr) sent to `logs`.
pub fn start_logging(
    data_dir: &Path,
    extra: &[&str],
    admin_key: Option<&str>,
    filter: &str,
    logs: impl Into<Stdio>,
) -> Node {
    spawn_node(data_dir, extra, admin_key, filter, logs, &[])
}

fn spawn_node(
    data_dir: &Path,
    extra: &[&str],
    admin_key: Option<&str>,
    filter: &str,
    logs: impl Into<Stdio>,
    env: &[(&str, &str)],
) -> Node {
    let port = free_port();
    let mut command = Command::new(BIN);
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env_remove("GEYSER_ADMIN_KEY")
        .env_remove("GEYSER_DATABASE_URL")
        // Every node of these tests shares one node key, as the nodes of a cluster must (two
        // processes on one PostgreSQL database, a restart on another data directory).
        .env("GEYSER_SECRET_KEY", "5e".repeat(32));
    if let Some(key) = admin_key {
        command.env("GEYSER_ADMIN_KEY", key);
    }
    let child = command
        .envs(env.iter().copied())
        .env("RUST_LOG", filter)
        .stdout(Stdio::null())
        .stderr(logs)
        .spawn()
        .expect("spawn geyser serve");
    let node = Node {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthy(port) {
        assert!(
            Instant::now() < deadline,
            "geyser serve did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    node
}

pub fn geyser(node: &Node, key: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("GEYSER_URL", &node.url)
        .env("GEYSER_API_KEY", key)
        .output()
        .expect("run geyser")
}

/// [`geyser`] with `input` on its stdin.
pub fn geyser_with_stdin(node: &Node, key: &str, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("GEYSER_URL", &node.url)
        .env("GEYSER_API_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run geyser");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("run geyser")
}

/// `geyser --json tenant create NAME` with the admin key; returns the tenant's API key.
pub fn create_tenant(node: &Node, admin: &str, name: &str) -> String {
    let created: serde_json::Value = serde_json::from_str(&stdout(&geyser(
        node,
        admin,
        &["--json", "tenant", "create", name],
    )))
    .expect("tenant create prints JSON");
    assert_eq!(created["name"], name);
    created["api_key"].as_str().expect("api_key").to_owned()
}

pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_failure(output: &Output) -> String {
    assert!(!output.status.success(), "command should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A series of the node's metrics (`/metrics` needs the admin key).
pub async fn metric(node: &Node, admin: &str, series: &str) -> Option<f64> {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", node.url))
        .bearer_auth(admin)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Polls `check` every 200 ms until it holds; panics after `within`.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
