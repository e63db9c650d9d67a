//! JavaScript and Python functions from source, as a new user makes them: `geyser new --lang
//! js|python`, the printed `build:` line (npm / PyPI toolchains, installed by the build
//! itself), the printed `deploy:` line, then behaviour — kv counts, events exactly once
//! through a Kafka binding and the manual endpoint, ticks with their scheduled time, and an
//! exception in each handler kind metered as a failure with its trace in the logs.
//!
//! Each test adds one route (or one failing case) to the scaffolded source before building,
//! to reach the SDK's error and config paths without a second build.

mod common;

use common::*;
use geyser_test_support::kafka::{
    Record, create_topic, kafka_brokers, payload, produce, producer, read_topic,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The Python toolchain (componentize-py from PyPI) shared by this run's Python builds;
/// `scripts/test.sh` installs it once, a build installs it if missing.
fn python_tools() -> PathBuf {
    geyser_test_support::workspace_root().join("target/guest-tools/py")
}

/// `geyser new NAME ARGS` run in `dir`; returns the printed build and deploy lines.
fn scaffold(dir: &Path, name: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(BIN)
        .arg("new")
        .arg(name)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run geyser new");
    let out = stdout(&out);
    let line = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
            .trim()
            .to_owned()
    };
    (line("build:"), line("deploy:"))
}

