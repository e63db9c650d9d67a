//! A node one tenant cannot take down, tried against the real binary: guests that together ask
//! for far more memory than the node's budget leave it alive, bounded and answering others.

mod common;

use common::{client_runtime, create_tenant, deploy, get_json, start};
use geyser_test_support::{guest, slow_to_compile_component};
use serde_json::{Value, json};
use std::time::Duration;

const ADMIN: &str = "admin-guard";
const MIB: u64 = 1 << 20;

/// `geyser serve` on `dir` with `config` (TOML) as its configuration file.
fn start_configured(dir: &std::path::Path, config: &str) -> common::Node {
    let file = dir.join("geyser.toml");
    std::fs::write(&file, config).unwrap();
    start(dir, &["--config", file.to_str().unwrap()], Some(ADMIN))
}

/// The process's peak resident set (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The value of an unlabelled (or exactly labelled) sample in a Prometheus text page.
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{series} not in /metrics"))
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The admin's quota overrides for `tenant`; they must be accepted.
async fn set_quotas(http: &reqwest::Client, base: &str, tenant: &str, overrides: Value) {
    let reply = http
        .put(format!("{base}/v1/quotas?tenant={tenant}"))
        .bearer_auth(ADMIN)
        .json(&overrides)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
}

/// Twenty guests of two tenants each touch 400 MiB at once against a 3 GiB budget (each could
/// have 512 MiB: 8 GiB asked in all). The node stays up under 3.5 GB, the guests refused get a
/// clear 503, no tenant ever holds more than its share, and a third tenant's hello answers.
#[test]
fn memory_bombs_are_refused_within_the_node_budget() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_configured(dir.path(), "[engine]\nnode_memory_mb = 3072\n");
    let hog = create_tenant(&node, ADMIN, "hog");
    let greedy = create_tenant(&node, ADMIN, "greedy");
    let victim = create_tenant(&node, ADMIN, "victim");
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    runtime.block_on(async {
        // `hog` keeps the default share (50 %: 1536 MiB); `greedy` may take the whole node.
        set_quotas(&http, &base, "greedy", json!({"node_memory_percent": 100})).await;
        let query = "memory_mb=512&timeout_ms=60000";
        for key in [&hog, &greedy] {
            deploy(
                &http,
                &base,
                key,
                "bomb",
                query,
                guest("geyser_fixture_probe"),
            )
            .await;
        }
        deploy(&http, &base, &victim, "hello", "", guest("example_hello")).await;

        let page = metrics(&http, &base).await;
        assert_eq!(
            sample(&page, "geyser_guest_memory_budget_bytes"),
            (3072 * MIB) as f64
        );

        let bombs: Vec<_> = ["hog", "greedy"]
            .into_iter()
            .flat_map(|tenant| std::iter::repeat_n(tenant, 10))
            .map(|tenant| {
                let (http, base) = (http.clone(), base.clone());
                tokio::spawn(async move {
                    let reply = http
                        .get(format!("{base}/fn/{tenant}/bomb/hold?mb=400&ms=1500"))
                        .send()
                        .await
                        .unwrap();
                    let status = reply.status().as_u16();
                    (tenant, status, reply.text().await.unwrap())
                })
            })
            .collect();

        // While they run: the committed total never passes the budget, `hog` never passes its
        // share, and the victim's hello answers every time.
        let mut watched = 0;
        while bombs.iter().any(|b| !b.is_finished()) {
            let page = metrics(&http, &base).await;
            let committed = sample(&page, "geyser_guest_memory_committed_bytes");
            assert!(committed <= (3072 * MIB) as f64, "committed {committed}");
            let quotas: Value = get_json(&http, format!("{base}/v1/quotas"), &hog).await;
            let held = quotas["used"]["node_memory_bytes"].as_u64().unwrap();
            assert!(held <= 1536 * MIB, "hog holds {held}: {quotas}");
            let hello = http
                .get(format!("{base}/fn/victim/hello/"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap();
            assert_eq!(hello.status(), 200);
            watched += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(watched > 0);

        let mut ok = 0;
        for bomb in bombs {
            let (tenant, status, body) = bomb.await.unwrap();
            match status {
                200 => {
                    assert_eq!(body, "held 400");
                    ok += 1;
                }
                503 => assert!(
                    body.contains("node memory exhausted"),
                    "{tenant}: unclear refusal {body}"
                ),
                other => panic!("{tenant}: unexpected {other}: {body}"),
            }
        }
        // At most 7 fit at once (7 × 400 MiB < 3 GiB); the rest were refused, not the node.
        assert!((1..20).contains(&ok), "{ok} of 20 held 400 MiB");

        let page = metrics(&http, &base).await;
        assert_eq!(sample(&page, "geyser_guest_memory_committed_bytes"), 0.0);
        // The node's own high-water mark, not a sample that may fall between two bombs: several
        // held their 400 MiB at once, and never more than the budget together.
        let peak = sample(&page, "geyser_guest_memory_committed_peak_bytes");
        assert!(
            peak > (1024 * MIB) as f64 && peak <= (3072 * MIB) as f64,
            "peak committed {peak}"
        );
        let refused: f64 = ["node", "tenant_share", "high_water"]
            .iter()
            .map(|r| {
                sample(
                    &page,
                    &format!("geyser_memory_refusals_total{{reason=\"{r}\"}}"),
                )
            })
            .sum();
        assert!(
            refused >= f64::from(20 - ok),
            "{refused} refusals for {} refused",
            20 - ok
        );

        // The refused invocations are recorded as memory-limit (or rejected when they waited).
        let listed: Value = get_json(
            &http,
            format!("{base}/v1/functions/bomb/invocations?limit=1000"),
            &greedy,
        )
        .await;
        let outcomes: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes.len(), 10, "{listed}");
        assert!(
            outcomes
                .iter()
                .all(|o| ["ok", "memory-limit", "rejected"].contains(o)),
            "{outcomes:?}"
        );
    });
    let rss = peak_rss(node.child.id());
    assert!(rss < 3500 * MIB, "peak RSS {} MiB", rss / MIB);
    eprintln!("peak RSS {} MiB", rss / MIB);
}

async fn error_code(reply: reqwest::Response) -> (u16, Option<String>, String) {
    let status = reply.status().as_u16();
    let retry_after = reply
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = reply.json().await.unwrap();
    (
        status,
        retry_after,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// With one compile at a time: while a large component compiles, another tenant's deploy waits
/// `compile_wait_ms` and gets 503 with `Retry-After`, the same tenant's second deploy 429 at once,
/// and calls of deployed functions still answer; afterwards deploys go through again.
#[test]
fn deploys_are_admitted_to_the_compiler_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_configured(
        dir.path(),
        "[engine]\nmax_concurrent_compiles = 1\ncompile_wait_ms = 200\n",
    );
    let heavy = create_tenant(&node, ADMIN, "heavy");
    let other = create_tenant(&node, ADMIN, "other");
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    let component = slow_to_compile_component(20_000);
    runtime.block_on(async {
        deploy(&http, &base, &other, "hello", "", guest("example_hello")).await;
        let compiling = {
            let (http, base, heavy) = (http.clone(), base.clone(), heavy.clone());
            tokio::spawn(async move {
                let reply = http
                    .put(format!("{base}/v1/functions/big"))
                    .bearer_auth(&heavy)
                    .body(component)
                    .send()
                    .await
                    .unwrap();
                error_code(reply).await
            })
        };
        loop {
            let page = metrics(&http, &base).await;
            if sample(&page, "geyser_compiles_running") == 1.0 {
                break;
            }
            assert!(
                !compiling.is_finished(),
                "the compile ended before it was seen"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reply = http
            .put(format!("{base}/v1/functions/second"))
            .bearer_auth(&other)
            .body(guest("example_hello"))
            .send()
            .await
            .unwrap();
        let (status, retry_after, code) = error_code(reply).await;
        assert_eq!((status, code.as_str()), (503, "compile_busy"));
        assert_eq!(retry_after.as_deref(), Some("5"));
        let reply = http
            .put(format!("{base}/v1/functions/again"))
            .bearer_auth(&heavy)
            .body(guest("example_hello"))
            .send()
            .await
            .unwrap();
        let (status, _, code) = error_code(reply).await;
        assert_eq!((status, code.as_str()), (429, "compile_in_progress"));
        let hello = http
            .get(format!("{base}/fn/other/hello/"))
            .send()
            .await
            .unwrap();
        assert_eq!(hello.status(), 200);
        assert!(
            !compiling.is_finished(),
            "the compile was too short to test with"
        );

        let (status, _, code) = compiling.await.unwrap();
        assert_eq!((status, code.as_str()), (400, "invalid_component"));
        deploy(&http, &base, &other, "second", "", guest("example_hello")).await;
        let page = metrics(&http, &base).await;
        assert_eq!(
            sample(&page, "geyser_compile_refusals_total{reason=\"busy\"}"),
            1.0
        );
        assert_eq!(
            sample(
                &page,
                "geyser_compile_refusals_total{reason=\"tenant_busy\"}"
            ),
            1.0
        );
        assert_eq!(sample(&page, "geyser_compiles_running"), 0.0);
        // hello, the heavy component, second.
        assert_eq!(sample(&page, "geyser_compiles_total"), 3.0);
    });
}

/// Honest outcomes: the record keeps the status the guest answered; a 5xx answer is an error;
/// a client that hangs up mid-response ends the invocation `cancelled` (not a trap, not an
/// error), even when the guest then fails on the closed stream.
#[test]
fn records_keep_the_status_and_a_client_that_hangs_up_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[], Some(ADMIN));
    let key = create_tenant(&node, ADMIN, "honest");
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    runtime.block_on(async {
        deploy(
            &http,
            &base,
            &key,
            "probe",
            "timeout_ms=20000",
            guest("geyser_fixture_probe"),
        )
        .await;
        for code in [201, 404, 503] {
            let reply = http
                .get(format!("{base}/fn/honest/probe/status?code={code}"))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status().as_u16(), code);
        }
        // Read the first line of a slow body, then hang up.
        let mut reply = http
            .get(format!("{base}/fn/honest/probe/drip?chunks=500&ms=10"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let first = reply.chunk().await.unwrap().unwrap();
        assert!(first.starts_with(b"drip 0"), "{first:?}");
        drop(reply);

        let listed = loop {
            let listed: Value = get_json(
                &http,
                format!("{base}/v1/functions/probe/invocations"),
                &key,
            )
            .await;
            if listed.as_array().unwrap().len() == 4 {
                break listed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Newest first.
        let seen: Vec<(&str, Option<u64>)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["outcome"].as_str().unwrap(), r["http_status"].as_u64()))
            .collect();
        assert_eq!(
            seen,
            [
                ("cancelled", Some(200)),
                ("error", Some(503)),
                ("ok", Some(404)),
                ("ok", Some(201)),
            ],
            "{listed}"
        );
        let usage: Value = get_json(&http, format!("{base}/v1/usage"), &key).await;
        let text = usage.to_string();
        let row = usage["functions"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["function"] == "probe"))
            .unwrap_or_else(|| panic!("no probe row: {text}"));
        assert_eq!(row["errors"], 1, "{text}");
        assert_eq!(row["outcomes"]["cancelled"], 1, "{text}");
    });
}

/// A CPU-time limit beside the wall-clock timeout: a guest that computes past it traps with
/// `cpu-limit` after about that much CPU; the tenant's maximum bounds what a deploy may ask and
/// is the limit of a function that asks for none.
#[test]
fn the_cpu_limit_stops_a_guest_that_computes_too_long() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[], Some(ADMIN));
    let key = create_tenant(&node, ADMIN, "busy");
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    runtime.block_on(async {
        let probe = guest("geyser_fixture_probe");
        deploy(
            &http,
            &base,
            &key,
            "capped",
            "cpu_limit_ms=200&timeout_ms=20000",
            probe.clone(),
        )
        .await;
        let reply = http
            .get(format!("{base}/fn/busy/capped/spin?ms=50"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.text().await.unwrap(), "spun");
        let reply = http
            .get(format!("{base}/fn/busy/capped/spin?ms=5000"))
            .send()
            .await
            .unwrap();
        let (status, _, code) = error_code(reply).await;
        assert_eq!((status, code.as_str()), (500, "cpu_limit"));
        let listed: Value = get_json(
            &http,
            format!("{base}/v1/functions/capped/invocations"),
            &key,
        )
        .await;
        let last = &listed[0];
        assert_eq!(last["outcome"], "cpu-limit", "{listed}");
        let cpu_ms = last["cpu_ms"].as_f64().unwrap();
        assert!(
            (200.0..400.0).contains(&cpu_ms),
            "stopped after {cpu_ms} ms of CPU"
        );
        assert_eq!(listed[1]["outcome"], "ok");

        // The tenant's maximum.
        set_quotas(&http, &base, "busy", json!({"max_cpu_limit_ms": 500})).await;
        let reply = http
            .put(format!("{base}/v1/functions/greedy?cpu_limit_ms=1000"))
            .bearer_auth(&key)
            .body(probe.clone())
            .send()
            .await
            .unwrap();
        let (status, _, code) = error_code(reply).await;
        assert_eq!((status, code.as_str()), (403, "quota_exceeded"));
        deploy(&http, &base, &key, "default", "", probe).await;
        let shown: Value = get_json(&http, format!("{base}/v1/functions/default"), &key).await;
        assert_eq!(shown["cpu_limit_ms"], 500, "{shown}");
        assert_eq!(shown["versions"][0]["cpu_limit_ms"], 500, "{shown}");
    });
}

/// The scheduled time `seconds` from now as a yearly six-field cron expression (UTC).
fn once_at(seconds: u64) -> (String, String) {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds;
    let days = at / 86_400;
    let (h, m, s) = ((at % 86_400) / 3600, (at % 3600) / 60, at % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{s} {m} {h} {d} {month} *"),
        format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}.000Z"),
    )
}

