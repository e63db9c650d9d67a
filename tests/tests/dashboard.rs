//! The `/ui` dashboard in a real headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol: the page loads, a tenant signs in with its key (typed into the form), and
//! every number it shows equals what the API answers; a wrong key is refused on the page; the
//! admin sees every tenant.

use futures::{SinkExt, StreamExt};
use geyser_e2e::{Backend, TestServer, guest};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Headless Chromium with a DevTools endpoint; killed on drop.
struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Browser {
        let binary = std::env::var("GEYSER_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} (scripts/test.sh installs Debian's chromium): {e}")
            });
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromium exited before listening")
                .unwrap();
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        // Keep draining stderr so chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    /// A DevTools session on the browser's first page.
    async fn page(&self) -> Page {
        let targets: Value = reqwest::get(format!("http://127.0.0.1:{}/json/list", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Page { socket, next_id: 0 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Page {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(message)).await.unwrap();
        loop {
            let frame = self.socket.next().await.expect("DevTools closed").unwrap();
            let Message::Text(text) = frame else { continue };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value (promises awaited).
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    async fn until(&mut self, what: &str, expression: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.eval(expression).await;
            if !value.is_null() && value != json!(false) && value != json!("") {
                return value;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn sign_in(&mut self, base: &str, key: &str) {
        self.call("Page.navigate", json!({"url": format!("{base}/ui")}))
            .await;
        self.until(
            "the sign-in form",
            "document.readyState === 'complete' && !!document.querySelector('#key') \
             && !document.querySelector('#sign-in-panel').hidden",
        )
        .await;
        let typed = format!(
            "document.querySelector('#key').value = {}; \
             document.querySelector('#sign-in').click(); true",
            Value::String(key.to_owned())
        );
        self.eval(&typed).await;
    }
}

/// What the page shows, read from the DOM.
const READ_PAGE: &str = r##"(() => {
  const rows = (sel) => [...document.querySelectorAll(sel + " tbody tr")];
  const num = (tr, cls) => {
    const td = tr.querySelector("td." + cls);
    return td && td.dataset.value !== undefined ? Number(td.dataset.value) : null;
  };
  return {
    total_usd: Number(document.querySelector("#total-usd").dataset.value),
    total_text: document.querySelector("#total-usd").textContent,
    requests: document.querySelector("#total-requests").textContent,
    budget: document.querySelector("#budget-state").textContent,
    async_queued: document.querySelector("#async-queued").textContent,
    lines: rows("#lines").map((tr) => ({
      function: tr.dataset.function, trigger: tr.dataset.trigger,
      requests: num(tr, "requests"), errors: num(tr, "errors"), cost: num(tr, "cost"),
    })),
    functions: rows("#functions").map((tr) => ({
      function: tr.dataset.function,
      invocations: num(tr, "invocations"), errors: num(tr, "errors"),
      invocations_text: tr.querySelector("td.invocations").textContent,
      p50: num(tr, "p50"), p99: num(tr, "p99"), cost: num(tr, "cost"),
    })),
    tenants: rows("#tenants").map((tr) => ({
      tenant: tr.dataset.tenant, requests: num(tr, "requests"), cost: num(tr, "cost"),
    })),
    charts: document.querySelectorAll("#charts figure.chart canvas").length,
    drawn: Object.fromEntries([...document.querySelectorAll("#charts .charts")].map((grid) => [
      grid.dataset.function,
      Object.fromEntries([...grid.querySelectorAll("figure.chart")].map((c) => [c.dataset.kind, JSON.parse(c.dataset.series)])),
    ])),
    empty: (document.querySelector("#charts .empty") || {}).textContent || null,
  };
})()"##;

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_api_says() {
    let server = TestServer::start(Backend::Sqlite, |_| {});
    let api = server.api();
    let t = api.create_tenant("dash").await;
    api.deploy_ok(&t, "hello", "", guest("example_hello")).await;
    api.deploy_ok(&t, "probe", "", guest("geyser_fixture_probe"))
        .await;
    for _ in 0..5 {
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    api.invoke(&t.name, "probe", "/spin?ms=5").await;
    api.invoke(&t.name, "probe", "/trap").await;
    let reply = api
        .put_json(
            "/v1/billing/budget",
            &t.key,
            json!({"monthly_usd": 100, "policy": "warn"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let statement = api.get("/v1/billing/statement", Some(&t.key)).await.json();
    let series = api.get("/v1/usage/series", Some(&t.key)).await.json();
    assert_eq!(statement["requests"], 7);

    let browser = Browser::launch();
    let mut page = browser.page().await;

    // A wrong key (of the right shape) is refused on the page.
    page.sign_in(&server.url, &format!("gy_{}", "0".repeat(64)))
        .await;
    let error = page
        .until(
            "the sign-in error",
            "document.querySelector('#error').textContent",
        )
        .await;
    assert_eq!(error, "Sign-in failed: invalid API key");

    // The tenant's own view.
    page.sign_in(&server.url, &t.key).await;
    page.until("the dashboard", "document.body.dataset.loaded")
        .await;
    let shown = page.eval(READ_PAGE).await;
    assert!(
        same(&shown["total_usd"], &statement["total_usd"]),
        "{shown}"
    );
    assert_eq!(
        shown["total_text"],
        format!("{:.6}", statement["total_usd"].as_f64().unwrap())
    );
    assert_eq!(shown["requests"], "7");
    assert_eq!(shown["budget"], "ok");
    // Nothing of this tenant's is in the asynchronous queue (`/v1/quotas` says the same).
    assert_eq!(shown["async_queued"], "0");
    let lines = statement["lines"].as_array().unwrap();
    assert_eq!(shown["lines"].as_array().unwrap().len(), lines.len());
    for (row, line) in shown["lines"].as_array().unwrap().iter().zip(lines) {
        assert_eq!(row["function"], line["function"]);
        assert_eq!(row["trigger"], line["trigger"]);
        assert!(same(&row["requests"], &line["requests"]), "{row} {line}");
        assert!(same(&row["errors"], &line["errors"]), "{row} {line}");
        assert!(same(&row["cost"], &line["cost_usd"]), "{row} {line}");
    }
    let functions = series["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2);
    assert_eq!(shown["functions"].as_array().unwrap().len(), 2);
    for (row, f) in shown["functions"].as_array().unwrap().iter().zip(functions) {
        assert_eq!(row["function"], f["function"]);
        for (shown_key, api_key) in [
            ("invocations", "invocations"),
            ("errors", "errors"),
            ("p50", "p50_ms"),
            ("p99", "p99_ms"),
            ("cost", "cost_usd"),
        ] {
            assert!(same(&row[shown_key], &f[api_key]), "{shown_key}: {row} {f}");
        }
    }
    let hello = &shown["functions"][0];
    assert_eq!(hello["function"], "hello");
    assert_eq!(hello["invocations_text"], "5");
    assert_eq!(shown["functions"][1]["errors"], 1);
    assert_eq!(shown["charts"], 6, "three uPlot charts per function");
    assert!(shown["empty"].is_null(), "{shown}");
    // Every point drawn is the API's: one per hour of the window (empty hours zero), ok and
    // errors apart, the quantiles, and the cost summed per local day.
    let from_ms = series["from_ms"].as_i64().unwrap();
    let to_ms = series["to_ms"].as_i64().unwrap();
    for f in functions {
        let name = f["function"].as_str().unwrap();
        let drawn = &shown["drawn"][name];
        let xs = drawn["invocations"]["x"].as_array().unwrap();
        assert_eq!(xs.len() as i64, (to_ms - from_ms) / 3_600_000, "{name}");
        let mut drawn_total = 0;
        for (i, x) in xs.iter().enumerate() {
            let hour_ms = x.as_i64().unwrap() * 1000;
            assert_eq!(hour_ms, from_ms + i as i64 * 3_600_000);
            let point = f["points"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["hour_ms"] == hour_ms);
            let ok = drawn["invocations"]["ok"][i].as_u64().unwrap();
            let errors = drawn["invocations"]["errors"][i].as_u64().unwrap();
            drawn_total += ok + errors;
            match point {
                Some(p) => {
                    assert_eq!(errors, p["errors"].as_u64().unwrap(), "{name} {p}");
                    assert_eq!(
                        ok + errors,
                        p["invocations"].as_u64().unwrap(),
                        "{name} {p}"
                    );
                    assert!(
                        same(&drawn["latency"]["p50"][i], &p["p50_ms"]),
                        "{name} {p}"
                    );
                    assert!(
                        same(&drawn["latency"]["p99"][i], &p["p99_ms"]),
                        "{name} {p}"
                    );
                }
                None => {
                    assert_eq!((ok, errors), (0, 0), "{name} hour {hour_ms}");
                    assert!(drawn["latency"]["p99"][i].is_null());
                }
            }
        }
        assert_eq!(drawn_total, f["invocations"].as_u64().unwrap(), "{name}");
        let day_costs: f64 = drawn["cost"]["cost"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap())
            .sum();
        assert!(
            (day_costs - f["cost_usd"].as_f64().unwrap()).abs() <= 1e-12,
            "{name}: {day_costs} {f}"
        );
    }
    screenshot(&mut page, "tenant-dashboard").await;

    // The admin sees every tenant and can open this one.
    let other = api.create_tenant("dash-other").await;
    api.deploy_ok(&other, "hello", "", guest("example_hello"))
        .await;
    api.invoke(&other.name, "hello", "/").await;
    page.eval("sessionStorage.clear(); true").await;
    page.sign_in(&server.url, &server.admin_key).await;
    page.until("the admin view", "document.body.dataset.loaded")
        .await;
    let admin_view = page.eval(READ_PAGE).await;
    let tenants = admin_view["tenants"].as_array().unwrap();
    let row = |name: &str| {
        tenants
            .iter()
            .find(|r| r["tenant"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {admin_view}"))
            .clone()
    };
    assert_eq!(row(&t.name)["requests"], 7);
    assert!(same(&row(&t.name)["cost"], &statement["total_usd"]));
    assert_eq!(row(&other.name)["requests"], 1);
    let selected = page
        .eval(&format!(
            "document.querySelector('#tenant').value = '{}'; \
             document.querySelector('#tenant').dispatchEvent(new Event('change')); true",
            t.name
        ))
        .await;
    assert_eq!(selected, true);
    page.until(
        "the admin's view of the tenant",
        "document.querySelector('#total-requests').textContent === '7' \
         && document.querySelectorAll('#functions tbody tr').length === 2",
    )
    .await;
    screenshot(&mut page, "admin-dashboard").await;

    // A tenant with no invocations sees that said, not an empty chart.
    let idle = api.create_tenant("dash-idle").await;
    page.eval("sessionStorage.clear(); true").await;
    page.sign_in(&server.url, &idle.key).await;
    page.until(
        "the idle tenant's dashboard",
        "document.body.dataset.loaded",
    )
    .await;
    let idle_view = page.eval(READ_PAGE).await;
    assert_eq!(idle_view["empty"], "no invocations yet", "{idle_view}");
    assert_eq!(idle_view["charts"], 0);
    screenshot(&mut page, "no-invocations").await;
}

/// Saves what the page shows as a PNG under the test output directory
/// (`target/tmp/console-screenshots/`).
async fn screenshot(page: &mut Page, name: &str) {
    screenshot_at(page, name, 1200).await;
}

/// [`screenshot`] of the page laid out `width` pixels wide.
async fn screenshot_at(page: &mut Page, name: &str, width: u32) {
    use base64::Engine;
    // The whole page, not the first screenful of a small default window.
    let height = page.eval("document.documentElement.scrollHeight").await;
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": height.as_i64().unwrap_or(900).clamp(600, 4000),
               "deviceScaleFactor": 1, "mobile": width < 600}),
    )
    .await;
    let shot = page
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Navigates the console to `hash` and waits until that page has drawn what the API said.
async fn goto(page: &mut Page, hash: &str) {
    page.eval(&format!(
        "delete document.body.dataset.ready; location.hash = {}; true",
        Value::String(hash.to_owned())
    ))
    .await;
    page.until(
        hash,
        &format!(
            "document.body.dataset.ready === {}",
            Value::String(hash.to_owned())
        ),
    )
    .await;
    // Every control of the page has a name a screen reader can say.
    let unnamed = page.eval(UNNAMED_CONTROLS).await;
    assert_eq!(unnamed, json!([]), "{hash}: controls without a label");
}

/// The visible inputs, selects and buttons that have no accessible name.
const UNNAMED_CONTROLS: &str = r##"[...document.querySelectorAll("input, select, button")]
  .filter((c) => c.offsetParent !== null)
  .filter((c) => !((c.labels && c.labels.length) || c.getAttribute("aria-label") || (c.tagName === "BUTTON" && c.textContent.trim())))
  .map((c) => c.id || c.outerHTML.slice(0, 80))"##;

/// Sets `selector`'s value (an input or a select) as a user would.
async fn fill(page: &mut Page, selector: &str, value: &str) {
    let done = page
        .eval(&format!(
            "(() => {{ const e = document.querySelector({}); e.value = {}; \
             e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); return true; }})()",
            Value::String(selector.to_owned()),
            Value::String(value.to_owned())
        ))
        .await;
    assert_eq!(done, true, "{selector}");
}

async fn click(page: &mut Page, selector: &str) {
    let done = page
        .eval(&format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
            Value::String(selector.to_owned())
        ))
        .await;
    assert_eq!(done, true, "nothing to click at {selector}");
}

/// Chooses `file` in the file input at `selector`, as a user picking it would.
async fn choose_file(page: &mut Page, selector: &str, file: &std::path::Path) {
    let document = page.call("DOM.getDocument", json!({})).await;
    let node = page
        .call(
            "DOM.querySelector",
            json!({"nodeId": document["root"]["nodeId"], "selector": selector}),
        )
        .await;
    page.call(
        "DOM.setFileInputFiles",
        json!({"files": [file.to_str().unwrap()], "nodeId": node["nodeId"]}),
    )
    .await;
}

fn close_to(a: &Value, b: &Value, relative: f64) -> bool {
    let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    (x - y).abs() <= relative * x.abs().max(y.abs()).max(1e-12)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_runs_its_functions_from_the_console() {
    use geyser_test_support::kafka::{Record, create_topic, kafka_brokers, produce, producer};
    let server = TestServer::start(Backend::Sqlite, |config| {
        config.kafka.brokers = Some(kafka_brokers());
        config.kafka.reconcile_interval_ms = 200;
    });
    let api = server.api();
    let t = api.create_tenant("con").await;
    api.deploy_ok(&t, "probe", "", guest("geyser_fixture_probe"))
        .await;
    api.deploy_ok(&t, "ticker", "", guest("geyser_fixture_ticker"))
        .await;
    let reply = api
        .put_json(
            "/v1/functions/ticker/triggers/cron",
            &t.key,
            json!({"name": "nightly", "expression": "0 3 * * *", "timezone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    api.deploy_ok(&t, "counter", "", guest("example_event_counter"))
        .await;
    let topic = format!("{}.clicks", t.name);
    create_topic(&topic, 1).await;
    let reply = api
        .put_json(
            "/v1/functions/counter/triggers/kafka",
            &t.key,
            json!({"topic": topic, "start": "earliest"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            key: Some("k".into()),
            payload: i.to_string(),
            ..Record::default()
        })
        .collect();
    produce(&producer(), &topic, &records).await;
    let processed = format!(
        "geyser_kafka_records_total{{tenant=\"{}\",function=\"counter\",topic=\"{topic}\"}}",
        t.name
    );
    geyser_e2e::eventually("3 records processed", Duration::from_secs(60), || async {
        let done = api.metric_if_present(&processed).await.unwrap_or(0.0);
        (done >= 3.0).then_some(())
    })
    .await;

    let browser = Browser::launch();
    let mut page = browser.page().await;
    page.sign_in(&server.url, &t.key).await;
    page.until("the overview", "document.body.dataset.ready === '#/'")
        .await;
    // No script runs inline: the page's CSP allows scripts from the node only.
    let csp = reqwest::get(format!("{}/ui", server.url))
        .await
        .unwrap()
        .headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");

    // Account: create a key (shown once), then sign in with it.
    goto(&mut page, "#/account").await;
    fill(&mut page, "#key-name", "console").await;
    click(&mut page, "#key-create").await;
    let new_key = page
        .until(
            "the new key",
            "(document.querySelector('#new-key').textContent.startsWith('gy_') \
             && document.querySelector('#keys tbody tr[data-prefix] td.name') \
             && [...document.querySelectorAll('#keys td.name')].some((td) => td.textContent === 'console')) \
             && document.querySelector('#new-key').textContent",
        )
        .await;
    let new_key = new_key.as_str().unwrap().to_owned();
    let keys = api.get("/v1/keys", Some(&t.key)).await.json();
    let console_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "console")
        .expect("the key created on the page")
        .clone();
    assert!(new_key.starts_with(console_key["prefix"].as_str().unwrap()));
    let shown_prefixes = page
        .eval("[...document.querySelectorAll('#keys tbody tr')].map((tr) => tr.dataset.prefix)")
        .await;
    let api_prefixes: Vec<Value> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["prefix"].clone())
        .collect();
    assert_eq!(shown_prefixes, json!(api_prefixes));
    // The quotas shown are the ones in force, with the usage against them.
    let quotas = api.get("/v1/quotas", Some(&t.key)).await.json();
    let shown = page
        .eval(
            "Object.fromEntries([...document.querySelectorAll('#quotas tbody tr')].map((tr) => \
             [tr.dataset.quota, [Number(tr.querySelector('.limit').dataset.value), \
              tr.querySelector('.used').dataset.value === undefined ? null : Number(tr.querySelector('.used').dataset.value)]]))",
        )
        .await;
    for (name, limit) in quotas["quotas"].as_object().unwrap() {
        assert!(same(&shown[name][0], limit), "{name}: {shown}");
    }
    assert_eq!(shown["max_functions"][1], 3, "three functions: {shown}");
    assert_eq!(shown["max_functions"][1], quotas["used"]["functions"]);
    // Set a budget; the month's projection is the statement's.
    fill(&mut page, "#budget-usd", "50").await;
    fill(&mut page, "#budget-policy", "warn").await;
    click(&mut page, "#budget-set").await;
    page.until(
        "the budget",
        "document.querySelector('#acct-budget').dataset.value === '50'",
    )
    .await;
    let budget = api.get("/v1/billing/budget", Some(&t.key)).await.json();
    assert_eq!(budget["monthly_usd"], 50.0);
    assert_eq!(budget["policy"], "warn");
    let statement = api.get("/v1/billing/statement", Some(&t.key)).await.json();
    let projected = page
        .eval("Number(document.querySelector('#acct-projected').dataset.value)")
        .await;
    assert!(
        close_to(&projected, &statement["projected_total_usd"], 1e-3),
        "{projected} {}",
        statement["projected_total_usd"]
    );
    screenshot(&mut page, "account").await;

    page.eval("sessionStorage.clear(); true").await;
    page.sign_in(&server.url, &new_key).await;
    page.until(
        "signed in with the new key",
        "document.body.dataset.ready === '#/'",
    )
    .await;
    assert_eq!(
        page.eval("document.querySelector('#who').textContent")
            .await,
        "tenant"
    );

    // Functions: deploy by upload, and the new function answers.
    let dir = tempfile::tempdir().unwrap();
    let hello_file = dir.path().join("hello.wasm");
    let hello = guest("example_hello");
    std::fs::write(&hello_file, &hello).unwrap();
    goto(&mut page, "#/functions").await;
    let listed = page
        .eval("[...document.querySelectorAll('#function-list tbody tr')].map((tr) => tr.dataset.function)")
        .await;
    assert_eq!(listed, json!(["counter", "probe", "ticker"]));
    fill(&mut page, "#deploy-name", "hello").await;
    choose_file(&mut page, "#deploy-file", &hello_file).await;
    click(&mut page, "#deploy").await;
    page.until(
        "the deploy",
        "document.querySelector('#deploy-result').dataset.version === '1' \
         && document.querySelectorAll('#function-list tbody tr').length === 4",
    )
    .await;
    let answer = api.invoke(&t.name, "hello", "/").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // The function's page: a second version by upload, its artifact and size as the API says.
    goto(&mut page, "#/functions/hello").await;
    choose_file(&mut page, "#upload-file", &hello_file).await;
    click(&mut page, "#upload").await;
    page.until(
        "version 2",
        "document.querySelector('#upload-result').dataset.version === '2' \
         && document.querySelector('#fn-active').textContent === '2'",
    )
    .await;
    let function = api.get("/v1/functions/hello", Some(&t.key)).await.json();
    assert_eq!(function["active_version"], 2);
    let versions = page
        .eval(
            "[...document.querySelectorAll('#versions tbody tr')].map((tr) => ({ \
             version: Number(tr.dataset.version), sha256: tr.querySelector('.hash').dataset.value, \
             size: Number(tr.querySelector('.size').dataset.value) }))",
        )
        .await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    for shown in versions.as_array().unwrap() {
        let v = function["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == shown["version"])
            .unwrap();
        assert_eq!(shown["sha256"], v["sha256"]);
        assert_eq!(shown["size"], v["size_bytes"]);
        assert_eq!(shown["size"], hello.len());
    }
    assert_eq!(
        page.eval("document.querySelector('#fn-async-queued').dataset.value")
            .await,
        function["async_queued"].to_string()
    );

    // An alias with a canary share, then promoted; the events say so.
    fill(&mut page, "#alias-name", "beta").await;
    fill(&mut page, "#alias-version", "1").await;
    fill(&mut page, "#alias-canary", "2").await;
    fill(&mut page, "#alias-weight", "0.25").await;
    click(&mut page, "#alias-set").await;
    page.until(
        "the beta alias",
        "document.querySelector('#aliases tr[data-alias=beta] td.weight')?.dataset.value === '0.25'",
    )
    .await;
    let beta = api
        .get("/v1/functions/hello/aliases/beta", Some(&t.key))
        .await
        .json();
    assert_eq!(beta["version"], 1);
    assert_eq!(beta["canary"]["version"], 2);
    assert_eq!(beta["canary"]["weight"], 0.25);
    click(&mut page, "#aliases tr[data-alias=beta] button.promote").await;
    page.until(
        "the promotion",
        "document.querySelector('#aliases tr[data-alias=beta] td.version')?.dataset.value === '2' \
         && !!document.querySelector('#alias-events tr[data-kind=promoted][data-alias=beta]')",
    )
    .await;
    let beta = api
        .get("/v1/functions/hello/aliases/beta", Some(&t.key))
        .await
        .json();
    assert_eq!(beta["version"], 2);
    assert!(beta["canary"].is_null(), "{beta}");
    let events = api
        .get("/v1/functions/hello/aliases/beta/events", Some(&t.key))
        .await
        .json();
    let shown_events = page
        .eval("document.querySelectorAll('#alias-events tr[data-alias=beta]').length")
        .await;
    assert_eq!(
        shown_events,
        events["events"].as_array().unwrap().len(),
        "{events}"
    );
    // Roll back to version 1: the API and the gateway agree.
    click(&mut page, "#versions tr[data-version='1'] button.rollback").await;
    page.until(
        "the rollback",
        "document.querySelector('#fn-active').textContent === '1'",
    )
    .await;
    let function = api.get("/v1/functions/hello", Some(&t.key)).await.json();
    assert_eq!(function["active_version"], 1);
    assert_eq!(
        api.invoke(&t.name, "hello", "/").await.status,
        StatusCode::OK
    );
    screenshot(&mut page, "function").await;

    // The schedule's next fire times are the API's; "Run now" adds a run.
    goto(&mut page, "#/functions/ticker").await;
    let crons = api
        .get("/v1/functions/ticker/triggers/cron", Some(&t.key))
        .await
        .json();
    let next = page
        .eval("JSON.parse(document.querySelector('.schedule[data-schedule=nightly] .next').dataset.next)")
        .await;
    assert_eq!(next, crons[0]["next"]);
    click(&mut page, ".schedule[data-schedule=nightly] button").await;
    page.until(
        "the manual run",
        "document.querySelector('.schedule[data-schedule=nightly] .runs tbody tr td.outcome')?.textContent === 'ok'",
    )
    .await;
    let runs = api
        .get(
            "/v1/functions/ticker/triggers/cron/nightly/runs",
            Some(&t.key),
        )
        .await
        .json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["manual"], true);
    let shown_run = page
        .eval("document.querySelector('.schedule[data-schedule=nightly] .runs tbody tr').dataset.scheduled")
        .await;
    assert_eq!(shown_run, runs[0]["scheduled_time"]);

    // The Kafka binding with its lag, as /v1/metrics has it.
    let lag_series = format!(
        "geyser_kafka_consumer_lag{{tenant=\"{}\",function=\"counter\",topic=\"{topic}\"}}",
        t.name
    );
    // Once the consumer has reported its position, the page shows the same lag.
    let lag = geyser_e2e::eventually("the lag reported", Duration::from_secs(30), || async {
        api.metric_if_present(&lag_series).await
    })
    .await;
    goto(&mut page, "#/functions/counter").await;
    let shown_lag = page
        .eval(&format!(
            "Number(document.querySelector('#kafka tr[data-topic=\"{topic}\"] td.lag').dataset.value)"
        ))
        .await;
    assert_eq!(shown_lag.as_f64(), Some(lag), "{lag_series}");
    screenshot(&mut page, "function-kafka").await;

    // Logs: a live tail shows a line printed by a call made now; its invocation opens.
    goto(&mut page, "#/logs/probe").await;
    click(&mut page, "#logs-tail").await;
    page.until(
        "the tail",
        "document.querySelector('#tail-state').dataset.state === 'open'",
    )
    .await;
    let text = geyser_e2e::unique("console-tail");
    let printed = api
        .invoke(&t.name, "probe", &format!("/print?text={text}"))
        .await;
    assert_eq!(printed.status, StatusCode::OK, "{}", printed.body);
    let invocation = page
        .until(
            "the tailed line",
            &format!(
                "[...document.querySelectorAll('#log-lines tbody tr')].find((tr) => \
                 tr.querySelector('td.message').textContent.includes('{text}'))?.dataset.invocation"
            ),
        )
        .await;
    let invocation = invocation.as_str().unwrap().to_owned();
    click(
        &mut page,
        &format!("#log-lines tr[data-invocation='{invocation}'] button.invocation"),
    )
    .await;
    page.until(
        "the invocation's record",
        &format!(
            "document.body.dataset.ready === '#/logs/probe/{invocation}' \
             && document.querySelector('#inv-id').textContent === '{invocation}'"
        ),
    )
    .await;
    let record = api.invocation(&t.key, "probe", &invocation).await;
    let fields = page
        .eval(
            "Object.fromEntries([...document.querySelectorAll('#invocation-record dd')].map((dd) => \
             [dd.dataset.field, JSON.parse(dd.dataset.value)]))",
        )
        .await;
    for field in [
        "outcome",
        "http_status",
        "wall_ms",
        "cpu_ms",
        "peak_memory_bytes",
        "memory_limit_bytes",
        "traceparent",
        "version",
    ] {
        assert!(
            same(&fields[field], &record[field]),
            "{field}: {fields} {record}"
        );
    }
    let lines = page
        .eval("[...document.querySelectorAll('#invocation-lines td.message')].map((td) => td.textContent)")
        .await;
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains(&text)),
        "{lines}"
    );
    // The tail stops when asked; the invocation filter shows that invocation's lines only.
    click(&mut page, "#logs-tail").await;
    fill(&mut page, "#logs-invocation", &invocation).await;
    click(&mut page, "#logs-show").await;
    page.until(
        "the filtered lines",
        &format!(
            "document.querySelector('#tail-state').dataset.state === 'stopped' \
             && document.querySelectorAll('#log-lines tbody tr').length > 0 \
             && [...document.querySelectorAll('#log-lines tbody tr')].every((tr) => tr.dataset.invocation === '{invocation}')"
        ),
    )
    .await;
    screenshot(&mut page, "logs").await;

    // On a narrow screen the page fits its width.
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    )
    .await;
    goto(&mut page, "#/functions/hello").await;
    let overflow = page
        .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert_eq!(overflow, 0, "the function page scrolls sideways at 390 px");
    screenshot_at(&mut page, "narrow-function", 390).await;

    // Revoke the key this session signed in with: the API refuses it from then on.
    goto(&mut page, "#/account").await;
    page.eval("window.confirm = () => true; true").await;
    click(
        &mut page,
        &format!("#keys tr[data-id='{}'] button.revoke", console_key["id"]),
    )
    .await;
    api_eventually_refuses(&api, &new_key).await;

    // The admin: tenants (create, disable, enable, quotas) and the node's health.
    page.eval("sessionStorage.clear(); true").await;
    page.sign_in(&server.url, &server.admin_key).await;
    page.until("the admin overview", "document.body.dataset.ready === '#/'")
        .await;
    goto(&mut page, "#/admin").await;
    let metrics = api.get("/metrics", Some(&server.admin_key)).await.body;
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
            .parse()
            .unwrap()
    };
    let health = page
        .eval(
            "({ instances: JSON.parse(document.querySelector('#node-instances').dataset.value), \
                budget: Number(document.querySelector('#node-memory-budget').dataset.value), \
                resident: JSON.parse(document.querySelector('#node-resident').dataset.value) })",
        )
        .await;
    assert_eq!(
        health["instances"][1].as_f64(),
        Some(gauge("geyser_instances_max"))
    );
    assert_eq!(
        health["budget"].as_f64(),
        Some(gauge("geyser_guest_memory_budget_bytes"))
    );
    assert!(health["resident"].as_f64().unwrap() >= 1.0, "{health}");
    let shown_invocations = page
        .eval(&format!(
            "Number(document.querySelector('#admin-tenants tr[data-tenant=\"{}\"] td.node-invocations').dataset.value)",
            t.name
        ))
        .await;
    let invoked: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("geyser_function_invocations_total{")
                && l.contains(&format!("tenant=\"{}\"", t.name))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert!(invoked >= 4.0, "{invoked}");
    assert_eq!(shown_invocations.as_f64(), Some(invoked));
    let newcomer = geyser_e2e::unique("con-new");
    fill(&mut page, "#tenant-name", &newcomer).await;
    click(&mut page, "#tenant-create").await;
    let first_key = page
        .until(
            "the new tenant",
            &format!(
                "!!document.querySelector('#admin-tenants tr[data-tenant=\"{newcomer}\"]') \
                 && document.querySelector('#new-tenant-key').textContent"
            ),
        )
        .await;
    let first_key = first_key.as_str().unwrap().to_owned();
    assert_eq!(
        api.get("/v1/functions", Some(&first_key)).await.status,
        StatusCode::OK
    );
    // Disable, then enable again: the row and the API say so each time.
    for (button, disabled) in [("disable", true), ("enable", false)] {
        click(
            &mut page,
            &format!("#admin-tenants tr[data-tenant=\"{newcomer}\"] button.{button}"),
        )
        .await;
        page.until(
            &format!("the tenant {button}d"),
            &format!("document.querySelector('#admin-tenants tr[data-tenant=\"{newcomer}\"]').dataset.disabled === '{disabled}'"),
        )
        .await;
        let listed = api.get("/v1/tenants", Some(&server.admin_key)).await.json();
        let row = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == newcomer.as_str())
            .unwrap()
            .clone();
        assert_eq!(row["disabled"], disabled);
    }
    fill(&mut page, "#quota-tenant", &newcomer).await;
    page.until(
        "the newcomer's quota form",
        &format!("!!document.querySelector('#quota-form[data-tenant=\"{newcomer}\"] #quota-max_functions')"),
    )
    .await;
    fill(&mut page, "#quota-max_functions", "7").await;
    click(&mut page, "#quota-save").await;
    page.until(
        "the quotas saved",
        "document.querySelector('#quota-result').textContent.includes('saved')",
    )
    .await;
    let quotas = api
        .get(
            &format!("/v1/quotas?tenant={newcomer}"),
            Some(&server.admin_key),
        )
        .await
        .json();
    assert_eq!(quotas["quotas"]["max_functions"], 7);
    assert_eq!(quotas["overrides"]["max_functions"], 7);
    assert!(quotas["overrides"]["max_kv_keys"].is_null(), "{quotas}");
    screenshot(&mut page, "admin").await;
}

/// Waits until `key` is refused (the revocation reaches the node's key cache).
async fn api_eventually_refuses(api: &geyser_e2e::Api, key: &str) {
    geyser_e2e::eventually("the key refused", Duration::from_secs(20), || async {
        (api.get("/v1/functions", Some(key)).await.status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
}
