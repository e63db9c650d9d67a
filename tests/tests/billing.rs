//! Billing and observability end to end (measured GB-seconds and CPU-seconds are in
//! `metering.rs`, alone on an idle node): statements whose
//! totals equal the invocation records in the database, CSV, budgets (warning, 402, raise,
//! warn-only), `/metrics` that parses and moves, and the `traceparent` round trip — against
//! SQLite and PostgreSQL.

use geyser_e2e::{Api, Backend, TestServer, close, guest, number};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One node per backend. Prices make the arithmetic visible: $1 per request (budgets count
/// requests), $2 per GB-second, $3 per CPU-second; no free tier. Budgets refresh every 50 ms.
fn server(backend: Backend) -> &'static TestServer {
    static SQLITE: OnceLock<TestServer> = OnceLock::new();
    static POSTGRES: OnceLock<TestServer> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| {
        TestServer::start(backend, |config| {
            config.billing.price_per_million_requests = 1e6;
            config.billing.price_per_gb_second = 2.0;
            config.billing.price_per_cpu_second = 3.0;
            config.billing.budget_refresh_ms = 50;
            config.billing.dedicated_instance_monthly_usd = 1e12;
            config.metering.flush_interval_ms = 20;
        })
    })
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = super::server(super::Backend::Sqlite);
                    super::$name(server, server.api()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = super::server(super::Backend::Postgres);
                    super::$name(server, server.api()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    statement_totals_equal_the_invocation_records,
    budgets_warn_then_refuse_with_402_until_raised,
    metrics_parse_and_move,
    traceparent_round_trips,
);

/// Sums of the raw invocation records per (function, trigger), read from the database itself.
async fn records_in_database(
    server: &TestServer,
    tenant: &str,
) -> HashMap<(String, String), (i64, f64, f64)> {
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&server.database_url)
        .await
        .expect("open the server's database");
    let rows = sqlx::query(
        "SELECT i.function_name, i.trigger_kind, CAST(COUNT(*) AS BIGINT) AS n, \
         SUM(i.gb_seconds) AS gb, CAST(SUM(i.cpu_ns) AS BIGINT) AS cpu_ns \
         FROM invocations i JOIN tenants t ON t.id = i.tenant_id \
         WHERE t.name = $1 AND i.outcome <> 'rejected' \
         GROUP BY i.function_name, i.trigger_kind",
    )
    .bind(tenant)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|row| {
            let cpu_ns: i64 = row.get("cpu_ns");
            (
                (row.get("function_name"), row.get("trigger_kind")),
                (row.get("n"), row.get("gb"), cpu_ns as f64 / 1e9),
            )
        })
        .collect()
}