/// Runs a printed command line with `sh` in `dir`, the `geyser` binary first on the PATH.
fn run_printed(node: &Node, key: &str, dir: &Path, line: &str) -> String {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env("GEYSER_URL", &node.url)
        .env("GEYSER_API_KEY", key)
        .env("GEYSER_PY_TOOLS", python_tools())
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{line}` failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Inserts `addition` after the first line of `file` containing `anchor`.
fn add_after(file: &Path, anchor: &str, addition: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let at = text
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor:?} not in {}:\n{text}", file.display()));
    let end = at + text[at..].find('\n').unwrap() + 1;
    std::fs::write(file, format!("{}{addition}{}", &text[..end], &text[end..])).unwrap();
}

/// A client per runtime thread for the gateway calls, so connections stay open after each
/// answer (per thread: each test has its own runtime, and a pooled connection belongs to one).
fn gateway_client() -> reqwest::Client {
    thread_local! {
        static CLIENT: reqwest::Client = reqwest::Client::new();
    }
    CLIENT.with(reqwest::Client::clone)
}

async fn get(node: &Node, tenant: &str, function: &str, path: &str) -> (u16, String) {
    let reply = gateway_client()
        .get(format!("{}/fn/{tenant}/{function}{path}", node.url))
        .send()
        .await
        .expect("gateway answers");
    (reply.status().as_u16(), reply.text().await.unwrap())
}

async fn post(node: &Node, key: &str, path: &str, body: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path}", node.url))
        .bearer_auth(key)
        .body(body.to_owned())
        .send()
        .await
        .expect("api answers")
        .json()
        .await
        .expect("json")
}

async fn logs(node: &Node, key: &str, function: &str) -> String {
    let lines = get_json(
        &reqwest::Client::new(),
        format!("{}/v1/functions/{function}/logs?limit=500", node.url),
        key,
    )
    .await;
    lines
        .as_array()
        .expect("log lines")
        .iter()
        .map(|l| format!("{} {}\n", l["level"], l["message"].as_str().unwrap_or("")))
        .collect()
}

/// The function's logs once they hold every one of `needles` (lines are written in batches).
async fn logs_with(node: &Node, key: &str, function: &str, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = logs(node, key, function).await;
        if needles.iter().all(|n| text.contains(n)) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{function}'s logs never held all of {needles:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The outcomes of the function's latest invocations once there are `n` (records are written
/// in batches), sorted (records of one millisecond have no order).
async fn outcomes(node: &Node, key: &str, function: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let records = get_json(
            &reqwest::Client::new(),
            format!("{}/v1/functions/{function}/invocations?limit=100", node.url),
            key,
        )
        .await;
        let seen: Vec<String> = records
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
            .collect();
        if seen.len() >= n {
            let mut seen = seen;
            seen.sort();
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{function} has {} invocation records, not {n}: {records}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node (with the Kafka broker when `kafka`) in a fresh directory and a fresh tenant:
/// (dir, admin key, node, tenant, tenant key). The directory also holds the projects.
fn setup(prefix: &str, kafka: bool) -> (tempfile::TempDir, String, Node, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let admin = format!("admin-{:016x}", rand::random::<u64>());
    let brokers = kafka_brokers();
    let extra: &[&str] = if kafka {
        &["--kafka-brokers", &brokers]
    } else {
        &[]
    };
    let node = start(&dir.path().join("data"), extra, Some(&admin));
    let tenant = format!("{prefix}-{:08x}", rand::random::<u32>());
    let key = create_tenant(&node, &admin, &tenant);
    (dir, admin, node, tenant, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_http_and_event_functions_from_the_scaffold() {
    let (dir, admin, node, tenant, key) = setup("js", true);
    let work = dir.path();

    // HTTP: the scaffold, plus a route reading kv and config and one that throws.
    let (build, deploy) = scaffold(work, "js-http", &["--lang", "js", "--http"]);
    assert_eq!(build, "cd js-http && npm install && npm run build");
    assert_eq!(deploy, "geyser deploy js-http app.wasm");
    add_after(
        &work.join("js-http/src/app.js"),
        "if (pathname === '/') return",
        "  if (pathname === '/throw') throw new RangeError('thrown on purpose');\n  \
         if (pathname === '/kv') return new Response(kv.getText(new URL(request.url).searchParams.get('key')) ?? 'absent');\n  \
         if (pathname === '/config') return Response.json({ greeting: config.get('GREETING') ?? null, all: config.all() });\n",
    );
    add_after(
        &work.join("js-http/src/app.js"),
        "import { kv, log, serve } from 'geyser-sdk';",
        "import { config } from 'geyser-sdk';\n",
    );
    run_printed(&node, &key, work, &build);
    let deployed = run_printed(&node, &key, work, &deploy);
    assert!(deployed.contains("(http function"), "{deployed}");

    assert_eq!(
        get(&node, &tenant, "js-http", "/").await,
        (200, "hello from js-http\n".into())
    );
    for n in 1..=3 {
        assert_eq!(
            get(&node, &tenant, "js-http", "/count").await,
            (200, format!(r#"{{"count":{n}}}"#))
        );
    }
    assert_eq!(
        get(&node, &tenant, "js-http", "/nowhere").await.0,
        404,
        "unknown paths"
    );

    // An exception: 500 to the caller, an error in the meter, the stack in the logs.
    let (status, _) = get(&node, &tenant, "js-http", "/throw").await;
    assert_eq!(status, 500);
    // /, 3 × /count, /nowhere (a 404 is the function's answer, not a failure), /throw.
    // The thrown call is a failure; a host race (open, see the stop note) can record a 5xx
    // answered in full as `cancelled` when the body is dropped before the guest has returned.
    let seen = outcomes(&node, &key, "js-http", 6).await;
    assert_eq!(&seen[1..], ["ok", "ok", "ok", "ok", "ok"], "{seen:?}");
    assert!(
        ["error", "cancelled"].contains(&seen[0].as_str()),
        "{seen:?}"
    );
    logs_with(
        &node,
        &key,
        "js-http",
        &[
            "the HTTP handler threw: RangeError: thrown on purpose",
            "@bundle.js:",
            "counted 3",
        ],
    )
    .await;

    // Config and secrets through wasi:config, set with the CLI (each change is a new version).
    stdout(&geyser(
        &node,
        &key,
        &["config", "set", "js-http", "GREETING=hej"],
    ));
    let (status, body) = get(&node, &tenant, "js-http", "/config").await;
    assert_eq!(status, 200, "{body}");
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["greeting"], "hej", "{body}");

    // Events: the scaffold through the manual endpoint and a Kafka binding.
    let (build, deploy) = scaffold(work, "js-events", &["--lang", "js", "--event"]);
    run_printed(&node, &key, work, &build);
    let deployed = run_printed(&node, &key, work, &deploy);
    assert!(deployed.contains("(event function"), "{deployed}");

    let delivered = post(
        &node,
        &key,
        "/v1/functions/js-events/events?topic=manual",
        r#"{"amount": 5}"#,
    )
    .await;
    assert_eq!(delivered["outcome"], "ok", "{delivered}");
    // A payload that is not JSON throws: the endpoint answers the failure, the record is an error.
    let refused = post(&node, &key, "/v1/functions/js-events/events", "not json").await;
    assert_eq!(refused["error"]["code"], "function_error", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("SyntaxError"), "{refused}");
    assert_eq!(outcomes(&node, &key, "js-events", 2).await, ["error", "ok"]);
    logs_with(
        &node,
        &key,
        "js-events",
        &["the event handler (event ", "SyntaxError", "+5 (total 5)"],
    )
    .await;

    let topic = format!("{tenant}.orders");
    create_topic(&topic, 2).await;
    let mut records: Vec<Record> = (0..40)
        .map(|i| Record {
            key: Some(format!("k{}", i % 4)),
            payload: r#"{"amount": 2}"#.into(),
            ..Record::default()
        })
        .collect();
    records.push(Record {
        key: Some("bad".into()),
        payload: "{broken".into(),
        ..Record::default()
    });
    produce(&producer(), &topic, &records).await;
    stdout(&geyser(
        &node,
        &key,
        &[
            "trigger",
            "kafka",
            "js-events",
            &topic,
            "--start",
            "earliest",
            "--max-attempts",
            "2",
            "--backoff-ms",
            "10",
        ],
    ));
    // The bad record ends on the dead-letter topic after its two attempts...
    let dead = read_topic(&format!("{topic}.dlq"), 1, Duration::from_secs(120)).await;
    assert_eq!(payload(&dead[0]), "{broken");
    // ...and every good one counted exactly once: 5 by hand + 40 × 2.
    let total = || async {
        get(&node, &tenant, "js-http", "/kv?key=js-events/total")
            .await
            .1
    };
    wait_until(
        "the 40 events counted",
        Duration::from_secs(120),
        || async { total().await == "85" },
    )
    .await;
    let series = format!(
        "geyser_kafka_consumer_lag{{tenant=\"{tenant}\",function=\"js-events\",topic=\"{topic}\"}}"
    );
    wait_until("the lag drained", Duration::from_secs(60), || async {
        metric(&node, &admin, &series).await == Some(0.0)
    })
    .await;
    assert_eq!(total().await, "85");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_and_schedule_functions_from_the_scaffold() {
    let (dir, _admin, node, tenant, key) = setup("py", false);
    let work = dir.path();

    let (build, deploy) = scaffold(work, "py-http", &["--lang", "python", "--http"]);
    assert_eq!(build, "cd py-http && ./build.sh");
    assert_eq!(deploy, "geyser deploy py-http app.wasm");
    add_after(
        &work.join("py-http/app.py"),
        "def handle(request",
        "    if request.path == \"/raise\":\n        raise RuntimeError(\"raised on purpose\")\n    \
         if request.path == \"/kv\":\n        return Response.text(200, kv.get_text(request.query_param(\"key\")) or \"absent\")\n    \
         if request.path == \"/echo\":\n        return Response.json(200, {\"method\": request.method, \"body\": request.json(), \"secret\": geyser.config.get(\"TOKEN\")})\n",
    );
    run_printed(&node, &key, work, &build);
    // The deploy line works from inside the project too.
    let deployed = run_printed(&node, &key, &work.join("py-http"), &deploy);
    assert!(deployed.contains("(http function"), "{deployed}");

    assert_eq!(
        get(&node, &tenant, "py-http", "/").await,
        (200, "hello from py-http\n".into())
    );
    for n in 1..=2 {
        assert_eq!(
            get(&node, &tenant, "py-http", "/count").await,
            (200, format!(r#"{{"count":{n}}}"#))
        );
    }
    assert_eq!(get(&node, &tenant, "py-http", "/other").await.0, 404);
    let (status, _) = get(&node, &tenant, "py-http", "/raise").await;
    assert_eq!(status, 500);
    logs_with(
        &node,
        &key,
        "py-http",
        &[
            "the HTTP handler raised:",
            "Traceback (most recent call last)",
            "RuntimeError: raised on purpose",
        ],
    )
    .await;
    // /, 2 × /count, /other (404), /raise.
    assert_eq!(
        outcomes(&node, &key, "py-http", 5).await,
        ["error", "ok", "ok", "ok", "ok"]
    );

    // A secret and a request body; a malformed body is a 400, not a failure.
    let set = geyser_with_stdin(
        &node,
        &key,
        &["secret", "set", "py-http", "TOKEN"],
        b"s3cret",
    );
    stdout(&set);
    let echoed = reqwest::Client::new()
        .post(format!("{}/fn/{tenant}/py-http/echo", node.url))
        .body(r#"{"n": 7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), 200);
    let echoed: Value = echoed.json().await.unwrap();
    assert_eq!(
        echoed,
        serde_json::json!({"method": "POST", "body": {"n": 7}, "secret": "s3cret"})
    );
    let malformed = reqwest::Client::new()
        .post(format!("{}/fn/{tenant}/py-http/echo", node.url))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    // Schedule: the scaffold, plus a schedule that fails.
    let (build, deploy) = scaffold(work, "py-tick", &["--lang", "python", "--schedule"]);
    add_after(
        &work.join("py-tick/app.py"),
        "def on_tick(tick",
        "    if tick.schedule == \"failing\":\n        raise ValueError(\"failing on purpose\")\n",
    );
    run_printed(&node, &key, work, &build);
    let deployed = run_printed(&node, &key, work, &deploy);
    assert!(deployed.contains("(schedule function"), "{deployed}");
    for (schedule, expression) in [("monthly", "0 6 1 * *"), ("failing", "0 7 1 * *")] {
        stdout(&geyser(
            &node,
            &key,
            &[
                "trigger", "cron", "py-tick", expression, "--name", schedule, "--tz", "UTC",
            ],
        ));
    }
    let ran = stdout(&geyser(
        &node,
        &key,
        &[
            "trigger",
            "run",
            "py-tick",
            "monthly",
            "--scheduled-time",
            "2026-11-01T06:00:00Z",
        ],
    ));
    assert_eq!(
        ran.trim_end(),
        "ran monthly for 2026-11-01T06:00:00.000Z: ok"
    );
    let (_, last) = get(&node, &tenant, "py-http", "/kv?key=py-tick/last-tick").await;
    assert_eq!(last, "2026-11-01T06:00:00.000Z");
    logs_with(
        &node,
        &key,
        "py-tick",
        &["tick of monthly due 2026-11-01T06:00:00.000Z fired "],
    )
    .await;
    let failed = stdout(&geyser(
        &node,
        &key,
        &["trigger", "run", "py-tick", "failing"],
    ));
    assert!(
        failed.starts_with("ran failing for ") && failed.trim_end().ends_with(": error"),
        "{failed}"
    );
    logs_with(
        &node,
        &key,
        "py-tick",
        &["Traceback", "ValueError: failing on purpose"],
    )
    .await;
    assert_eq!(outcomes(&node, &key, "py-tick", 2).await, ["error", "ok"]);

    // The author loop: `geyser dev` builds and deploys, then redeploys on save.
    let mut dev = Command::new(BIN)
        .args(["dev", "py-http", "--dir"])
        .arg(work.join("py-http"))
        .env("GEYSER_URL", &node.url)
        .env("GEYSER_API_KEY", &key)
        .env("GEYSER_PY_TOOLS", python_tools())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run geyser dev");
    let app = work.join("py-http/app.py");
    let source = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        source.replace("hello from py-http", "hello again from py-http"),
    )
    .unwrap();
    wait_until(
        "geyser dev redeployed the edit",
        Duration::from_secs(240),
        || async {
            get(&node, &tenant, "py-http", "/").await == (200, "hello again from py-http\n".into())
        },
    )
    .await;
    dev.kill().unwrap();
    dev.wait().unwrap();
}

/// examples/event-counter/js, built from source: the Rust counter's behaviour from one
/// JavaScript component with both handlers — counts per key, order violations, a failing
/// payload refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_event_counter_counts_like_the_rust_one() {
    let wasm = geyser_test_support::polyglot_guest(
        "examples/event-counter/js",
        "npm install --no-audit --no-fund && npm run build",
        "counter.wasm",
    );
    let (_dir, _admin, node, tenant, key) = setup("jsc", false);
    let deployed = stdout(&geyser(
        &node,
        &key,
        &["deploy", "counter", wasm.to_str().unwrap()],
    ));
    assert!(deployed.contains("(http,event function"), "{deployed}");

    for (record_key, payload) in [("a", "1"), ("a", "2"), ("b", "x"), ("a", "2"), ("a", "5")] {
        let delivered = post(
            &node,
            &key,
            &format!("/v1/functions/counter/events?topic=clicks&key={record_key}"),
            payload,
        )
        .await;
        assert_eq!(delivered["outcome"], "ok", "{delivered}");
    }
    let failed = post(
        &node,
        &key,
        "/v1/functions/counter/events?key=a",
        "fail now",
    )
    .await;
    assert_eq!(failed["error"]["code"], "function_error", "{failed}");

    assert_eq!(
        get(&node, &tenant, "counter", "/counts/a").await,
        (200, "4".into())
    );
    assert_eq!(
        get(&node, &tenant, "counter", "/counts/b").await,
        (200, "1".into())
    );
    assert_eq!(
        get(&node, &tenant, "counter", "/disorder/a").await,
        (200, "1".into())
    );
    assert_eq!(
        get(&node, &tenant, "counter", "/counts/zzz").await,
        (200, "0".into())
    );
    assert_eq!(get(&node, &tenant, "counter", "/elsewhere").await.0, 404);
    logs_with(&node, &key, "counter", &["refusing manual/"]).await;
}

/// The two handler kinds the tests above do not build: a JavaScript schedule function and a
/// Python event function, from their scaffolds. Each runs once, then fails on a bad input —
/// the failure metered, its stack in the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_tick_and_a_python_event_fail_like_the_others() {
    let (dir, _admin, node, _tenant, key) = setup("kinds", false);
    let work = dir.path();
    for (name, args) in [
        ("js-tick", ["--lang", "js", "--schedule"]),
        ("py-events", ["--lang", "python", "--event"]),
    ] {
        let (build, deploy) = scaffold(work, name, &args);
        run_printed(&node, &key, work, &build);
        run_printed(&node, &key, work, &deploy);
    }
    add_after(
        &work.join("js-tick/src/app.js"),
        "onSchedule(async (tick) => {",
        "  if (tick.schedule === 'failing') throw new TypeError('failing on purpose');\n",
    );
    // Rebuilt with the failing case (the scaffold as generated ran first).
    let ok = post(
        &node,
        &key,
        "/v1/functions/js-tick/ticks?schedule=nightly",
        "",
    )
    .await;
    assert_eq!(ok["outcome"], "ok", "{ok}");
    run_printed(&node, &key, &work.join("js-tick"), "npm run build");
    run_printed(&node, &key, work, "geyser deploy js-tick app.wasm");
    let failed = post(
        &node,
        &key,
        "/v1/functions/js-tick/ticks?schedule=failing",
        "",
    )
    .await;
    assert_eq!(failed["error"]["code"], "function_error", "{failed}");
    logs_with(
        &node,
        &key,
        "js-tick",
        &[
            "tick of nightly due ",
            "the schedule handler (tick ",
            "TypeError: failing on purpose",
            "@bundle.js:",
        ],
    )
    .await;
    assert_eq!(outcomes(&node, &key, "js-tick", 2).await, ["error", "ok"]);

    let ok = post(
        &node,
        &key,
        "/v1/functions/py-events/events?topic=t",
        r#"{"amount": 3}"#,
    )
    .await;
    assert_eq!(ok["outcome"], "ok", "{ok}");
    let failed = post(
        &node,
        &key,
        "/v1/functions/py-events/events?topic=t",
        "{nope",
    )
    .await;
    assert_eq!(failed["error"]["code"], "function_error", "{failed}");
    logs_with(
        &node,
        &key,
        "py-events",
        &[
            "+3 (total 3)",
            "the event handler (event ",
            "Traceback",
            "JSONDecodeError",
        ],
    )
    .await;
    assert_eq!(outcomes(&node, &key, "py-events", 2).await, ["error", "ok"]);
}
