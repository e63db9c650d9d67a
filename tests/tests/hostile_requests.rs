//! Hostile requests: slow heads and bodies, malformed headers and paths, path traversal in
//! names, invalid JSON on every JSON endpoint, bogus cron expressions and topic names. Each gets
//! a 4xx with a message (or, for a stalled connection, is closed) and changes nothing.

use geyser_e2e::{Api, Backend, TestServer, TestTenant, guest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A node that gives a request head 500 ms and a silent body 500 ms.
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TestServer::start(Backend::Sqlite, |config| {
            config.http.header_read_timeout_ms = 500;
            config.http.body_idle_timeout_ms = 500;
        })
    })
}

fn addr(api: &Api) -> String {
    api.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `within` passes); returns what came.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&received).into()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_head_is_cut_off_and_others_are_served() {
    let api = server().api();
    let mut stream = TcpStream::connect(addr(&api)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    // Drip a header byte every 100 ms; the head never completes.
    let dripper = async {
        for _ in 0..50 {
            if stream.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), dripper).await;
    let closed = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    let closed = closed.expect("the server kept a never-ending request head open");
    assert!(
        closed.is_empty() || closed.starts_with("HTTP/1.1 408"),
        "{closed}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(api.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_fails_and_deploys_nothing() {
    let api = server().api();
    let t = api.create_tenant("stall").await;
    let mut stream = TcpStream::connect(addr(&api)).await.unwrap();
    let head = format!(
        "PUT /v1/functions/stalled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 100000\r\n\r\n",
        t.key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0u8; 1000]).await.unwrap();
    let start = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("a stalled body must not hold the connection");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("reading upload failed"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let functions = api.get("/v1/functions", Some(&t.key)).await.json();
    assert_eq!(functions, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_headers_paths_and_names_get_4xx() {
    let api = server().api();
    let t = api.create_tenant("paths").await;
    api.deploy_ok(&t, "hello", "", guest("example_hello")).await;
    let other = api.create_tenant("paths-other").await;
    api.deploy_ok(&other, "secret", "?public=false", guest("example_hello"))
        .await;

    // Traversal and junk in function names: refused as names, nothing written.
    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "..",
        "a%2Fb",
        "%00",
        "UPPER",
        "a%20b",
        &"x".repeat(200),
    ] {
        let reply = api
            .send(
                Method::PUT,
                &format!("/v1/functions/{name}"),
                Some(&t.key),
                Some(b"\0asm not really".to_vec()),
            )
            .await;
        assert!(reply.status.is_client_error(), "{name}: {}", reply.body);
        assert!(!reply.error_message().is_empty(), "{name}: {}", reply.body);
    }
    let functions = api.get("/v1/functions", Some(&t.key)).await.json();
    assert_eq!(functions.as_array().unwrap().len(), 1, "{functions}");

    // The gateway never resolves a path outside the tenant's own functions.
    for path in [
        format!("/fn/{}/..%2F{}%2Fsecret/", t.name, other.name),
        format!("/fn/{}/../{}/secret", t.name, other.name),
        format!("/fn/{}/hello/../../{}/secret", t.name, other.name),
        "/fn/..%2F..%2F/x".to_owned(),
        "/fn/".to_owned(),
    ] {
        let reply = api.send(Method::GET, &path, Some(&t.key), None).await;
        assert!(
            reply.status.is_client_error() || reply.body.contains("you asked for"),
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        assert!(!reply.body.contains("secret"), "{path}: {}", reply.body);
    }

    // Malformed authorization headers are 401s with a reason.
    for value in [
        "Bearer".as_bytes(),
        b"Bearer ",
        b"Basic dXNlcjpwYXNz",
        b"Bearer \xff\xfe",
        b"bearer gy_zz",
    ] {
        let reply = api
            .http
            .get(format!("{}/v1/functions", api.base))
            .header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{value:?}");
        let body: Value = reply.json().await.unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
    }

    // A very large header, an unknown method, a bad query: 4xx, and the node still serves.
    let reply = api
        .http
        .get(format!("{}/v1/functions", api.base))
        .bearer_auth(&t.key)
        .header("x-junk", "y".repeat(200_000))
        .send()
        .await;
    if let Ok(reply) = reply {
        assert!(reply.status().is_client_error(), "{}", reply.status());
    }
    let reply = api
        .send(
            Method::from_bytes(b"BREW").unwrap(),
            "/v1/functions",
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let reply = api
        .get("/v1/functions/hello/logs?limit=-1", Some(&t.key))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = api
        .get("/v1/billing/statement?month=2026-13", Some(&t.key))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(
        api.invoke(&t.name, "hello", "/").await.status,
        StatusCode::OK
    );
}

/// What a tenant's state looks like through the API; equal before and after refused requests.
async fn snapshot(api: &Api, t: &TestTenant) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/v1/functions".to_owned(),
        "/v1/keys".to_owned(),
        "/v1/quotas".to_owned(),
        "/v1/functions/tick/triggers/cron".to_owned(),
        "/v1/functions/tick/triggers/kafka".to_owned(),
    ] {
        let reply = api.get(&path, Some(&t.key)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        let mut value = reply.json();
        if let Some(q) = value.get_mut("used") {
            q["in_flight"] = json!(0);
        }
        out.push(value);
    }
    let reply = api.get("/v1/billing/budget", Some(&t.key)).await;
    out.push(json!(reply.status.as_u16()));
    // Other tests create tenants meanwhile: this tenant's entry, and that no tenant was made
    // from a refused body.
    let tenants = api.get("/v1/tenants", Some(&api.admin_key)).await.json();
    let tenants = tenants.as_array().unwrap();
    out.push(json!(tenants.iter().find(|x| x["name"] == t.name.as_str())));
    out.push(json!(tenants.iter().any(|x| x["name"] == "n")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_on_every_json_endpoint_is_refused_and_changes_nothing() {
    let api = server().api();
    let t = api.create_tenant("json").await;
    api.deploy_ok(&t, "tick", "", guest("geyser_fixture_ticker"))
        .await;
    let before = snapshot(&api, &t).await;
    // The JSON endpoints are the ones the OpenAPI document (itself checked against the router)
    // gives a JSON request body.
    let doc = api.get("/v1/openapi.json", None).await.json();
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["requestBody"]["content"]["application/json"].is_null() {
                continue;
            }
            let access = op["x-geyser-access"].as_str().unwrap();
            let key = if access == "admin" {
                &api.admin_key
            } else {
                &t.key
            };
            let mut concrete = path
                .replace("{name}", "tick")
                .replace("{schedule}", "nightly")
                .replace("{tenant}", &t.name);
            if access != "tenant" {
                concrete.push_str(&format!("?tenant={}", t.name));
            }
            for body in [
                "{\"broken",
                "[]",
                "null",
                "\"text\"",
                "{\"name\": 1e400}",
                "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}",
            ] {
                let reply = api
                    .http
                    .request(
                        Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                        format!("{}{concrete}", api.base),
                    )
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = reply.status();
                let text = reply.text().await.unwrap();
                assert!(
                    status == StatusCode::BAD_REQUEST
                        || status == StatusCode::UNPROCESSABLE_ENTITY
                        || status == StatusCode::NOT_FOUND,
                    "{method} {concrete} with {body}: {status} {text}"
                );
                let parsed: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{method} {concrete} with {body}: {e}: {text}"));
                assert!(parsed["error"]["message"].is_string(), "{text}");
                tried += 1;
            }
        }
    }
    assert!(
        tried >= 6 * 8,
        "only {tried} requests: the JSON endpoints were not found"
    );
    assert_eq!(snapshot(&api, &t).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bogus_cron_expressions_and_topic_names_are_refused() {
    let api = server().api();
    let t = api.create_tenant("bogus").await;
    api.deploy_ok(&t, "tick", "", guest("geyser_fixture_ticker"))
        .await;
    let before = snapshot(&api, &t).await;
    let cron = "/v1/functions/tick/triggers/cron";
    for (expression, timezone) in [
        ("* * *", "UTC"),
        ("61 * * * *", "UTC"),
        ("* * 32 * *", "UTC"),
        ("* * * * * * * *", "UTC"),
        ("@sometimes", "UTC"),
        ("", "UTC"),
        ("*/0 * * * *", "UTC"),
        ("0 9 * * *", "Mars/Olympus_Mons"),
        ("0 9 * * *", "../../etc/localtime"),
    ] {
        let reply = api
            .put_json(
                cron,
                &t.key,
                json!({"name": "n", "expression": expression, "timezone": timezone}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{expression:?} {timezone:?}: {}",
            reply.body
        );
        assert!(!reply.error_message().is_empty());
    }
    let kafka = "/v1/functions/tick/triggers/kafka";
    for topic in [
        "",
        "orders",
        "other-tenant.orders",
        &format!("{}.", t.name),
        &format!("{}./../x", t.name),
        &format!("{}.a b", t.name),
        &format!("{}.{}", t.name, "x".repeat(300)),
    ] {
        let reply = api.put_json(kafka, &t.key, json!({"topic": topic})).await;
        // 403 for a topic of another namespace, 400 for one that is not a topic name.
        assert!(
            [400, 403].contains(&reply.status.as_u16()),
            "{topic:?}: {}",
            reply.body
        );
        assert!(!reply.error_message().is_empty());
    }
    assert_eq!(snapshot(&api, &t).await, before);
}

/// Mutated components (truncations, bit flips, splices, random bytes; a fixed seed, so every
/// run uploads the same 80): each is either refused with a 400 that names the reason or
/// deployed and then answers (or fails) like any function; the node keeps serving throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_components_are_refused_or_contained() {
    let api = server().api();
    let t = api.create_tenant("mutants").await;
    let original = guest("example_hello");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64*: reproducible without a dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let (mut refused, mut deployed) = (0, 0);
    for i in 0..80 {
        let mut bytes = original.clone();
        match i % 4 {
            0 => bytes.truncate((next() as usize) % original.len()),
            1 => {
                for _ in 0..1 + next() % 8 {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] ^= 1 << (next() % 8);
                }
            }
            2 => {
                let from = (next() as usize) % bytes.len();
                let to = (next() as usize) % bytes.len();
                let len = ((next() as usize) % 4096).min(bytes.len() - from.max(to));
                let chunk = bytes[from..from + len].to_vec();
                bytes[to..to + len].copy_from_slice(&chunk);
            }
            _ => {
                let len = 8 + (next() as usize) % 4096;
                bytes = b"\0asm"
                    .iter()
                    .copied()
                    .chain((0..len).map(|_| next() as u8))
                    .collect();
            }
        }
        let name = format!("m{i}");
        let reply = api.deploy(&t, &name, "?timeout_ms=2000", bytes).await;
        match reply.status {
            StatusCode::BAD_REQUEST => {
                assert_eq!(
                    reply.json()["error"]["code"],
                    "invalid_component",
                    "{}",
                    reply.body
                );
                assert!(!reply.error_message().is_empty());
                refused += 1;
            }
            StatusCode::CREATED => {
                let answer = api.invoke(&t.name, &name, "/").await;
                assert!(
                    answer.status == StatusCode::OK
                        || answer.status == StatusCode::INTERNAL_SERVER_ERROR
                        || answer.status == StatusCode::GATEWAY_TIMEOUT,
                    "m{i}: {} {}",
                    answer.status,
                    answer.body
                );
                deployed += 1;
            }
            other => panic!("m{i}: {other} {}", reply.body),
        }
        assert_eq!(api.get("/healthz", None).await.status, StatusCode::OK);
    }
    println!("mutated components: {refused} refused, {deployed} deployed");
    assert!(refused >= 40, "{refused} refused, {deployed} deployed");
    let functions = api.get("/v1/functions", Some(&t.key)).await.json();
    assert_eq!(functions.as_array().unwrap().len(), deployed);
}
