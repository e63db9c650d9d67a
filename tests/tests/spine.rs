//! End to end: upload, invoke, versions, limits, hostile input, tenant isolation, scale to zero
//! and metering — each scenario against SQLite and against PostgreSQL.

use geyser_e2e::{Api, Backend, TestServer, eventually, guest, usage_row};
use reqwest::{Method, StatusCode};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One shared node per backend for this test binary; tests isolate themselves by tenant.
fn server(backend: Backend) -> &'static TestServer {
    static SQLITE: OnceLock<TestServer> = OnceLock::new();
    static POSTGRES: OnceLock<TestServer> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| TestServer::start(backend, |_| {}))
}

fn hello() -> Vec<u8> {
    guest("example_hello")
}

fn probe() -> Vec<u8> {
    guest("geyser_fixture_probe")
}

fn wstd() -> Vec<u8> {
    guest("geyser_fixture_wstd")
}

geyser_e2e::on_both_backends!(
    deploy_and_invoke_passes_the_request_through,
    new_version_and_rollback,
    endless_loop_times_out,
    unbounded_memory_hits_the_limit_and_the_host_keeps_serving,
    traps_and_missing_responses_are_500s,
    invalid_uploads_are_refused_with_a_reason,
    oversized_upload_is_413,
    tenants_are_isolated,
    usage_totals_equal_the_calls_made,
    keys_and_names_are_checked,
    responses_stream_and_keep_guest_status,
    components_from_another_toolchain_run_unchanged,
    hostile_guests_are_contained,
    a_guest_waiting_on_a_timer_also_times_out,
);

async fn deploy_and_invoke_passes_the_request_through(api: Api) {
    let acme = api.create_tenant("acme").await;
    let version = api.deploy_ok(&acme, "hello", "", hello()).await;
    assert_eq!(version, 1);

    let reply = api.invoke(&acme.name, "hello", "/x?y=1").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("hello"), "{}", reply.body);
    assert!(
        reply.body.contains("you asked for /x?y=1"),
        "{}",
        reply.body
    );
    assert!(reply.headers.contains_key("x-geyser-invocation"));

    let reply = api.invoke(&acme.name, "hello", "").await;
    assert!(reply.body.contains("you asked for /\n"), "{}", reply.body);

    api.deploy_ok(&acme, "probe", "", probe()).await;
    let reply = api
        .http
        .request(
            Method::PATCH,
            format!("{}/fn/{}/probe/echo?a=1&b=two", api.base, acme.name),
        )
        .header("x-trace", "abc")
        .body("payload bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let body = reply.text().await.unwrap();
    assert_eq!(body, "PATCH /echo?a=1&b=two\nx-trace: abc\n\npayload bytes");
}