async fn runs(http: &reqwest::Client, base: &str, key: &str) -> Vec<Value> {
    let listed: Value = get_json(
        http,
        format!("{base}/v1/functions/tick/triggers/cron/once/runs"),
        key,
    )
    .await;
    listed.as_array().unwrap().clone()
}

/// A node killed with -9 in the middle of a tick: once the claim's lease lapses, another node
/// fires the same tick (same scheduled time) again — the run is recorded once, with two
/// attempts — and a function idempotent by the tick's id counts it once in its kv.
#[test]
fn a_tick_cut_by_kill_9_completes_on_another_node_exactly_once() {
    let runtime = client_runtime();
    let database = runtime.block_on(geyser_test_support::fresh_postgres_database());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("geyser.toml");
    std::fs::write(
        &config,
        "[scheduler]\npass_interval_ms = 100\nlease_ms = 1000\nlease_margin_ms = 500\n",
    )
    .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--database-url",
        database.as_str(),
    ];
    let mut first = start(&dir.path().join("a"), &args, Some(ADMIN));
    let key = create_tenant(&first, ADMIN, "cronic");
    let http = reqwest::Client::new();
    let base = first.url.clone();
    let scheduled = runtime.block_on(async {
        deploy(
            &http,
            &base,
            &key,
            "tick",
            "timeout_ms=3000",
            guest("geyser_fixture_ticker"),
        )
        .await;
        deploy(
            &http,
            &base,
            &key,
            "probe",
            "",
            guest("geyser_fixture_probe"),
        )
        .await;
        let (expression, scheduled) = once_at(3);
        let reply = http
            .put(format!("{base}/v1/functions/tick/triggers/cron"))
            .bearer_auth(&key)
            .json(&json!({
                "name": "once",
                "expression": expression,
                "payload": {"spin_ms": 2000, "once": true},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
        // The tick is running on the first node: its guest counted the run and spins.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let started = http
                .get(format!("{base}/fn/cronic/probe/kv?op=get&key=runs/once"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if started == "1" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the tick never fired");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let runs = runs(&http, &base, &key).await;
        assert!(
            runs[0]["finished_at"].is_null(),
            "the tick ended before the kill: {runs:?}"
        );
        assert_eq!(runs[0]["scheduled_time"], scheduled.as_str(), "{runs:?}");
        scheduled
    });
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let second = start(&dir.path().join("b"), &args, Some(ADMIN));
    let base = second.url.clone();
    runtime.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let run = loop {
            let runs = runs(&http, &base, &key).await;
            assert_eq!(runs.len(), 1, "{runs:?}");
            if !runs[0]["finished_at"].is_null() {
                break runs[0].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never taken over: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(run["outcome"], "ok", "{run}");
        assert_eq!(run["attempts"], 2, "{run}");
        assert_eq!(run["scheduled_time"], scheduled.as_str(), "{run}");
        let kv = |key: &'static str| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                http.get(format!("{base}/fn/cronic/probe/kv?op=get&key={key}"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        };
        // Fired on both nodes, done once.
        assert_eq!(kv("runs/once").await, "2");
        assert_eq!(kv("ticks/once").await, "1");
    });
}

/// A schedule with `max_attempts` retries a failing tick with backoff, then records the last
/// failure; the run's attempts say how many there were.
#[test]
fn a_failing_tick_is_retried_up_to_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_configured(
        dir.path(),
        "[scheduler]\npass_interval_ms = 100\nretry_backoff_ms = 200\n",
    );
    let key = create_tenant(&node, ADMIN, "retrying");
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    runtime.block_on(async {
        // 1 s of computing in a 50 ms timeout: every attempt times out.
        deploy(
            &http,
            &base,
            &key,
            "tick",
            "timeout_ms=50",
            guest("geyser_fixture_ticker"),
        )
        .await;
        let (expression, scheduled) = once_at(3);
        let reply = http
            .put(format!("{base}/v1/functions/tick/triggers/cron"))
            .bearer_auth(&key)
            .json(&json!({
                "name": "once",
                "expression": expression,
                "payload": {"spin_ms": 1000},
                "max_attempts": 3,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let run = loop {
            let runs = runs(&http, &base, &key).await;
            if let Some(run) = runs.first()
                && !run["finished_at"].is_null()
            {
                assert_eq!(runs.len(), 1, "{runs:?}");
                break run.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never ended: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(run["outcome"], "timeout", "{run}");
        assert_eq!(run["attempts"], 3, "{run}");
        assert_eq!(run["scheduled_time"], scheduled.as_str(), "{run}");
        let listed: Value =
            get_json(&http, format!("{base}/v1/functions/tick/invocations"), &key).await;
        assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
        // A bad setting is refused.
        let reply = http
            .put(format!("{base}/v1/functions/tick/triggers/cron"))
            .bearer_auth(&key)
            .json(&json!({"name": "bad", "expression": "* * * * *", "max_attempts": 11}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 400);
    });
}

/// Log retention per tenant: past `max_log_bytes`, the oldest captured lines are dropped (and
/// counted); the newest stay.
#[test]
fn a_tenants_logs_are_trimmed_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_configured(dir.path(), "[metering]\nlog_trim_interval_ms = 100\n");
    let key = create_tenant(&node, ADMIN, "chatty");
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let base = node.url.clone();
    runtime.block_on(async {
        set_quotas(&http, &base, "chatty", json!({"max_log_bytes": 2000})).await;
        deploy(
            &http,
            &base,
            &key,
            "probe",
            "",
            guest("geyser_fixture_probe"),
        )
        .await;
        // 50 lines of 100 characters: 5,000 in all.
        for i in 0..50 {
            let text = format!("line-{i:02}-{}", "x".repeat(92));
            let reply = http
                .get(format!("{base}/fn/chatty/probe/print?text={text}"))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.text().await.unwrap(), "printed");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let kept = loop {
            let lines: Value = get_json(
                &http,
                format!("{base}/v1/functions/probe/logs?limit=1000"),
                &key,
            )
            .await;
            let messages: Vec<String> = lines
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["message"].as_str().unwrap().to_owned())
                .collect();
            let total: usize = messages.iter().map(String::len).sum();
            if total <= 2000 && messages.last().is_some_and(|m| m.starts_with("line-49")) {
                break messages;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never trimmed: {total} characters"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The newest 20 stay, oldest first; everything before them is gone.
        assert_eq!(kept.len(), 20, "{kept:?}");
        assert!(kept[0].starts_with("line-30"), "{kept:?}");
        // Counted once the trim's delete committed.
        loop {
            let dropped = sample(
                &metrics(&http, &base).await,
                "geyser_log_lines_dropped_total",
            );
            if dropped == 30.0 {
                break;
            }
            assert!(
                dropped < 30.0 && std::time::Instant::now() < deadline,
                "{dropped} dropped"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
