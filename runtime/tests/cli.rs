//! The `geyser` binary as a user runs it: `geyser serve` on a fresh data directory (generated
//! admin key, SQLite), the client subcommands against it, and SIGTERM flushing metering.

use geyser_functions::{Store, TenantName};
use geyser_test_support::guest_path;
mod common;

use common::*;
use std::process::Command;

#[test]
fn serve_and_client_commands_work_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let hello = guest_path("example_hello");
    let node = start(dir.path(), &[], None);

    // The admin key was generated into the data dir, readable only by its owner.
    let key_path = dir.path().join("admin.key");
    let admin = std::fs::read_to_string(&key_path)
        .unwrap()
        .trim()
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let key = create_tenant(&node, &admin, "acme");

    let out = stdout(&geyser(
        &node,
        &key,
        &["deploy", "hello", hello.to_str().unwrap()],
    ));
    assert!(out.contains("deployed hello version 1"), "{out}");
    let out = stdout(&geyser(&node, &key, &["invoke", "hello", "/cli?x=1"]));
    assert!(
        out.contains("hello from geyser") && out.contains("/cli?x=1"),
        "{out}"
    );

    let functions: serde_json::Value =
        serde_json::from_str(&stdout(&geyser(&node, &key, &["--json", "functions"]))).unwrap();
    assert_eq!(functions[0]["name"], "hello");
    assert_eq!(functions[0]["url"], "/fn/acme/hello");

    // Errors: one clear line, non-zero exit.
    let err = stderr_failure(&geyser(
        &node,
        &key,
        &["deploy", "x", "/does/not/exist.wasm"],
    ));
    assert!(
        err.starts_with("error: cannot read /does/not/exist.wasm"),
        "{err}"
    );
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let err = stderr_failure(&geyser(
        &node,
        &key,
        &["deploy", "x", garbage.to_str().unwrap()],
    ));
    assert!(
        err.contains("400") && err.contains("not a WebAssembly binary"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let unknown = format!("gy_{}", "0".repeat(64));
    let err = stderr_failure(&geyser(&node, &unknown, &["functions"]));
    assert!(
        err.contains("401") && err.contains("invalid API key"),
        "{err}"
    );
    let err = stderr_failure(&geyser(&node, "wrong", &["functions"]));
    assert!(
        err.contains("401") && err.contains("malformed API key"),
        "{err}"
    );

    // Configuration: variables and the allow-list from argv, a secret from stdin only.
    let out = stdout(&geyser(
        &node,
        &key,
        &[
            "config",
            "set",
            "hello",
            "GREETING=hi",
            "MODE=test",
            "--allow-host",
            "https://api.example.com",
        ],
    ));
    assert!(out.contains("configured hello: version 2"), "{out}");
    assert!(out.contains("variable GREETING=hi"), "{out}");
    assert!(out.contains("allow    https://api.example.com"), "{out}");
    let out = stdout(&geyser_with_stdin(
        &node,
        &key,
        &["secret", "set", "hello", "API_KEY"],
        b"s3cret-from-stdin\n",
    ));
    assert!(out.contains("configured hello: version 3"), "{out}");
    assert!(
        out.contains("secret   API_KEY (set)") && !out.contains("s3cret"),
        "{out}"
    );
    let out = stdout(&geyser(&node, &key, &["config", "unset", "hello", "MODE"]));
    assert!(out.contains("version 4") && !out.contains("MODE"), "{out}");
    let shown: serde_json::Value = serde_json::from_str(&stdout(&geyser(
        &node,
        &key,
        &["--json", "config", "show", "hello"],
    )))
    .unwrap();
    assert_eq!(shown["version"], 4);
    assert_eq!(
        shown["config"]["variables"],
        serde_json::json!({"GREETING": "hi"})
    );
    assert_eq!(shown["config"]["secrets"], serde_json::json!(["API_KEY"]));
    let err = stderr_failure(&geyser_with_stdin(
        &node,
        &key,
        &["secret", "set", "hello", "bad-name"],
        b"x",
    ));
    assert!(err.contains("400") && err.contains("secrets"), "{err}");
    let err = stderr_failure(&geyser_with_stdin(
        &node,
        &key,
        &["secret", "set", "hello", "EMPTY"],
        b"",
    ));
    assert!(err.contains("empty secret"), "{err}");

    for _ in 0..3 {
        stdout(&geyser(&node, &key, &["invoke", "hello"]));
    }
    let usage: serde_json::Value =
        serde_json::from_str(&stdout(&geyser(&node, &key, &["--json", "usage"]))).unwrap();
    assert_eq!(usage["totals"]["invocations"], 4, "{usage}");

    let out = stdout(&geyser(&node, &key, &["usage"]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("hello ") && l.contains(" 4 ")),
        "{out}"
    );
}

#[test]
fn sigterm_flushes_metering_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let hello = guest_path("example_hello");
    // A long flush interval: only the shutdown path can have written the records.
    let config = dir.path().join("geyser.toml");
    std::fs::write(&config, "[metering]\nflush_interval_ms = 600000\n").unwrap();
    let mut node = start(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        Some("admin-secret"),
    );
    let key = create_tenant(&node, "admin-secret", "term");
    stdout(&geyser(
        &node,
        &key,
        &["deploy", "hello", hello.to_str().unwrap()],
    ));
    for _ in 0..6 {
        stdout(&geyser(&node, &key, &["invoke", "hello"]));
    }

    let exit = node.terminate();
    assert!(exit.success(), "geyser exited with {exit}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("geyser.db").display());
        let store = Store::open(&url, 1).await.unwrap();
        let tenant = store
            .tenant_by_name(&TenantName::parse("term").unwrap())
            .await
            .unwrap();
        let usage = store.usage(tenant.id).await.unwrap();
        assert_eq!(usage.totals().invocations, 6);
        assert_eq!(usage.totals().errors, 0);
    });
}

