//! Readiness against the real binary: `/readyz` says what the node has (database, artifact
//! cache, Kafka when configured), turns 503 `draining` on SIGTERM while the node still serves
//! for `http.drain_ms`; bad Kafka client settings stop the node at start with a clear error.

mod common;

use common::{BIN, client_runtime, free_port, start};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-ready";

fn configured(dir: &std::path::Path, config: &str) -> String {
    let file = dir.join("geyser.toml");
    std::fs::write(&file, config).unwrap();
    file.to_str().unwrap().to_owned()
}

async fn readyz(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let reply = http.get(format!("{base}/readyz")).send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap())
}

#[test]
fn ready_then_draining_on_sigterm_while_still_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = configured(dir.path(), "[http]\ndrain_ms = 2000\n");
    let mut node = start(dir.path(), &["--config", &config], Some(ADMIN));
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    let (status, body) = runtime.block_on(readyz(&http, &base));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["draining"], false);
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["artifact_cache"], "ok");
    assert_eq!(body["checks"]["kafka"], "not configured");

    let pid = node.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (status, body) = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = readyz(&http, &base).await;
            if status == 503 || Instant::now() > deadline {
                return (status, body);
            }
        }
    });
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["draining"], true);
    assert_eq!(body["ready"], false);
    // Draining, it still answers what reaches it.
    let health = runtime.block_on(async {
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(health, 200);
    let exit = node.child.wait().unwrap();
    assert!(exit.success(), "{exit}");
}

#[test]
fn an_unreachable_broker_makes_the_node_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port();
    let config = configured(
        dir.path(),
        &format!("[kafka]\nbrokers = \"127.0.0.1:{dead}\"\n"),
    );
    let node = start(dir.path(), &["--config", &config], Some(ADMIN));
    let (status, body) = client_runtime().block_on(readyz(&reqwest::Client::new(), &node.url));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    let kafka = body["checks"]["kafka"].as_str().unwrap();
    assert!(kafka.contains("Kafka brokers unreachable"), "{body}");
}

/// `geyser serve` with `config` must exit at once with an error; its stderr.
fn refused_at_start(config: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = configured(dir.path(), config);
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--config", &file])
        .env("GEYSER_ADMIN_KEY", ADMIN)
        .env("GEYSER_SECRET_KEY", "5e".repeat(32))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("geyser serve started with {config:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    stderr
}

#[test]
fn wrong_kafka_client_settings_stop_the_node_at_start() {
    let stderr = refused_at_start(
        "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[kafka.properties]\n\"security.protocol\" = \"carrier-pigeon\"\n",
        &[],
    );
    assert!(
        stderr.contains("security.protocol") && stderr.contains("carrier-pigeon"),
        "{stderr}"
    );
    let stderr = refused_at_start(
        "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[kafka.properties]\n\"no.such.setting\" = \"1\"\n",
        &[],
    );
    assert!(stderr.contains("no.such.setting"), "{stderr}");
    let stderr = refused_at_start(
        "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[kafka.properties_env]\n\"sasl.password\" = \"GEYSER_TEST_UNSET_KAFKA_PW\"\n",
        &[],
    );
    assert!(
        stderr.contains("GEYSER_TEST_UNSET_KAFKA_PW") && stderr.contains("not set"),
        "{stderr}"
    );
    // Geyser's own guarantees are not for changing.
    let stderr = refused_at_start(
        "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[kafka.properties]\n\"enable.auto.offset.store\" = \"true\"\n",
        &[],
    );
    assert!(stderr.contains("set by Geyser itself"), "{stderr}");
}

#[test]
fn sasl_settings_from_the_environment_are_accepted() {
    // A complete SASL/PLAIN setting with its password from the environment: the node starts
    // (librdkafka accepts it) and says the broker is not reachable with it rather than failing.
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port();
    let config = configured(
        dir.path(),
        &format!(
            "[kafka]\nbrokers = \"127.0.0.1:{dead}\"\n[kafka.properties]\n\
             \"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanisms\" = \"PLAIN\"\n\
             \"sasl.username\" = \"geyser\"\n[kafka.properties_env]\n\"sasl.password\" = \"GEYSER_TEST_KAFKA_PW\"\n"
        ),
    );
    let node = common::start_with_env(
        dir.path(),
        &["--config", &config],
        Some(ADMIN),
        &[("GEYSER_TEST_KAFKA_PW", "pw")],
    );
    let (status, body) = client_runtime().block_on(readyz(&reqwest::Client::new(), &node.url));
    assert_eq!(status, 503, "{body}");
    assert!(
        body["checks"]["kafka"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{body}"
    );
}
