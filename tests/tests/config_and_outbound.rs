//! Functions that reach the world: per-version variables and secrets (environment and
//! wasi:config), secrets sealed at rest, and outbound HTTP through the allow-list and the SSRF
//! guard, against a real local HTTP server — each scenario on SQLite and on PostgreSQL.

use geyser_e2e::{Api, Backend, TestServer, Upstream, guest, query_escape};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The upstream every scenario calls; its port is the node's one private exception.
fn upstream() -> &'static Upstream {
    static UPSTREAM: OnceLock<Upstream> = OnceLock::new();
    UPSTREAM.get_or_init(Upstream::start)
}

fn server(backend: Backend) -> &'static TestServer {
    static SQLITE: OnceLock<TestServer> = OnceLock::new();
    static POSTGRES: OnceLock<TestServer> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| {
        TestServer::start(backend, |c| {
            c.outbound.allowed_private = vec![format!("127.0.0.1:{}", upstream().port)];
            c.outbound.max_response_body_bytes = 1 << 20;
        })
    })
}

fn probe() -> Vec<u8> {
    guest("geyser_fixture_probe")
}

geyser_e2e::on_both_backends!(
    variables_and_secrets_reach_the_guest_and_rollback_restores_them,
    bad_configuration_is_refused_and_changes_nothing,
    outbound_calls_follow_the_allow_list_and_the_private_address_guard,
    slow_and_oversized_upstreams_are_cut,
    wasi_keyvalue_is_the_tenants_kv_store,
    a_component_built_against_contract_0_1_keeps_running,
);

const SECRET: &str = "tok-s3cret-7f3a9c";