/// `geyser new` for each kind: the generated crate builds with plain `cargo build --release`,
/// deploys, and runs (over HTTP, with an event, with a tick), its logs showing it ran.
#[test]
fn generated_functions_build_deploy_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[], Some("admin-new"));
    let key = create_tenant(&node, "admin-new", "scaffold");
    // One target dir for the three crates (and across runs), so their dependencies build once.
    let target = geyser_test_support::workspace_root()
        .join("target")
        .join("scaffold");

    for (kind, name) in [
        ("--http", "gen-http"),
        ("--event", "gen-event"),
        ("--schedule", "gen-schedule"),
    ] {
        let crate_dir = dir.path().join(name);
        let out = stdout(&geyser(
            &node,
            &key,
            &["new", name, kind, "--dir", crate_dir.to_str().unwrap()],
        ));
        assert!(
            out.contains(&format!("deploy: geyser deploy {name}")),
            "{out}"
        );
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "README.md",
            ".cargo/config.toml",
        ] {
            assert!(crate_dir.join(file).exists(), "{name}: {file} missing");
        }
        let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release"])
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "{name} did not build:\n{}",
            String::from_utf8_lossy(&build.stderr)
        );
        let wasm = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let out = stdout(&geyser(
            &node,
            &key,
            &["deploy", name, wasm.to_str().unwrap()],
        ));
        let expected_kind = &kind[2..];
        assert!(out.contains(&format!("({expected_kind} function")), "{out}");
    }

    let out = stdout(&geyser(&node, &key, &["invoke", "gen-http", "/count"]));
    assert_eq!(out, r#"{"count":1}"#);
    for (hook, name) in [
        ("events?topic=demo", "gen-event"),
        ("ticks?schedule=nightly", "gen-schedule"),
    ] {
        let reply = http_post(&node, &key, &format!("/v1/functions/{name}/{hook}"));
        assert!(
            reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
            "{reply}"
        );
        assert!(reply.contains(r#""outcome":"ok""#), "{reply}");
    }
    let logs = stdout(&geyser(&node, &key, &["logs", "gen-event"]));
    assert!(logs.contains("on demo: 0 bytes (#1)"), "{logs}");
    let logs = stdout(&geyser(&node, &key, &["logs", "gen-schedule"]));
    assert!(logs.contains("tick of nightly due"), "{logs}");

    // Cron through the CLI: bind, run now, history; a bad expression is one clear error line.
    let out = stdout(&geyser(
        &node,
        &key,
        &[
            "trigger",
            "cron",
            "gen-schedule",
            "0 6 1 * *",
            "--name",
            "monthly",
            "--tz",
            "Europe/Berlin",
            "--max-attempts",
            "3",
        ],
    ));
    assert!(
        out.starts_with("schedule monthly on gen-schedule: 0 6 1 * * (Europe/Berlin), next: "),
        "{out}"
    );
    let out = stdout(&geyser(
        &node,
        &key,
        &[
            "trigger",
            "run",
            "gen-schedule",
            "monthly",
            "--scheduled-time",
            "2026-12-01T05:00:00Z",
        ],
    ));
    assert_eq!(out.trim(), "ran monthly for 2026-12-01T05:00:00.000Z: ok");
    let history: serde_json::Value = serde_json::from_str(&stdout(&geyser(
        &node,
        &key,
        &["trigger", "runs", "gen-schedule", "monthly"],
    )))
    .unwrap();
    assert_eq!(history[0]["manual"], true);
    assert_eq!(history[0]["attempts"], 1);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&geyser(
        &node,
        &key,
        &["trigger", "schedules", "gen-schedule"],
    )))
    .unwrap();
    assert_eq!(listed[0]["max_attempts"], 3, "{listed}");
    let err = stderr_failure(&geyser(
        &node,
        &key,
        &["trigger", "cron", "gen-schedule", "0 6 32 * *"],
    ));
    assert!(
        err.contains("400") && err.contains("invalid day-of-month field \"32\""),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let err = stderr_failure(&geyser(&node, &key, &["new", "Bad Name", "--http"]));
    assert!(err.contains("invalid function name"), "{err}");
}

/// A bare `POST` with a bearer key, answered whole (HTTP/1.0, no client library needed).
fn http_post(node: &Node, key: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = node.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// Two `geyser serve` processes on one PostgreSQL database sell a 500-seat tier to a burst of
/// 2000 buyers split between them: exactly 500 get a seat.
#[test]
fn two_processes_on_one_postgres_never_oversell() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = runtime.block_on(geyser_test_support::fresh_postgres_database());
    let tickets = guest_path("example_ticket_reservation");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let config = dirs[0].path().join("geyser.toml");
    std::fs::write(&config, "[engine]\nqueue_timeout_ms = 120000\n").unwrap();
    let nodes: Vec<Node> = dirs
        .iter()
        .map(|d| {
            start(
                d.path(),
                &[
                    "--database-url",
                    &database,
                    "--config",
                    config.to_str().unwrap(),
                ],
                Some("admin-two"),
            )
        })
        .collect();
    let key = create_tenant(&nodes[0], "admin-two", "duo");
    stdout(&geyser(
        &nodes[0],
        &key,
        // 60 s: like the other 2,000-request bursts, this asserts no overselling, not latency.
        &[
            "deploy",
            "tickets",
            tickets.to_str().unwrap(),
            "--timeout-ms",
            "60000",
        ],
    ));

    runtime.block_on(async {
        let http = reqwest::Client::new();
        let event: serde_json::Value = http
            .post(format!("{}/fn/duo/tickets/events", nodes[0].url))
            .bearer_auth(&key)
            .json(&serde_json::json!({
                "name": "Live", "date": "2026-12-31T20:00:00Z",
                "tiers": [{"name": "standard", "seats": 500, "price_cents": 5000}]
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let event = event["id"].as_str().unwrap().to_owned();
        let tasks: Vec<_> = (0..2000)
            .map(|i| {
                let url = format!(
                    "{}/fn/duo/tickets/events/{event}/reservations",
                    nodes[i % 2].url
                );
                let http = http.clone();
                tokio::spawn(async move {
                    http.post(url)
                        .json(&serde_json::json!({"tier": "standard", "quantity": 1}))
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut statuses = std::collections::BTreeMap::new();
        for task in tasks {
            *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
        }
        assert_eq!(
            statuses,
            std::collections::BTreeMap::from([(201, 500), (409, 1500)])
        );
        let after: serde_json::Value = http
            .get(format!("{}/fn/duo/tickets/events/{event}", nodes[1].url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(after["tiers"][0]["available"], 0);
    });
}

/// `--log-format json`: every line is a JSON object; an invocation's lines carry its tenant,
/// function, invocation id and trace id; no request body or API key is ever logged. Also
/// `geyser bill` and `geyser budget` as a user runs them.
#[test]
fn json_logs_name_the_invocation_and_bill_prints_the_statement() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("node.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let data = dir.path().join("data");
    let mut node = start_logging(
        &data,
        &["--log-format", "json"],
        Some("admin-key-for-logs"),
        "info,geyser_engine=debug",
        log,
    );
    let key = create_tenant(&node, "admin-key-for-logs", "logs");
    let hello = guest_path("example_hello");
    stdout(&geyser(
        &node,
        &key,
        &["deploy", "hello", hello.to_str().unwrap()],
    ));
    let out = stdout(&geyser(
        &node,
        &key,
        &[
            "invoke",
            "hello",
            "/x",
            "--method",
            "POST",
            "--data",
            "secret-body-123",
        ],
    ));
    assert!(out.contains("hello"), "{out}");

    let bill = stdout(&geyser(&node, &key, &["bill"]));
    assert!(bill.contains("Statement of logs for"), "{bill}");
    assert!(bill.contains("hello") && bill.contains("http"), "{bill}");
    assert!(bill.contains("TOTAL"), "{bill}");
    let csv = stdout(&geyser(&node, &key, &["bill", "--csv"]));
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("tenant,month,function,trigger,requests")
    );
    assert!(rows.next().unwrap().starts_with("logs,"), "{csv}");
    let budget = stdout(&geyser(&node, &key, &["budget", "--monthly-usd", "5"]));
    assert!(
        budget.contains("of the $5.00 monthly budget spent"),
        "{budget}"
    );
    assert!(budget.contains("policy refuse"), "{budget}");
    let err = stderr_failure(&geyser(&node, &key, &["bill", "--month", "2026-13"]));
    assert!(
        err.contains("400") && err.contains("invalid month"),
        "{err}"
    );

    assert!(node.terminate().success());
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(!text.contains("secret-body-123"), "a body was logged");
    assert!(!text.contains(&key), "an API key was logged");
    assert!(
        !text.contains("admin-key-for-logs"),
        "the admin key was logged"
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{text}");
    let finished = lines
        .iter()
        .find(|l| l["fields"]["message"] == "invocation finished")
        .unwrap_or_else(|| panic!("no invocation line:\n{text}"));
    let span = &finished["span"];
    assert_eq!(span["tenant"], "logs", "{finished}");
    assert_eq!(span["function"], "hello");
    assert_eq!(span["trigger"], "http");
    assert_eq!(span["outcome"], "ok");
    let invocation = span["invocation"].as_str().unwrap();
    assert_eq!(invocation.len(), 36, "a UUID: {invocation}");
    assert_eq!(span["trace_id"].as_str().unwrap().len(), 32);
    for l in &lines {
        assert!(l["level"].is_string() && l["timestamp"].is_string(), "{l}");
    }
}

/// `geyser` with extra environment variables.
fn geyser_env(node: &Node, key: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(common::BIN);
    command
        .args(args)
        .env("GEYSER_URL", &node.url)
        .env("GEYSER_API_KEY", key);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run geyser")
}

fn json_of(node: &Node, key: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&stdout(&geyser(node, key, &all))).unwrap()
}

#[test]
fn export_then_apply_reproduces_a_tenant_on_a_fresh_node() {
    // Node A on SQLite, node B on PostgreSQL.
    let hello = guest_path("example_hello");
    let ticker = guest_path("geyser_fixture_ticker");
    let dir_a = tempfile::tempdir().unwrap();
    let a = start(dir_a.path(), &[], Some("admin-a"));
    let key_a = create_tenant(&a, "admin-a", "apps");
    let run = |args: &[&str]| stdout(&geyser(&a, &key_a, args));
    run(&[
        "deploy",
        "hello",
        hello.to_str().unwrap(),
        "--memory-mb",
        "64",
        "--cpu-limit-ms",
        "250",
    ]);
    run(&[
        "config",
        "set",
        "hello",
        "GREETING=hi",
        "--allow-host",
        "https://api.example.com",
    ]);
    stdout(&geyser_with_stdin(
        &a,
        &key_a,
        &["secret", "set", "hello", "API_KEY"],
        b"value-never-exported",
    ));
    run(&["alias", "set", "hello", "beta", "--version", "3"]);
    run(&["deploy", "nightly", ticker.to_str().unwrap(), "--private"]);
    run(&[
        "trigger",
        "cron",
        "nightly",
        "0 0 3 * * *",
        "--name",
        "report",
        "--tz",
        "Europe/Paris",
        "--payload",
        r#"{"kind":"monthly"}"#,
        "--max-attempts",
        "2",
    ]);

    let out_dir = dir_a.path().join("app");
    let out = run(&["export", out_dir.to_str().unwrap()]);
    assert!(out.contains("exported 2 function(s)"), "{out}");
    let text = std::fs::read_to_string(out_dir.join("geyser.toml")).unwrap();
    assert!(!text.contains("value-never-exported"), "{text}");
    let file: toml::Value = toml::from_str(&text).unwrap();
    let exported = &file["functions"]["hello"];
    assert_eq!(exported["artifact"].as_str(), Some("hello.wasm"));
    assert_eq!(exported["memory_mb"].as_integer(), Some(64));
    assert_eq!(exported["cpu_limit_ms"].as_integer(), Some(250));
    assert_eq!(
        file["functions"]["nightly"]["cron"][0]["max_attempts"].as_integer(),
        Some(2),
        "{text}"
    );
    assert_eq!(exported["variables"]["GREETING"].as_str(), Some("hi"));
    assert_eq!(
        exported["secrets"]["API_KEY"]["env"].as_str(),
        Some("API_KEY")
    );
    assert_eq!(exported["aliases"][0].as_str(), Some("beta"));
    assert_eq!(
        file["functions"]["nightly"]["cron"][0]["timezone"].as_str(),
        Some("Europe/Paris")
    );
    assert_eq!(
        std::fs::read(out_dir.join("hello.wasm")).unwrap(),
        std::fs::read(&hello).unwrap()
    );

    // A fresh node on a fresh PostgreSQL database (the export came from SQLite): a plan first,
    // then the same tenant.
    let database = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(geyser_test_support::fresh_postgres_database());
    let dir_b = tempfile::tempdir().unwrap();
    let b = start(
        dir_b.path(),
        &["--database-url", &database],
        Some("admin-b"),
    );
    let key_b = create_tenant(&b, "admin-b", "apps");
    let app = out_dir.to_str().unwrap();
    let plan = stdout(&geyser_env(
        &b,
        &key_b,
        &["apply", app, "--dry-run"],
        &[("API_KEY", "from-env")],
    ));
    assert!(plan.contains("~ deploy hello (new function)"), "{plan}");
    assert!(plan.contains("~ cron nightly/report"), "{plan}");
    assert_eq!(json_of(&b, &key_b, &["functions"]), serde_json::json!([]));
    // A secret missing from the environment: refused before anything changes.
    let missing = Command::new(common::BIN)
        .args(["apply", app])
        .env("GEYSER_URL", &b.url)
        .env("GEYSER_API_KEY", &key_b)
        .env_remove("API_KEY")
        .output()
        .unwrap();
    let err = stderr_failure(&missing);
    assert!(
        err.contains("functions.hello.secrets.API_KEY") && err.contains("API_KEY is not set"),
        "{err}"
    );
    assert_eq!(json_of(&b, &key_b, &["functions"]), serde_json::json!([]));

    let out = stdout(&geyser_env(
        &b,
        &key_b,
        &["apply", app],
        &[("API_KEY", "from-env")],
    ));
    assert!(out.contains("applied"), "{out}");
    let (fa, fb) = (
        json_of(&a, &key_a, &["functions"]),
        json_of(&b, &key_b, &["functions"]),
    );
    let names = |f: &serde_json::Value| -> Vec<String> {
        f.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&fa), names(&fb));
    for function in ["hello", "nightly"] {
        let (ca, cb) = (
            json_of(&a, &key_a, &["config", "show", function]),
            json_of(&b, &key_b, &["config", "show", function]),
        );
        assert_eq!(ca["config"], cb["config"], "{function}");
    }
    let shown = json_of(&b, &key_b, &["functions"]);
    let hello_b = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "hello")
        .unwrap();
    assert_eq!(hello_b["memory_mb"], 64);
    assert_eq!(hello_b["cpu_limit_ms"], 250);
    let schedules_b = json_of(&b, &key_b, &["trigger", "schedules", "nightly"]);
    assert_eq!(schedules_b[0]["max_attempts"], 2, "{schedules_b}");
    let nightly_b = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "nightly")
        .unwrap();
    assert_eq!(nightly_b["public"], false);
    let cron = |node: &Node, key: &str| -> serde_json::Value {
        let mut list = json_of(node, key, &["trigger", "schedules", "nightly"]);
        for c in list.as_array_mut().unwrap() {
            c.as_object_mut().unwrap().remove("next");
        }
        list
    };
    assert_eq!(cron(&a, &key_a), cron(&b, &key_b));
    let out = stdout(&geyser(&b, &key_b, &["invoke", "hello@beta", "/x"]));
    assert!(out.contains("hello from geyser"), "{out}");

    // Nothing differs now.
    let again = stdout(&geyser_env(
        &b,
        &key_b,
        &["apply", app],
        &[("API_KEY", "from-env")],
    ));
    assert_eq!(again.trim(), "no changes");
    // `--build` runs a function's build command (in the file's directory) before it reads the
    // artifact: the same bytes under another name, so still no changes.
    let built = out_dir.join("built.toml");
    let mut with_build: toml::Value = toml::from_str(&text).unwrap();
    let hello_spec = with_build["functions"]["hello"].as_table_mut().unwrap();
    hello_spec.insert("artifact".into(), "out/hello-built.wasm".into());
    hello_spec.insert(
        "build".into(),
        "mkdir -p out && cp hello.wasm out/hello-built.wasm".into(),
    );
    std::fs::write(&built, toml::to_string(&with_build).unwrap()).unwrap();
    let err = stderr_failure(&geyser_env(
        &b,
        &key_b,
        &["apply", built.to_str().unwrap()],
        &[("API_KEY", "from-env")],
    ));
    assert!(
        err.contains("functions.hello.artifact: cannot read"),
        "{err}"
    );
    let again = stdout(&geyser_env(
        &b,
        &key_b,
        &["apply", built.to_str().unwrap(), "--build"],
        &[("API_KEY", "from-env")],
    ));
    assert_eq!(again.trim(), "no changes");
    assert!(out_dir.join("out/hello-built.wasm").exists());

    // A file with an unknown key names it; pruning removes what the file no longer has.
    let bad = out_dir.join("bad.toml");
    std::fs::write(&bad, text.replace("memory_mb", "memroy_mb")).unwrap();
    let err = stderr_failure(&geyser(&b, &key_b, &["apply", bad.to_str().unwrap()]));
    assert!(err.contains("memroy_mb"), "{err}");
    // What the node would refuse midway is refused before the first change: a bad cron
    // expression in a file that also changes a variable.
    let bad_cron = out_dir.join("bad-cron.toml");
    std::fs::write(
        &bad_cron,
        text.replace("0 0 3 * * *", "every night")
            .replace("GREETING = \"hi\"", "GREETING = \"changed\""),
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(&bad_cron)
            .unwrap()
            .contains("GREETING = \"changed\"")
    );
    let err = stderr_failure(&geyser_env(
        &b,
        &key_b,
        &["apply", bad_cron.to_str().unwrap()],
        &[("API_KEY", "from-env")],
    ));
    assert!(err.contains("functions.nightly.cron[0] (report)"), "{err}");
    let config = json_of(&b, &key_b, &["config", "show", "hello"]);
    assert_eq!(
        config["config"]["variables"]["GREETING"], "hi",
        "nothing was applied"
    );
    let only_hello = out_dir.join("only-hello.toml");
    let mut trimmed: toml::Value = toml::from_str(&text).unwrap();
    trimmed["functions"]
        .as_table_mut()
        .unwrap()
        .remove("nightly");
    std::fs::write(&only_hello, toml::to_string(&trimmed).unwrap()).unwrap();
    let out = stdout(&geyser_env(
        &b,
        &key_b,
        &["apply", only_hello.to_str().unwrap(), "--prune"],
        &[("API_KEY", "from-env")],
    ));
    assert!(out.contains("- function nightly"), "{out}");
    assert_eq!(
        names(&json_of(&b, &key_b, &["functions"])),
        vec!["hello".to_owned()]
    );

    // The alias commands as a user types them (node A, after the comparison).
    let out = run(&["alias", "show", "hello"]);
    assert!(out.contains("live") && out.contains("beta"), "{out}");
    let out = run(&[
        "alias",
        "set",
        "hello",
        "live",
        "--version",
        "3",
        "--canary",
        "2",
        "--weight",
        "0.1",
        "--sticky",
        "x-user",
        "--max-error-rate",
        "0.5",
    ]);
    assert!(
        out.contains("canary 2 at 10 %") && out.contains("sticky x-user"),
        "{out}"
    );
    let out = run(&["alias", "show", "hello", "live"]);
    assert!(
        out.contains(" set ") && out.contains("canary 2 at 0.1"),
        "{out}"
    );
    let out = run(&["promote", "hello"]);
    assert!(
        out.starts_with("promoted: hello@live") && out.contains("-> 2"),
        "{out}"
    );
    let out = run(&["alias", "rm", "hello", "beta"]);
    assert!(out.contains("removed alias beta of hello"), "{out}");
    let err = stderr_failure(&geyser(&a, &key_a, &["alias", "rm", "hello", "live"]));
    assert!(err.contains("400"), "{err}");
}

/// `geyser logs --follow` prints a line logged after it started, with its RFC 3339 time, and
/// keeps to its outcome filter; `geyser logs` without it prints the same times.
#[test]
fn logs_follow_streams_new_lines() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[], Some("admin-follow"));
    let key = create_tenant(&node, "admin-follow", "follow");
    let probe = guest_path("geyser_fixture_probe");
    stdout(&geyser(
        &node,
        &key,
        &["deploy", "probe", probe.to_str().unwrap()],
    ));
    let mut child = Command::new(BIN)
        .args([
            "logs",
            "probe",
            "--follow",
            "--limit",
            "0",
            "--outcome",
            "ok",
        ])
        .env("GEYSER_URL", &node.url)
        .env("GEYSER_API_KEY", &key)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run geyser logs --follow");
    let (lines, received) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // The tail may open after the first calls: call until a line arrives (a trap in between
    // must never show under `--outcome ok`).
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        assert!(Instant::now() < deadline, "no line followed within 30 s");
        let _ = geyser(&node, &key, &["invoke", "probe", "/trap"]);
        stdout(&geyser(
            &node,
            &key,
            &["invoke", "probe", "/print?text=followed"],
        ));
        if let Ok(line) = received.recv_timeout(Duration::from_millis(500)) {
            break line;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "geyser logs --follow exited"
        );
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.ends_with(" followed"), "{line}");
    assert!(!line.contains("trap"), "{line}");
    let at = line.split_whitespace().next().unwrap();
    chrono::DateTime::parse_from_rfc3339(at).unwrap_or_else(|e| panic!("{at}: {e}"));
    let recent = stdout(&geyser(
        &node,
        &key,
        &["logs", "probe", "--outcome", "trap"],
    ));
    let first = recent.lines().next().expect("the trap's lines");
    chrono::DateTime::parse_from_rfc3339(first.split_whitespace().next().unwrap()).unwrap();
    assert!(recent.contains("asked to trap"), "{recent}");
    assert!(!recent.contains("followed"), "{recent}");
}