async fn statement_totals_equal_the_invocation_records(server: &TestServer, api: Api) {
    sqlx::any::install_default_drivers();
    let t = api.create_tenant("mixed").await;
    api.deploy_ok(&t, "hello", "", guest("example_hello")).await;
    api.deploy_ok(
        &t,
        "probe",
        "?timeout_ms=300",
        guest("geyser_fixture_probe"),
    )
    .await;
    api.deploy_ok(&t, "counter", "", guest("example_event_counter"))
        .await;
    for _ in 0..7 {
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    for path in [
        "/alloc?mb=3",
        "/spin?ms=20",
        "/trap",
        "/loop",
        "/status?code=503",
    ] {
        api.invoke(&t.name, "probe", path).await;
    }
    for i in 0..4 {
        let reply = api
            .send(
                Method::POST,
                &format!("/v1/functions/counter/events?key=k{}", i % 2),
                Some(&t.key),
                Some(b"payload".to_vec()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(api.invoke(&t.name, "counter", "/counts/k0").await.body, "2");

    let s = api.statement(&t.key).await;
    let records = records_in_database(server, &t.name).await;
    let lines = s["lines"].as_array().unwrap();
    assert_eq!(lines.len(), records.len(), "{s}\n{records:?}");
    let (mut requests, mut gb, mut cpu, mut cost) = (0i64, 0.0, 0.0, 0.0);
    for line in lines {
        let key = (
            line["function"].as_str().unwrap().to_owned(),
            line["trigger"].as_str().unwrap().to_owned(),
        );
        let (n, line_gb, line_cpu) = records[&key];
        assert_eq!(line["requests"].as_i64().unwrap(), n, "{key:?}");
        assert!(close(number(&line["gb_seconds"]), line_gb), "{key:?}");
        assert!(close(number(&line["cpu_seconds"]), line_cpu), "{key:?}");
        let line_cost = n as f64 + 2.0 * line_gb + 3.0 * line_cpu;
        assert!(
            close(number(&line["cost_usd"]), line_cost),
            "{key:?}: {line}"
        );
        requests += n;
        gb += line_gb;
        cpu += line_cpu;
        cost += line_cost;
    }
    // 7 hello + 5 probe (trap, timeout and a guest 503 are billed) + 4 events + 1 count read.
    assert_eq!(requests, 17);
    assert_eq!(s["requests"], 17);
    assert_eq!(s["errors"], 3, "trap, timeout and the guest's 503: {s}");
    let counter_http = lines
        .iter()
        .find(|l| l["function"] == "counter" && l["trigger"] == "http")
        .unwrap();
    assert_eq!(counter_http["requests"], 1);
    let counter_events = lines
        .iter()
        .find(|l| l["function"] == "counter" && l["trigger"] == "manual")
        .unwrap();
    assert_eq!(counter_events["requests"], 4);
    assert!(close(number(&s["gb_seconds"]), gb));
    assert!(close(number(&s["cpu_seconds"]), cpu));
    assert!(close(number(&s["total_usd"]), cost));
    assert_eq!(number(&s["free_tier_credit_usd"]), 0.0);

    // CSV carries the same lines and the same total.
    let reply = api
        .get("/v1/billing/statement?format=csv", Some(&t.key))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers["content-type"], "text/csv; charset=utf-8",
        "{:?}",
        reply.headers
    );
    let csv: Vec<Vec<&str>> = reply.body.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(csv[0][2], "function");
    assert_eq!(csv.len(), lines.len() + 2, "{}", reply.body);
    for (row, line) in csv[1..].iter().zip(lines) {
        assert_eq!(row[0], t.name);
        assert_eq!(row[2], line["function"].as_str().unwrap());
        assert_eq!(row[4], line["requests"].to_string());
    }
    let total = csv.last().unwrap();
    assert_eq!(total[2], "TOTAL");
    assert_eq!(total[4], "17");
    assert!((total[9].parse::<f64>().unwrap() - cost).abs() < 1e-8);

    // Another month has nothing; bad months and formats are 400s; other tenants are 403.
    let old = api
        .get("/v1/billing/statement?month=2001-01", Some(&t.key))
        .await
        .json();
    assert_eq!(old["requests"], 0);
    assert_eq!(old["lines"].as_array().unwrap().len(), 0);
    for bad in ["month=2026-13", "month=last", "format=xml", "colour=red"] {
        let reply = api
            .get(&format!("/v1/billing/statement?{bad}"), Some(&t.key))
            .await;
        assert!(reply.status.is_client_error(), "{bad}: {}", reply.status);
        assert!(!reply.error_message().is_empty(), "{bad}");
    }
    let other = api.create_tenant("other").await;
    let reply = api
        .get(
            &format!("/v1/billing/statement?tenant={}", t.name),
            Some(&other.key),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let admin = api
        .get(
            &format!("/v1/billing/statement?tenant={}", t.name),
            Some(&api.admin_key),
        )
        .await
        .json();
    assert_eq!(admin["requests"], 17);
    assert_eq!(
        api.get("/v1/billing/statement", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn budgets_warn_then_refuse_with_402_until_raised(_server: &TestServer, api: Api) {
    let t = api.create_tenant("budget").await;
    api.deploy_ok(&t, "hello", "", guest("example_hello")).await;
    let budget_path = "/v1/billing/budget";
    assert_eq!(
        api.get(budget_path, Some(&t.key)).await.status,
        StatusCode::NOT_FOUND
    );
    for bad in [
        json!({"monthly_usd": -1}),
        json!({"monthly_usd": 5, "policy": "maybe"}),
    ] {
        let reply = api.put_json(budget_path, &t.key, bad.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
    // Each call costs ~$1 (the request) plus a few millionths (memory, CPU).
    let reply = api
        .put_json(budget_path, &t.key, json!({"monthly_usd": 10.5}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["policy"], "refuse");
    assert_eq!(reply.json()["state"], "ok");

    for _ in 0..9 {
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    let s = api.statement(&t.key).await;
    assert_eq!(s["budget"]["state"], "warning", "{s}");
    assert!(
        s["budget"]["message"]
            .as_str()
            .unwrap()
            .starts_with("warning:")
    );
    let warning = format!("geyser_budget_warning{{tenant=\"{}\"}}", t.name);
    geyser_e2e::eventually(
        "the budget warning in /metrics",
        std::time::Duration::from_secs(10),
        || async {
            // Each check is an invocation's worth of budget admission; refreshes every 50 ms.
            let _ = api.invoke(&t.name, "hello", "/404-but-billed").await;
            (api.metric_if_present(&warning).await == Some(1.0)).then_some(())
        },
    )
    .await;

    // Past $10.5 the next invocations are refused with 402 (within the refresh interval).
    let refused = geyser_e2e::eventually("a 402", std::time::Duration::from_secs(10), || async {
        let reply = api.invoke(&t.name, "hello", "/").await;
        (reply.status == StatusCode::PAYMENT_REQUIRED).then_some(reply)
    })
    .await;
    assert_eq!(refused.json()["error"]["code"], "budget_exceeded");
    assert!(
        refused
            .error_message()
            .contains("monthly budget; new invocations are refused"),
        "{}",
        refused.body
    );
    let s = api.statement(&t.key).await;
    assert_eq!(s["budget"]["state"], "exceeded");
    let spent = number(&s["total_usd"]);
    assert!(
        spent >= 10.5,
        "refused only once the budget was spent: {spent}"
    );
    // A refusal runs nothing and bills nothing.
    let again = api.invoke(&t.name, "hello", "/").await;
    assert_eq!(again.status, StatusCode::PAYMENT_REQUIRED);
    assert!(close(
        number(&api.statement(&t.key).await["total_usd"]),
        spent
    ));
    assert!(api.metric("geyser_budget_refusals_total").await >= 2.0);

    // Raising the budget lets calls through at once (on this node).
    let reply = api
        .put_json(budget_path, &t.key, json!({"monthly_usd": 1000}))
        .await;
    assert_eq!(reply.json()["state"], "ok");
    assert_eq!(
        api.invoke(&t.name, "hello", "/").await.status,
        StatusCode::OK
    );
    // Policy warn: over budget, still served, flagged.
    let reply = api
        .put_json(
            budget_path,
            &t.key,
            json!({"monthly_usd": 1, "policy": "warn"}),
        )
        .await;
    assert_eq!(reply.json()["state"], "exceeded");
    assert_eq!(
        api.invoke(&t.name, "hello", "/").await.status,
        StatusCode::OK
    );
    let s = api.statement(&t.key).await;
    assert!(
        s["budget"]["message"]
            .as_str()
            .unwrap()
            .contains("policy warn"),
        "{s}"
    );
    assert_eq!(
        api.send(Method::DELETE, budget_path, Some(&t.key), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(api.statement(&t.key).await["budget"].is_null());
}

/// A strict reader of the Prometheus text format: every sample line is `name{labels} value`
/// with a declared TYPE; histogram buckets are cumulative and end in `+Inf` = `_count`.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split("\",") {
                let (k, _value) = pair.split_once("=\"").expect("label=\"value\"");
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|base| types.get(*base).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "no TYPE for {name}");
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "duplicate series {series}"
        );
    }
    samples
}

async fn metrics_parse_and_move(_server: &TestServer, api: Api) {
    let t = api.create_tenant("metrics").await;
    api.deploy_ok(&t, "probe", "", guest("geyser_fixture_probe"))
        .await;
    let labels = format!("tenant=\"{}\",function=\"probe\"", t.name);
    for _ in 0..3 {
        api.invoke(&t.name, "probe", "/").await;
    }
    api.invoke(&t.name, "probe", "/trap").await;
    // Anonymous scrapes are refused: the node's metrics name every tenant.
    let anonymous = api.get("/metrics", None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.body
    );
    let tenants_key = api.get("/metrics", Some(&t.key)).await;
    assert_eq!(
        tenants_key.status,
        StatusCode::FORBIDDEN,
        "{}",
        tenants_key.body
    );
    let reply = api.get("/metrics", Some(&api.admin_key)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let m = parse_metrics(&reply.body);
    let get = |m: &HashMap<String, f64>, s: &str| {
        *m.get(s)
            .unwrap_or_else(|| panic!("missing {s} in\n{}", reply.body))
    };
    assert_eq!(
        get(
            &m,
            &format!("geyser_function_invocations_total{{{labels},outcome=\"ok\"}}")
        ),
        3.0
    );
    assert_eq!(
        get(
            &m,
            &format!("geyser_function_invocations_total{{{labels},outcome=\"trap\"}}")
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            &format!("geyser_function_duration_seconds_count{{{labels}}}")
        ),
        3.0
    );
    assert_eq!(
        get(
            &m,
            &format!("geyser_function_duration_seconds_bucket{{{labels},le=\"+Inf\"}}")
        ),
        3.0
    );
    assert_eq!(
        get(
            &m,
            &format!("geyser_function_failed_duration_seconds_count{{{labels}}}")
        ),
        1.0
    );
    // Buckets are cumulative.
    let mut previous = 0.0;
    for bound in ["0.0005", "0.001", "0.01", "0.1", "1", "10", "300", "+Inf"] {
        let v = get(
            &m,
            &format!("geyser_function_duration_seconds_bucket{{{labels},le=\"{bound}\"}}"),
        );
        assert!(v >= previous, "{bound}");
        previous = v;
    }
    assert!(get(&m, "process_cpu_seconds_total") > 0.0);
    assert!(get(&m, "process_resident_memory_bytes") > 1e6);
    for gauge in [
        "geyser_in_flight_invocations",
        "geyser_queued_invocations",
        "geyser_instances_in_use",
        "geyser_instances_max",
    ] {
        get(&m, gauge);
    }
    let ok_before = get(&m, "geyser_invocations_total{outcome=\"ok\"}");

    // Counters move.
    api.invoke(&t.name, "probe", "/").await;
    let m = parse_metrics(&api.get("/metrics", Some(&api.admin_key)).await.body);
    assert_eq!(
        m[&format!("geyser_function_invocations_total{{{labels},outcome=\"ok\"}}")],
        4.0
    );
    assert!(m["geyser_invocations_total{outcome=\"ok\"}"] > ok_before);

    // The tenant's own view: its series, no other tenant's, no node-wide families.
    let other = api.create_tenant("metrics-other").await;
    api.deploy_ok(&other, "probe", "", guest("geyser_fixture_probe"))
        .await;
    api.invoke(&other.name, "probe", "/").await;
    let own = api.get("/v1/metrics", Some(&t.key)).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let mine = parse_metrics(&own.body);
    assert_eq!(
        mine[&format!("geyser_function_invocations_total{{{labels},outcome=\"ok\"}}")],
        4.0,
        "{}",
        own.body
    );
    assert!(!own.body.contains(&other.name), "{}", own.body);
    assert!(
        !own.body.contains("process_cpu_seconds_total"),
        "{}",
        own.body
    );
    let theirs = api
        .get(&format!("/v1/metrics?tenant={}", other.name), Some(&t.key))
        .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN, "{}", theirs.body);
    let by_admin = api
        .get(
            &format!("/v1/metrics?tenant={}", other.name),
            Some(&api.admin_key),
        )
        .await;
    assert!(by_admin.body.contains(&other.name), "{}", by_admin.body);
    assert!(!by_admin.body.contains(&t.name), "{}", by_admin.body);
}

async fn traceparent_round_trips(_server: &TestServer, api: Api) {
    let t = api.create_tenant("trace").await;
    api.deploy_ok(&t, "hello", "", guest("example_hello")).await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = api
        .http
        .get(format!("{}/fn/{}/hello/", api.base, t.name))
        .header("traceparent", incoming)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let returned = reply.headers()["traceparent"].to_str().unwrap().to_owned();
    let parts: Vec<&str> = returned.split('-').collect();
    assert_eq!(parts.len(), 4, "{returned}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "same trace");
    assert_ne!(parts[2], "00f067aa0ba902b7", "the invocation's own span");
    assert_eq!(parts[2].len(), 16);
    let id = reply.headers()["x-geyser-invocation"]
        .to_str()
        .unwrap()
        .to_owned();

    // Without one (or with garbage), a trace starts.
    let fresh = api.invoke(&t.name, "hello", "/").await;
    let started = fresh.headers["traceparent"].to_str().unwrap();
    assert_eq!(started.len(), 55, "{started}");
    assert_ne!(&started[3..35], parts[1]);

    // The invocation record carries the trace it answered with.
    let records = api.invocations(&t.key, "hello").await;
    let record = records.iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(record["traceparent"], returned.as_str());
}

/// With `[otlp] endpoint` set, each invocation reaches an OTLP/HTTP collector as a span with the
/// ids of its `traceparent` (the caller's span as parent) and its tenant, function and outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_are_exported_as_otlp_spans() {
    use axum::routing::post;
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let value: Value = serde_json::from_slice(&body).expect("OTLP JSON body");
                sink.lock().unwrap().push(value);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let server = TestServer::start(Backend::Sqlite, |config| {
        config.otlp.endpoint = Some(endpoint);
        config.otlp.batch_delay_ms = 50;
    });
    let api = server.api();
    let t = api.create_tenant("otlp").await;
    api.deploy_ok(&t, "hello", "", guest("example_hello")).await;
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let reply = api
        .http
        .get(format!("{}/fn/{}/hello/", api.base, t.name))
        .header("traceparent", parent)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let returned = reply.headers()["traceparent"].to_str().unwrap().to_owned();
    let span_id = returned.split('-').nth(2).unwrap().to_owned();

    let span = geyser_e2e::eventually(
        "the invocation span at the collector",
        std::time::Duration::from_secs(20),
        || {
            let received = received.clone();
            let span_id = span_id.clone();
            async move {
                let bodies = received.lock().unwrap().clone();
                bodies.iter().find_map(|body| {
                    body["resourceSpans"]
                        .as_array()?
                        .iter()
                        .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
                        .flat_map(|s| s["spans"].as_array().into_iter().flatten())
                        .find(|s| s["spanId"].as_str() == Some(span_id.as_str()))
                        .cloned()
                })
            }
        },
    )
    .await;
    assert_eq!(
        span["traceId"], "0af7651916cd43dd8448eb211c80319c",
        "{span}"
    );
    assert_eq!(span["parentSpanId"], "b7ad6b7169203331");
    assert_eq!(span["name"], "geyser.invoke");
    let attribute = |key: &str| {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].clone())
            .unwrap_or_else(|| panic!("no {key}: {span}"))
    };
    assert_eq!(attribute("geyser.tenant"), t.name.as_str());
    assert_eq!(attribute("geyser.function"), "hello");
    assert_eq!(attribute("geyser.outcome"), "ok");
    assert_eq!(attribute("geyser.trigger"), "http");
}