async fn config_of(api: &Api, key: &str, function: &str) -> serde_json::Value {
    let reply = api
        .get(&format!("/v1/functions/{function}/config"), Some(key))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

async fn configure(api: &Api, key: &str, function: &str, change: serde_json::Value) -> i64 {
    let reply = api
        .put_json(&format!("/v1/functions/{function}/config"), key, change)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(!reply.body.contains(SECRET), "{}", reply.body);
    reply.json()["version"].as_i64().expect("version")
}

async fn variables_and_secrets_reach_the_guest_and_rollback_restores_them(api: Api) {
    let t = api.create_tenant("config").await;
    assert_eq!(api.deploy_ok(&t, "probe", "", probe()).await, 1);
    let shown = config_of(&api, &t.key, "probe").await;
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["config"]["variables"], json!({}));

    let v2 = configure(
        &api,
        &t.key,
        "probe",
        json!({"variables": {"GREETING": "hi there"}, "secrets": {"API_TOKEN": SECRET}}),
    )
    .await;
    assert_eq!(v2, 2);
    let shown = config_of(&api, &t.key, "probe").await;
    assert_eq!(shown["version"], 2);
    assert_eq!(
        shown["config"]["variables"],
        json!({"GREETING": "hi there"})
    );
    assert_eq!(shown["config"]["secrets"], json!(["API_TOKEN"]));
    assert!(!shown.to_string().contains(SECRET));

    // Environment (std::env) and wasi:config see the same entries.
    let env = |name: &str| format!("/env?name={name}");
    assert_eq!(
        api.invoke(&t.name, "probe", &env("GREETING")).await.body,
        "GREETING=hi there"
    );
    assert_eq!(
        api.invoke(&t.name, "probe", &env("API_TOKEN")).await.body,
        format!("API_TOKEN={SECRET}")
    );
    assert_eq!(
        api.invoke(&t.name, "probe", "/config?name=API_TOKEN")
            .await
            .body,
        format!("API_TOKEN={SECRET}")
    );
    assert_eq!(
        api.invoke(&t.name, "probe", "/config-all").await.body,
        format!("API_TOKEN={SECRET}\nGREETING=hi there\n")
    );

    // Nowhere in the API: the function, its versions, its logs, its records.
    for path in [
        "/v1/functions/probe",
        "/v1/functions",
        "/v1/functions/probe/logs",
        "/v1/functions/probe/invocations",
    ] {
        let reply = api.get(path, Some(&t.key)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert!(!reply.body.contains(SECRET), "{path}: {}", reply.body);
    }

    // A new artifact keeps the configuration.
    assert_eq!(api.deploy_ok(&t, "probe", "", probe()).await, 3);
    assert_eq!(
        api.invoke(&t.name, "probe", &env("GREETING")).await.body,
        "GREETING=hi there"
    );
    // Removing one entry keeps the others.
    let v4 = configure(
        &api,
        &t.key,
        "probe",
        json!({"variables": {"GREETING": null}}),
    )
    .await;
    assert_eq!(v4, 4);
    assert_eq!(
        api.invoke(&t.name, "probe", &env("GREETING")).await.body,
        "GREETING unset"
    );
    assert_eq!(
        api.invoke(&t.name, "probe", &env("API_TOKEN")).await.body,
        format!("API_TOKEN={SECRET}")
    );
    // A rollback restores the configuration with the code.
    let reply = api
        .post_json(
            "/v1/functions/probe/rollback",
            &t.key,
            json!({"version": 2}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        api.invoke(&t.name, "probe", &env("GREETING")).await.body,
        "GREETING=hi there"
    );
    // Another tenant's function of the same name sees none of it.
    let other = api.create_tenant("config-other").await;
    api.deploy_ok(&other, "probe", "", probe()).await;
    assert_eq!(
        api.invoke(&other.name, "probe", &env("API_TOKEN"))
            .await
            .body,
        "API_TOKEN unset"
    );
}

async fn bad_configuration_is_refused_and_changes_nothing(api: Api) {
    let t = api.create_tenant("badconfig").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    let path = "/v1/functions/probe/config";
    let too_long = "x".repeat(5000);
    let cases = [
        (json!({"variables": {"bad-name": "x"}}), "variables"),
        (json!({"variables": {"1ST": "x"}}), "variables"),
        (json!({"secrets": {"TOKEN": too_long}}), "secrets.TOKEN"),
        (
            json!({"allowed_outbound_hosts": ["ftp://example.com"]}),
            "allowed_outbound_hosts",
        ),
        (
            json!({"allowed_outbound_hosts": ["https://example.com/path"]}),
            "allowed_outbound_hosts",
        ),
        (
            json!({"allowed_outbound_hosts": ["example.com"]}),
            "allowed_outbound_hosts",
        ),
        (json!({"variables": {"A": 1}}), "invalid config body"),
        (json!({"nope": true}), "nope"),
        (
            json!({"variables": {"TOKEN": "a"}, "secrets": {"TOKEN": "b"}}),
            "TOKEN",
        ),
    ];
    for (body, names) in cases {
        let reply = api.put_json(path, &t.key, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert!(
            reply.error_message().contains(names),
            "{body}: {}",
            reply.body
        );
    }
    let reply = api
        .send(
            reqwest::Method::PUT,
            path,
            Some(&t.key),
            Some(b"not json".to_vec()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = api
        .put_json("/v1/functions/missing/config", &t.key, json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = api
        .put_json(path, "gk_wrong", json!({"variables": {"A": "b"}}))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    // Nothing changed: still version 1, empty.
    let shown = config_of(&api, &t.key, "probe").await;
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["config"]["variables"], json!({}));
}

async fn fetch(api: &Api, tenant: &str, url: &str, extra: &str) -> geyser_e2e::Reply {
    api.invoke(
        tenant,
        "probe",
        &format!("/fetch?url={}{extra}", query_escape(url)),
    )
    .await
}

async fn outbound_calls_follow_the_allow_list_and_the_private_address_guard(api: Api) {
    let t = api.create_tenant("outbound").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    let hello = upstream().url("/hello");

    // No allow-list: nothing goes out.
    let reply = fetch(&api, &t.name, &hello, "").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert_eq!(reply.body, "error: ErrorCode::HttpRequestDenied");

    let node_port = api.base.rsplit(':').next().unwrap().to_owned();
    configure(
        &api,
        &t.key,
        "probe",
        json!({
            "secrets": {"TOKEN": SECRET},
            "allowed_outbound_hosts": [
                format!("http://127.0.0.1:{}", upstream().port),
                "http://169.254.169.254",
                format!("http://localhost:{node_port}"),
            ],
        }),
    )
    .await;

    // Allowed: the upstream sees the secret the guest sent, the Host that was checked and the
    // invocation's trace.
    let reply = fetch(&api, &t.name, &hello, "&auth=TOKEN").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let lines: Vec<&str> = reply.body.lines().collect();
    assert_eq!(lines[0], "status 200");
    assert_eq!(lines[1], "upstream hello");
    assert_eq!(lines[2], format!("authorization: Bearer {SECRET}"));
    assert_eq!(lines[3], format!("host: 127.0.0.1:{}", upstream().port));
    let traceparent = reply.headers["traceparent"].to_str().unwrap();
    let trace_id = traceparent.split('-').nth(1).unwrap();
    assert!(
        lines[4].starts_with("traceparent: 00-") && lines[4].contains(trace_id),
        "{} vs {traceparent}",
        lines[4]
    );
    let id = reply.headers["x-geyser-invocation"]
        .to_str()
        .unwrap()
        .to_owned();

    // On the list but private (the cloud metadata address; the node itself): refused after
    // resolution, never connected.
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://localhost:{node_port}/v1/tenants"),
    ] {
        let reply = fetch(&api, &t.name, &url, "").await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_GATEWAY,
            "{url}: {}",
            reply.body
        );
        assert_eq!(
            reply.body, "error: ErrorCode::DestinationIpProhibited",
            "{url}"
        );
    }
    // Not on the list: another host, another port, another scheme.
    for url in [
        "http://example.com/".to_owned(),
        format!("http://127.0.0.1:{}/hello", upstream().port + 1),
        format!("https://127.0.0.1:{}/hello", upstream().port),
    ] {
        let reply = fetch(&api, &t.name, &url, "").await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_GATEWAY,
            "{url}: {}",
            reply.body
        );
        assert_eq!(reply.body, "error: ErrorCode::HttpRequestDenied", "{url}");
    }
    // The host keeps serving.
    assert_eq!(api.invoke(&t.name, "probe", "/").await.body, "probe");

    // The allowed call is metered in its record; a denied one went nowhere.
    let records = api.invocations(&t.key, "probe").await;
    let record = records
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap_or_else(|| panic!("no record {id}: {records:?}"));
    assert_eq!(record["outbound_requests"], 1, "{record}");
    let bytes = record["outbound_bytes"].as_u64().unwrap();
    assert!(bytes >= "upstream hello\n".len() as u64, "{record}");
    assert!(
        record["outbound_wait_ms"].as_f64().unwrap() > 0.0,
        "{record}"
    );
    let denied = records
        .iter()
        .filter(|r| r["outbound_requests"] == 0)
        .count();
    assert!(denied >= 6, "{records:?}");
    // /metrics counts the same request (one series per function; this tenant's only call).
    let labels = format!("tenant=\"{}\",function=\"probe\"", t.name);
    assert_eq!(
        api.metric(&format!(
            "geyser_function_outbound_requests_total{{{labels}}}"
        ))
        .await,
        1.0
    );
    assert_eq!(
        api.metric(&format!("geyser_function_outbound_bytes_total{{{labels}}}"))
            .await,
        bytes as f64
    );
}

async fn slow_and_oversized_upstreams_are_cut(api: Api) {
    let t = api.create_tenant("slowup").await;
    api.deploy_ok(&t, "probe", "?timeout_ms=1500", probe())
        .await;
    configure(
        &api,
        &t.key,
        "probe",
        json!({"allowed_outbound_hosts": [format!("http://127.0.0.1:{}", upstream().port)]}),
    )
    .await;
    // The guest's own first-byte timeout: it gets an error it handles.
    let start = Instant::now();
    let reply = fetch(&api, &t.name, &upstream().url("/slow"), "&timeout_ms=200").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert_eq!(reply.body, "error: ErrorCode::ConnectionReadTimeout");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // No timeout of its own: the invocation's deadline cuts it.
    let start = Instant::now();
    let reply = fetch(&api, &t.name, &upstream().url("/slow"), "").await;
    assert!(
        reply.status == StatusCode::GATEWAY_TIMEOUT || reply.status == StatusCode::BAD_GATEWAY,
        "{}: {}",
        reply.status,
        reply.body
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // A response over the node's 1 MiB limit fails the read; under it, it arrives whole.
    let reply = fetch(&api, &t.name, &upstream().url("/big?kb=2048"), "").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    // The guest's read fails with the limit (its stream error names it).
    assert!(
        reply.body.starts_with("error: ") && reply.body.contains("1048576"),
        "{}",
        reply.body
    );
    let reply = fetch(&api, &t.name, &upstream().url("/big?kb=512"), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body.len(), "status 200\n".len() + (512 << 10));
}

/// A component written against wasi:keyvalue (bindings from plain wit-bindgen, no SDK) uses
/// the tenant's kv store: its keys count against the tenant's quota, another tenant sees none
/// of them, and errors come back as `wasi:keyvalue` errors the guest handles.
async fn wasi_keyvalue_is_the_tenants_kv_store(api: Api) {
    let t = api.create_tenant("wasikv").await;
    api.deploy_ok(&t, "probe", "", probe()).await;
    let kv = |q: &str| format!("/kv?{q}");
    let call = |q: String| {
        let api = api.clone();
        let tenant = t.name.clone();
        async move { api.invoke(&tenant, "probe", &q).await }
    };
    assert_eq!(call(kv("op=get&key=seat")).await.body, "none");
    assert_eq!(call(kv("op=set&key=seat&value=A1")).await.body, "ok");
    assert_eq!(call(kv("op=get&key=seat")).await.body, "A1");
    assert_eq!(call(kv("op=exists&key=seat")).await.body, "true");
    assert_eq!(call(kv("op=incr&key=sold&by=2")).await.body, "2");
    assert_eq!(call(kv("op=incr&key=sold&by=3")).await.body, "5");
    assert_eq!(
        call(kv("op=many&key=row&value=v")).await.body,
        "row1=v-row1\nrow2=v-row2\nrow3=v-row3\nnone"
    );
    // `many` deleted row1 again; list walks every page.
    assert_eq!(call(kv("op=list")).await.body, "row2\nrow3\nseat\nsold");
    assert_eq!(call(kv("op=del&key=seat")).await.body, "ok");
    assert_eq!(call(kv("op=exists&key=seat")).await.body, "false");
    // Another bucket does not exist; a key that is too long is refused.
    let reply = call(kv("op=get&key=x&bucket=other")).await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    assert_eq!(reply.body, "error: Error::NoSuchStore");
    let long = "k".repeat(300);
    let reply = call(kv(&format!("op=set&key={long}&value=x"))).await;
    assert!(
        reply.body.starts_with("error: Error::Other(\"key must be"),
        "{}",
        reply.body
    );
    // The same store the quota counts: three keys (row2, row3, sold).
    let quotas = api.get("/v1/quotas", Some(&t.key)).await;
    assert_eq!(quotas.json()["used"]["kv_keys"], 3, "{}", quotas.body);
    // Another tenant's probe sees none of it.
    let other = api.create_tenant("wasikv-other").await;
    api.deploy_ok(&other, "probe", "", probe()).await;
    let reply = api
        .invoke(&other.name, "probe", &kv("op=get&key=sold"))
        .await;
    assert_eq!(reply.body, "none");
}

/// A component built against the frozen `geyser:function@0.1.0` (plain wit-bindgen) deploys
/// as an event function and runs on the 0.2.0 host: kv and logging work, and a kv quota refusal,
/// which 0.2.0 reports as `quota-exceeded`, reaches it as its own `unavailable` case.
async fn a_component_built_against_contract_0_1_keeps_running(api: Api) {
    let t = api.create_tenant("legacy").await;
    let reply = api
        .deploy(&t, "legacy", "", guest("geyser_fixture_legacy_counter"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["kind"], "event");
    let event = |payload: &'static str| {
        let api = api.clone();
        let key = t.key.clone();
        async move {
            api.send(
                reqwest::Method::POST,
                "/v1/functions/legacy/events",
                Some(&key),
                Some(payload.as_bytes().to_vec()),
            )
            .await
        }
    };
    for _ in 0..2 {
        let reply = event("count").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json()["outcome"], "ok", "{}", reply.body);
    }
    let logs = api
        .get("/v1/functions/legacy/logs?limit=10", Some(&t.key))
        .await;
    assert!(logs.body.contains("count 2"), "{}", logs.body);
    // One kv key exists; a quota of one refuses the next new key.
    let reply = api
        .put_json(
            &format!("/v1/quotas?tenant={}", t.name),
            &api.admin_key,
            json!({"max_kv_keys": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = event("key").await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    let message = reply.error_message();
    assert!(
        message.contains("Unavailable(") && message.contains("kv quota exceeded"),
        "{message}"
    );
    // Existing keys still take writes.
    assert_eq!(event("count").await.status, StatusCode::OK);
}

/// The database holds secrets sealed: the value appears in no stored configuration, the
/// name does. Both backends, read with the database's own client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_in_the_database() {
    sqlx::any::install_default_drivers();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = server(backend);
        let api = server.api();
        let t = api.create_tenant("sealed").await;
        api.deploy_ok(&t, "probe", "", probe()).await;
        let marker = format!("{SECRET}-{}", t.name);
        configure(
            &api,
            &t.key,
            "probe",
            json!({"secrets": {"DB_PASSWORD": marker}}),
        )
        .await;
        assert_eq!(
            api.invoke(&t.name, "probe", "/env?name=DB_PASSWORD")
                .await
                .body,
            format!("DB_PASSWORD={marker}")
        );
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&server.database_url)
            .await
            .expect("open the server's database");
        let configs: Vec<String> = sqlx::query_scalar("SELECT config FROM function_versions")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        assert!(
            configs.iter().any(|c| c.contains("DB_PASSWORD")),
            "{backend:?}"
        );
        assert!(!configs.iter().any(|c| c.contains(&marker)), "{backend:?}");
        if backend == Backend::Sqlite {
            let path = server.database_url.trim_start_matches("sqlite://");
            let path = path.split('?').next().unwrap();
            for file in [path.to_owned(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
                    assert!(!found, "{file} holds the secret in plaintext");
                }
            }
        }
    }
}
