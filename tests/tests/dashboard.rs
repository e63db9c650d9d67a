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
    use base64::Engine;
    // The whole page, not the first screenful of a small default window.
    let height = page.eval("document.documentElement.scrollHeight").await;
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1200, "height": height.as_i64().unwrap_or(900).clamp(600, 4000),
               "deviceScaleFactor": 1, "mobile": false}),
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
