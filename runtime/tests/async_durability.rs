//! Nothing accepted with 202 is lost: 500 asynchronous calls to a kv-counting function, the
//! node killed with -9 right after the last 202, a restart on the same database — and the
//! count ends at exactly 500, each invocation `succeeded` once (on SQLite and PostgreSQL).

mod common;

use common::{client_runtime, create_tenant, get_json, geyser, start, stdout};
use geyser_test_support::guest;
use serde_json::Value;
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-async";
const CALLS: usize = 500;

/// `GET {base}{location}` (an invocation's status) as JSON.
async fn status(http: &reqwest::Client, base: &str, key: &str, location: &str) -> Value {
    get_json(http, format!("{base}{location}"), key).await
}

/// Waits until the invocation at `location` succeeded (before `deadline`); fails on any other end.
async fn succeeded(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    location: &str,
    deadline: Instant,
) -> Value {
    loop {
        let doc = status(http, base, key, location).await;
        match doc["status"].as_str() {
            Some("succeeded") => return doc,
            Some("queued" | "running") => {}
            _ => panic!("{location} did not succeed: {doc}"),
        }
        assert!(Instant::now() < deadline, "{location} never ended: {doc}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn sqlite_accepted_async_calls_survive_kill_9() {
    accepted_async_calls_survive_kill_9(None);
}

#[test]
fn postgres_accepted_async_calls_survive_kill_9() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = runtime.block_on(geyser_test_support::fresh_postgres_database());
    accepted_async_calls_survive_kill_9(Some(database));
}

fn accepted_async_calls_survive_kill_9(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("geyser.toml");
    // A short lease: what was running at the kill is taken again 2 s later.
    std::fs::write(
        &config,
        "[async]\nworkers = 1\nlease_ms = 2000\nlease_margin_ms = 500\npoll_interval_ms = 50\n",
    )
    .unwrap();
    let mut args = vec!["--config".to_owned(), config.to_str().unwrap().to_owned()];
    if let Some(url) = &database {
        args.extend(["--database-url".to_owned(), url.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut node = start(dir.path(), &args, Some(ADMIN));
    let key = create_tenant(&node, ADMIN, "burst");
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    let ids: Vec<String> = runtime.block_on(async {
        let reply = http
            .put(format!("{base}/v1/functions/probe?timeout_ms=1000"))
            .bearer_auth(&key)
            .body(guest("geyser_fixture_probe"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
        // Ten senders at once, as a burst would come.
        let senders: Vec<_> = (0..10)
            .map(|_| {
                let (http, base, key) = (http.clone(), base.clone(), key.clone());
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for _ in 0..CALLS / 10 {
                        let reply = http
                            .post(format!("{base}/fn/burst/probe/kv?op=incr&key=n"))
                            .bearer_auth(&key)
                            .header("prefer", "respond-async")
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(reply.status(), 202);
                        ids.push(
                            reply.headers()["x-geyser-invocation"]
                                .to_str()
                                .unwrap()
                                .to_owned(),
                        );
                    }
                    ids
                })
            })
            .collect();
        let mut ids = Vec::new();
        for sender in senders {
            ids.extend(sender.await.unwrap());
        }
        ids
    });
    assert_eq!(ids.len(), CALLS);
    // One worker drains slower than ten senders fill: the kill finds most still waiting.
    let last = format!("/v1/invocations/{}", ids[ids.len() - 1]);
    let open_at_kill = runtime.block_on(status(&http, &base, &key, &last))["status"].clone();
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    eprintln!("the last accepted invocation was {open_at_kill} at the kill");

    let node = start(dir.path(), &args, Some(ADMIN));
    let base = node.url.clone();
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(120);
        for id in &ids {
            let location = format!("/v1/invocations/{id}");
            succeeded(&http, &base, &key, &location, deadline).await;
        }
        let count = http
            .get(format!("{base}/fn/burst/probe/kv?op=get&key=n"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(count, CALLS.to_string());
    });

    // The CLI queues a call too and says where to follow it.
    let printed = stdout(&geyser(
        &node,
        &key,
        &[
            "invoke",
            "probe",
            "/kv?op=incr&key=n",
            "-X",
            "POST",
            "--async",
        ],
    ));
    let location = printed
        .trim()
        .split_once(": follow it at ")
        .map(|(_, location)| location.to_owned())
        .unwrap_or_else(|| panic!("unexpected output: {printed}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let doc = runtime.block_on(succeeded(&http, &base, &key, &location, deadline));
    assert_eq!(doc["response"], (CALLS + 1).to_string(), "{doc}");
}