async fn new_version_and_rollback(api: Api) {
    let t = api.create_tenant("ver").await;
    assert_eq!(api.deploy_ok(&t, "svc", "", hello()).await, 1);
    assert_eq!(api.deploy_ok(&t, "svc", "?memory_mb=64", probe()).await, 2);
    assert_eq!(api.invoke(&t.name, "svc", "/").await.body, "probe");

    let info = api.get("/v1/functions/svc", Some(&t.key)).await.json();
    assert_eq!(info["active_version"], 2);
    assert_eq!(info["memory_mb"], 64);
    let versions = info["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_ne!(versions[0]["sha256"], versions[1]["sha256"]);

    let reply = api
        .post_json(
            "/v1/functions/svc/rollback",
            &t.key,
            serde_json::json!({"version": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["active_version"], 1);
    assert_eq!(
        reply.json()["memory_mb"],
        128,
        "rollback restores the version's limits"
    );
    assert!(api.invoke(&t.name, "svc", "/").await.body.contains("hello"));

    let reply = api
        .post_json(
            "/v1/functions/svc/rollback",
            &t.key,
            serde_json::json!({"version": 9}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(
        reply.error_message().contains("no version 9"),
        "{}",
        reply.body
    );

    let reply = api
        .send(Method::DELETE, "/v1/functions/svc", Some(&t.key), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.invoke(&t.name, "svc", "/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/v1/functions/svc", Some(&t.key)).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn endless_loop_times_out(api: Api) {
    let t = api.create_tenant("loop").await;
    api.deploy_ok(&t, "probe", "?timeout_ms=300", probe()).await;
    let start = Instant::now();
    let reply = api.invoke(&t.name, "probe", "/loop").await;
    let took = start.elapsed();
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.body);
    assert!(
        reply.error_message().contains("timed out after 300 ms"),
        "{}",
        reply.body
    );
    assert!(took < Duration::from_millis(1300), "took {took:?}");
    assert!(took >= Duration::from_millis(300), "took {took:?}");

    let usage = api.usage_when(&t.key, 1).await;
    let row = usage_row(&usage, "probe");
    assert_eq!(row["outcomes"]["timeout"], 1, "{usage}");
    assert_eq!(row["errors"], 1);
}

async fn unbounded_memory_hits_the_limit_and_the_host_keeps_serving(api: Api) {
    let t = api.create_tenant("mem").await;
    api.deploy_ok(&t, "probe", "?memory_mb=16", probe()).await;
    let reply = api.invoke(&t.name, "probe", "/grow").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["error"]["code"], "memory_limit");
    assert!(
        reply.error_message().contains("memory limit of 16 MiB"),
        "{}",
        reply.body
    );

    // Within the limit, the same function still works, and so does everyone else.
    assert_eq!(
        api.invoke(&t.name, "probe", "/alloc?mb=4").await.body,
        "allocated 4"
    );
    api.deploy_ok(&t, "hello", "", hello()).await;
    assert_eq!(
        api.invoke(&t.name, "hello", "/").await.status,
        StatusCode::OK
    );

    let usage = api.usage_when(&t.key, 3).await;
    let row = usage_row(&usage, "probe");
    assert_eq!(row["outcomes"]["memory-limit"], 1, "{usage}");
    let peak = row["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak <= 16 << 20, "peak {peak} above the limit");
    assert!(peak >= 4 << 20, "peak {peak} below what /alloc touched");
}

async fn traps_and_missing_responses_are_500s(api: Api) {
    let t = api.create_tenant("trap").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    let reply = api.invoke(&t.name, "probe", "/trap").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["error"]["code"], "trap");

    let reply = api.invoke(&t.name, "probe", "/noresponse").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        reply.error_message().contains("without setting a response"),
        "{}",
        reply.body
    );

    let usage = api.usage_when(&t.key, 2).await;
    let row = usage_row(&usage, "probe");
    assert_eq!(row["outcomes"]["trap"], 1, "{usage}");
    assert_eq!(row["outcomes"]["error"], 1, "{usage}");
    assert_eq!(row["errors"], 2);
}

async fn invalid_uploads_are_refused_with_a_reason(api: Api) {
    let t = api.create_tenant("bad").await;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "garbage",
            b"definitely not wasm".to_vec(),
            "not a WebAssembly binary",
        ),
        (
            "module",
            b"\0asm\x01\0\0\0".to_vec(),
            "core WebAssembly module, not a component",
        ),
        (
            "empty-component",
            b"\0asm\x0d\0\x01\0".to_vec(),
            "exports no handler Geyser can call",
        ),
        ("truncated", probe()[..4096].to_vec(), "invalid component"),
    ];
    for (name, bytes, expected) in cases {
        let reply = api.deploy(&t, name, "", bytes).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            reply.body
        );
        assert!(
            reply.error_message().contains(expected),
            "{name}: {}",
            reply.body
        );
    }
    let reply = api.deploy(&t, "x", "", Vec::new()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = api.deploy(&t, "x", "?memory_mb=100000", hello()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.error_message().contains("memory_mb"),
        "{}",
        reply.body
    );
    let reply = api.deploy(&t, "Bad_Name", "", hello()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // Nothing was stored by the refused uploads.
    let list = api.get("/v1/functions", Some(&t.key)).await.json();
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
}

async fn oversized_upload_is_413(api: Api) {
    let t = api.create_tenant("big").await;
    let reply = api.deploy(&t, "big", "", vec![0u8; 9 << 20]).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"]["code"], "too_large");
}

async fn tenants_are_isolated(api: Api) {
    let a = api.create_tenant("a").await;
    let b = api.create_tenant("b").await;
    api.deploy_ok(&a, "secret", "?public=false", probe()).await;
    api.deploy_ok(&a, "open", "", hello()).await;
    assert_eq!(
        api.invoke(&a.name, "open", "/").await.status,
        StatusCode::OK
    );

    // B cannot see A's functions.
    assert_eq!(
        api.get("/v1/functions/secret", Some(&b.key)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/v1/functions", Some(&b.key)).await.json(),
        serde_json::json!([])
    );

    // Private: no key → 401, B's key → 404 (existence not revealed), A's key → 200.
    let path = format!("/fn/{}/secret/echo", a.name);
    assert_eq!(api.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get(&path, Some("gsk_wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get(&path, Some(&b.key)).await.status,
        StatusCode::NOT_FOUND
    );
    let own = api.get(&path, Some(&a.key)).await;
    assert_eq!(own.status, StatusCode::OK);
    // The guest learns that the owner called, never the key; clients cannot forge the header.
    assert!(own.body.contains("x-geyser-owner: true"), "{}", own.body);
    assert!(!own.body.contains(&a.key));
    api.deploy_ok(&a, "echo", "", probe()).await;
    let forged = api
        .http
        .get(format!("{}/fn/{}/echo/echo", api.base, a.name))
        .header("x-geyser-owner", "true")
        .header("x-geyser-other", "1")
        .header("x-kept", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    assert_eq!(forged.text().await.unwrap(), "GET /echo\nx-kept: 1\n\n");
    // A public function called with the owner's key also learns it is the owner.
    let owned = api
        .get(&format!("/fn/{}/echo/echo", a.name), Some(&a.key))
        .await;
    assert!(
        owned.body.contains("x-geyser-owner: true"),
        "{}",
        owned.body
    );
    let not_owner = api
        .get(&format!("/fn/{}/echo/echo", a.name), Some(&b.key))
        .await;
    assert_eq!(not_owner.status, StatusCode::OK);
    assert!(
        !not_owner.body.contains("x-geyser-owner"),
        "{}",
        not_owner.body
    );

    // B deploying the same name makes B's own function; A's is untouched.
    assert_eq!(api.deploy_ok(&b, "secret", "", hello()).await, 1);
    let info = api.get("/v1/functions/secret", Some(&a.key)).await.json();
    assert_eq!(info["active_version"], 1);
    assert_eq!(info["versions"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(&path, Some(&a.key)).await.body.lines().next(),
        Some("GET /echo")
    );

    // B cannot delete or roll back A's functions.
    let reply = api
        .send(Method::DELETE, "/v1/functions/open", Some(&b.key), None)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.invoke(&a.name, "open", "/").await.status,
        StatusCode::OK
    );

    // B cannot read A's usage; A's usage does not show B's functions.
    let reply = api
        .get(&format!("/v1/usage?tenant={}", a.name), Some(&b.key))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let usage = api.usage_when(&a.key, 7).await;
    let names: Vec<&str> = usage["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["function"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "open", "secret"]);
    assert_eq!(usage["tenant"], a.name.as_str());
    let b_usage = api.usage(&b.key).await;
    assert_eq!(b_usage["totals"]["invocations"], 0, "{b_usage}");

    // The admin may read any tenant's usage.
    let admin = api
        .get(
            &format!("/v1/usage?tenant={}", a.name),
            Some(&api.admin_key),
        )
        .await;
    assert_eq!(admin.status, StatusCode::OK);
    assert_eq!(
        admin.json()["totals"]["invocations"],
        usage["totals"]["invocations"]
    );
}

async fn usage_totals_equal_the_calls_made(api: Api) {
    let t = api.create_tenant("meter").await;
    api.deploy_ok(&t, "hello", "", hello()).await;
    api.deploy_ok(&t, "probe", "?memory_mb=64", probe()).await;
    for _ in 0..7 {
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    for _ in 0..3 {
        assert_eq!(
            api.invoke(&t.name, "probe", "/alloc?mb=20").await.status,
            StatusCode::OK
        );
    }
    let spin = api.invoke(&t.name, "probe", "/spin?ms=100").await;
    assert_eq!(spin.status, StatusCode::OK);

    let usage = api.usage_when(&t.key, 11).await;
    let hello_row = usage_row(&usage, "hello");
    let probe_row = usage_row(&usage, "probe");
    assert_eq!(hello_row["invocations"], 7);
    assert_eq!(probe_row["invocations"], 4);
    assert_eq!(usage["totals"]["invocations"], 11);
    assert_eq!(usage["totals"]["errors"], 0);
    assert!(
        probe_row["peak_memory_bytes"].as_u64().unwrap() >= 20 << 20,
        "{usage}"
    );
    // The 100 ms spin is CPU time, measured, not allocated.
    let cpu = probe_row["cpu_ms"].as_f64().unwrap();
    let wall = probe_row["wall_ms"].as_f64().unwrap();
    assert!(cpu >= 80.0, "cpu {cpu} ms");
    assert!(wall >= cpu * 0.9, "wall {wall} ms < cpu {cpu} ms");
    // Totals are the sums of the rows.
    let sum = |field: &str| hello_row[field].as_f64().unwrap() + probe_row[field].as_f64().unwrap();
    for field in ["wall_ms", "cpu_ms", "gb_seconds"] {
        let total = usage["totals"][field].as_f64().unwrap();
        assert!(
            (total - sum(field)).abs() < 1e-9,
            "{field}: {total} vs {}",
            sum(field)
        );
    }
    assert!(probe_row["gb_seconds"].as_f64().unwrap() > 0.0);
}

async fn keys_and_names_are_checked(api: Api) {
    let reply = api.create_tenant_named("someone", "wrong-admin-key").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let t = api.create_tenant("keys").await;
    let reply = api.create_tenant_named("other", &t.key).await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "a tenant cannot create tenants"
    );
    let reply = api.create_tenant_named(&t.name, &api.admin_key).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    let reply = api.create_tenant_named("No Spaces", &api.admin_key).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.error_message().contains("a-z, 0-9 and '-'"),
        "{}",
        reply.body
    );

    assert_eq!(
        api.get("/v1/functions", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/v1/functions", Some("nope")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.invoke("nobody", "nothing", "/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.invoke(&t.name, "nothing", "/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get("/healthz", None).await.status, StatusCode::OK);
}

async fn responses_stream_and_keep_guest_status(api: Api) {
    let t = api.create_tenant("stream").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    let reply = api.invoke(&t.name, "probe", "/status?code=418").await;
    assert_eq!(reply.status, StatusCode::IM_A_TEAPOT);
    let reply = api.invoke(&t.name, "probe", "/stream?chunks=200").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.lines().count(), 200);
    assert_eq!(reply.body.lines().last(), Some("chunk 199"));
    // A 5xx answer reaches the client whole, and counts as an error (still billed).
    let reply = api.invoke(&t.name, "probe", "/status?code=503").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "status 503");
    let usage = api.usage_when(&t.key, 3).await;
    assert_eq!(
        usage["totals"]["outcomes"]["ok"], 2,
        "a guest-chosen 418 is an ok invocation: {usage}"
    );
    assert_eq!(usage["totals"]["outcomes"]["error"], 1, "{usage}");
    assert_eq!(usage["totals"]["errors"], 1, "{usage}");
}

async fn components_from_another_toolchain_run_unchanged(api: Api) {
    let t = api.create_tenant("wstd").await;
    api.deploy_ok(&t, "w", "", wstd()).await;
    let reply = api.invoke(&t.name, "w", "/deep/path").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, "hello from wstd at /deep/path");
    let reply = api.invoke(&t.name, "w", "/sleep?ms=50").await;
    assert_eq!(reply.body, "slept 50");
    let invocation = reply.headers["x-geyser-invocation"]
        .to_str()
        .unwrap()
        .to_owned();

    // What the guest printed is captured per invocation and readable by its tenant only.
    let logs = api
        .get("/v1/functions/w/logs?limit=10", Some(&t.key))
        .await
        .json();
    let lines = logs.as_array().unwrap();
    assert_eq!(lines.len(), 2, "{logs}");
    assert_eq!(lines[0]["message"], "serving /deep/path");
    assert_eq!(lines[1]["message"], "serving /sleep");
    assert_eq!(lines[1]["level"], "stdout");
    assert_eq!(lines[1]["invocation"], invocation.as_str());
    let other = api.create_tenant("wstd-other").await;
    let theirs = api
        .get("/v1/functions/w/logs", Some(&other.key))
        .await
        .json();
    assert_eq!(theirs, serde_json::json!([]));
    let usage = api.usage_when(&t.key, 2).await;
    let row = usage_row(&usage, "w");
    // Waiting on a host timer is wall time, not CPU time.
    assert!(row["wall_ms"].as_f64().unwrap() >= 50.0, "{usage}");
    assert!(row["cpu_ms"].as_f64().unwrap() < 40.0, "{usage}");
}

async fn a_guest_waiting_on_a_timer_also_times_out(api: Api) {
    let t = api.create_tenant("sleepy").await;
    api.deploy_ok(&t, "w", "?timeout_ms=300", wstd()).await;
    let start = Instant::now();
    let reply = api.invoke(&t.name, "w", "/sleep?ms=5000").await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.body);
    assert!(
        start.elapsed() < Duration::from_millis(1300),
        "took {:?}",
        start.elapsed()
    );
    let usage = api.usage_when(&t.key, 1).await;
    assert_eq!(usage_row(&usage, "w")["outcomes"]["timeout"], 1, "{usage}");
}

async fn hostile_guests_are_contained(api: Api) {
    let t = api.create_tenant("hostile").await;
    api.deploy_ok(&t, "probe", "?timeout_ms=500&memory_mb=64", probe())
        .await;

    // Deep recursion: a trap (Rust's shadow stack runs out of linear memory, or wasmtime's
    // stack limit hits), not a crashed host.
    let reply = api.invoke(&t.name, "probe", "/recurse").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["error"]["code"], "trap", "{}", reply.body);

    // Nothing outside the sandbox is reachable.
    let reply = api.invoke(&t.name, "probe", "/sandbox").await;
    assert_eq!(reply.status, StatusCode::OK);
    let report: Vec<&str> = reply.body.lines().collect();
    assert_eq!(report[0], "env: 0");
    assert_eq!(report[1], "file: denied");
    assert_eq!(report[2], "socket: denied");
    assert!(report[3].starts_with("outbound: denied"), "{}", reply.body);

    // A large body streams through whole. Its own deployment with a generous timeout: the
    // timeout covers the body, and 32 MiB in 500 ms is a race on a loaded 2-core CI machine.
    api.deploy_ok(&t, "bulk", "?timeout_ms=20000&memory_mb=64", probe())
        .await;
    let reply = api.invoke(&t.name, "bulk", "/huge?mb=32").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len(), 32 << 20);

    // A body that never ends is cut at the timeout; the client sees the stream fail.
    let start = Instant::now();
    let response = api
        .http
        .get(format!("{}/fn/{}/probe/endless", api.base, t.name))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.bytes().await.is_err(),
        "an endless body must not end cleanly"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );

    // Every one was metered and classified, and the host still serves.
    assert_eq!(api.invoke(&t.name, "probe", "/").await.body, "probe");
    let usage = api.usage_when(&t.key, 5).await;
    let row = usage_row(&usage, "probe");
    assert_eq!(row["outcomes"]["trap"], 1, "{usage}");
    assert_eq!(row["outcomes"]["timeout"], 1, "{usage}");
    assert_eq!(row["outcomes"]["ok"], 2, "{usage}");
    assert_eq!(usage_row(&usage, "bulk")["outcomes"]["ok"], 1, "{usage}");
}

/// Scale out: a second node on the same PostgreSQL database serves a function deployed through
/// the first one, compiling it from the bytes in the database (its own cache is empty).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_serves_what_the_first_deployed() {
    let first = TestServer::start(Backend::Postgres, |_| {});
    let second = TestServer::join(&first, |_| {});
    let (a, b) = (first.api(), second.api());
    let t = a.create_tenant("scale").await;
    a.deploy_ok(&t, "hello", "", hello()).await;
    assert_eq!(b.metric("geyser_resident_functions").await, 0.0);
    let reply = b.invoke(&t.name, "hello", "/via-b").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("/via-b"));
    assert_eq!(b.metric("geyser_cold_starts_total").await, 1.0);
    // Both nodes write to the same usage.
    assert_eq!(
        a.invoke(&t.name, "hello", "/via-a").await.status,
        StatusCode::OK
    );
    let usage = b.usage_when(&t.key, 2).await;
    assert_eq!(usage["totals"]["invocations"], 2, "{usage}");
}

/// The route cache: a node reuses a function lookup, but a change made through it applies at
/// once (its route cache here would otherwise hold for a minute), and a change made through
/// another node applies within that node's `route_cache_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_changes_reach_cached_routes() {
    let first = TestServer::start(Backend::Postgres, |c| c.http.route_cache_ms = 60_000);
    let second = TestServer::join(&first, |c| c.http.route_cache_ms = 300);
    let (a, b) = (first.api(), second.api());
    let t = a.create_tenant("routes").await;
    a.deploy_ok(&t, "hello", "", hello()).await;
    for api in [&a, &b] {
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }

    // Each change through the first node: the first node answers differently at once, the
    // second within its cache time.
    let both_answer = |status: StatusCode, change: &'static str| {
        let (a, b, tenant) = (&a, &b, t.name.clone());
        async move {
            assert_eq!(
                a.invoke(&tenant, "hello", "/").await.status,
                status,
                "{change}"
            );
            let seen =
                || async { (b.invoke(&tenant, "hello", "/").await.status == status).then_some(()) };
            eventually(change, Duration::from_secs(5), seen).await;
        }
    };
    a.deploy_ok(&t, "hello", "?public=false", hello()).await;
    both_answer(StatusCode::UNAUTHORIZED, "the redeploy as private").await;
    let reply = a
        .post_json(
            "/v1/functions/hello/rollback",
            &t.key,
            serde_json::json!({"version": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    both_answer(StatusCode::OK, "the rollback to the public version").await;
    let reply = a
        .send(Method::DELETE, "/v1/functions/hello", Some(&t.key), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    both_answer(StatusCode::NOT_FOUND, "the delete").await;
}

/// Scale to zero: after the idle TTL the version is dropped from memory, and the next call loads
/// it again (from the disk cache) and works. Own server: the TTL is short and the count global.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_functions_scale_to_zero_and_come_back() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start(backend, |c| c.engine.idle_ttl_ms = 300);
        let api = server.api();
        let t = api.create_tenant("idle").await;
        api.deploy_ok(&t, "hello", "", hello()).await;
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
        assert_eq!(api.metric("geyser_resident_functions").await, 1.0);
        let cold_before = api.metric("geyser_cold_starts_total").await;

        let deadline = Instant::now() + Duration::from_secs(10);
        while api.metric("geyser_resident_functions").await > 0.0 {
            assert!(Instant::now() < deadline, "function never scaled to zero");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let reply = api.invoke(&t.name, "hello", "/again").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body.contains("/again"));
        assert_eq!(
            api.metric("geyser_cold_starts_total").await,
            cold_before + 1.0
        );
        assert_eq!(api.metric("geyser_resident_functions").await, 1.0);
    }
}

/// A node stopped cleanly has written every invocation record before it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_stop_flushes_metering() {
    let server = TestServer::start(Backend::Sqlite, |c| c.metering.flush_interval_ms = 60_000);
    let api = server.api();
    let t = api.create_tenant("flush").await;
    api.deploy_ok(&t, "hello", "", hello()).await;
    for _ in 0..5 {
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    let data_dir = server.stop();
    let db = format!("sqlite://{}", data_dir.path().join("geyser.db").display());
    let store = geyser_functions::Store::open(&db, 1).await.unwrap();
    let tenant = store
        .tenant_by_name(&geyser_functions::TenantName::parse(&t.name).unwrap())
        .await
        .unwrap();
    let usage = store.usage(tenant.id).await.unwrap();
    assert_eq!(usage.totals().invocations, 5);
}
