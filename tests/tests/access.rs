//! Access: the authorization matrix over every endpoint of the router, API keys (create, list,
//! revoke), disabled tenants — on SQLite, and keys and disabling also on PostgreSQL.

use geyser_e2e::{Api, Backend, TestServer, TestTenant, guest};
use geyser_http::{Access, endpoints};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

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

/// The credentials of the matrix's columns, in order.
const COLUMNS: [&str; 6] = ["none", "malformed", "revoked", "other", "own", "admin"];

/// Expected status per column for every endpoint (`METHOD path` as the router declares it);
/// a JSON body missing required fields is 422.
/// A new endpoint without a row here fails the test. Paths are filled with the own tenant,
/// its private function `f`, a key id of its revoked key, and ids that do not exist.
fn expected() -> BTreeMap<&'static str, [u16; 6]> {
    BTreeMap::from([
        ("GET /healthz", [200, 200, 200, 200, 200, 200]),
        ("GET /readyz", [200, 200, 200, 200, 200, 200]),
        ("GET /metrics", [401, 401, 401, 403, 403, 200]),
        ("GET /v1/metrics", [401, 401, 401, 403, 200, 200]),
        ("GET /ui", [200, 200, 200, 200, 200, 200]),
        ("GET /ui/{asset}", [200, 200, 200, 200, 200, 200]),
        ("GET /v1/openapi.json", [200, 200, 200, 200, 200, 200]),
        ("POST /v1/tenants", [401, 401, 401, 403, 403, 422]),
        ("GET /v1/tenants", [401, 401, 401, 403, 403, 200]),
        (
            "POST /v1/tenants/{tenant}/disable",
            [401, 401, 401, 403, 403, 200],
        ),
        // The own tenant is disabled by the row above until the admin enables it here.
        (
            "POST /v1/tenants/{tenant}/enable",
            [401, 401, 401, 403, 403, 200],
        ),
        ("GET /v1/keys", [401, 401, 401, 403, 200, 200]),
        ("POST /v1/keys", [401, 401, 401, 403, 201, 201]),
        ("DELETE /v1/keys/{id}", [401, 401, 401, 403, 200, 200]),
        ("GET /v1/quotas", [401, 401, 401, 403, 200, 200]),
        // `{}`: back to the defaults.
        ("PUT /v1/quotas", [401, 401, 401, 403, 403, 200]),
        ("GET /v1/functions", [401, 401, 401, 200, 200, 403]),
        ("GET /v1/functions/{name}", [401, 401, 401, 404, 200, 403]),
        ("PUT /v1/functions/{name}", [401, 401, 401, 400, 400, 403]),
        (
            "DELETE /v1/functions/{name}",
            [401, 401, 401, 404, 404, 403],
        ),
        (
            "GET /v1/functions/{name}/versions/{version}/artifact",
            [401, 401, 401, 404, 200, 403],
        ),
        (
            "POST /v1/functions/{name}/rollback",
            [401, 401, 401, 422, 422, 403],
        ),
        // `{alias}` is `live`, which every function has; `{}` is not an alias setting (400
        // before anything is looked up), and `live` cannot be removed.
        (
            "GET /v1/functions/{name}/aliases",
            [401, 401, 401, 404, 200, 403],
        ),
        (
            "GET /v1/functions/{name}/aliases/{alias}",
            [401, 401, 401, 404, 200, 403],
        ),
        (
            "PUT /v1/functions/{name}/aliases/{alias}",
            [401, 401, 401, 400, 400, 403],
        ),
        (
            "DELETE /v1/functions/{name}/aliases/{alias}",
            [401, 401, 401, 400, 400, 403],
        ),
        // `live` of `f` has no canary to promote.
        (
            "POST /v1/functions/{name}/aliases/{alias}/promote",
            [401, 401, 401, 404, 400, 403],
        ),
        (
            "GET /v1/functions/{name}/aliases/{alias}/events",
            [401, 401, 401, 404, 200, 403],
        ),
        // `{}` changes nothing but adds a version with the same artifact and configuration.
        (
            "GET /v1/functions/{name}/config",
            [401, 401, 401, 404, 200, 403],
        ),
        (
            "PUT /v1/functions/{name}/config",
            [401, 401, 401, 404, 201, 403],
        ),
        // Logs and records stay readable after a delete, so an unknown name reads as empty:
        // the other tenant sees its own (empty) history of a function of that name.
        (
            "GET /v1/functions/{name}/logs",
            [401, 401, 401, 200, 200, 403],
        ),
        (
            "GET /v1/functions/{name}/logs/stream",
            [401, 401, 401, 200, 200, 403],
        ),
        (
            "GET /v1/functions/{name}/invocations",
            [401, 401, 401, 200, 200, 403],
        ),
        // `{id}` (a key id) is not an invocation id at all.
        (
            "GET /v1/functions/{name}/invocations/{id}",
            [401, 401, 401, 400, 400, 403],
        ),
        (
            "POST /v1/functions/{name}/events",
            [401, 401, 401, 404, 400, 403],
        ),
        (
            "POST /v1/functions/{name}/ticks",
            [401, 401, 401, 404, 400, 403],
        ),
        // `{}`: every setting back to the node's defaults.
        (
            "GET /v1/functions/{name}/async",
            [401, 401, 401, 404, 200, 403],
        ),
        (
            "PUT /v1/functions/{name}/async",
            [401, 401, 401, 404, 200, 403],
        ),
        // `{id}` is not an asynchronous invocation's id.
        ("GET /v1/invocations/{id}", [401, 401, 401, 404, 404, 403]),
        // No triggers bound under that name in the other tenant's namespace: an empty list.
        (
            "GET /v1/functions/{name}/triggers/cron",
            [401, 401, 401, 200, 200, 403],
        ),
        (
            "PUT /v1/functions/{name}/triggers/cron",
            [401, 401, 401, 422, 422, 403],
        ),
        (
            "DELETE /v1/functions/{name}/triggers/cron/{schedule}",
            [401, 401, 401, 404, 404, 403],
        ),
        (
            "GET /v1/functions/{name}/triggers/cron/{schedule}/runs",
            [401, 401, 401, 404, 404, 403],
        ),
        (
            "POST /v1/functions/{name}/triggers/cron/{schedule}/run",
            [401, 401, 401, 404, 400, 403],
        ),
        (
            "GET /v1/functions/{name}/triggers/kafka",
            [401, 401, 401, 200, 200, 403],
        ),
        (
            "PUT /v1/functions/{name}/triggers/kafka",
            [401, 401, 401, 422, 422, 403],
        ),
        (
            "DELETE /v1/functions/{name}/triggers/kafka/{topic}",
            [401, 401, 401, 404, 404, 403],
        ),
        ("GET /v1/usage", [401, 401, 401, 403, 200, 200]),
        ("GET /v1/usage/series", [401, 401, 401, 403, 200, 200]),
        ("GET /v1/billing/statement", [401, 401, 401, 403, 200, 200]),
        // No budget set: 404.
        ("GET /v1/billing/budget", [401, 401, 401, 403, 404, 404]),
        ("PUT /v1/billing/budget", [401, 401, 401, 403, 422, 422]),
        ("DELETE /v1/billing/budget", [401, 401, 401, 403, 404, 404]),
        // The function is private: only its owner's key reaches it; other valid keys are
        // told it does not exist.
        ("ANY /fn/{*rest}", [401, 401, 401, 404, 200, 404]),
    ])
}

struct Fixture {
    own: TestTenant,
    other: TestTenant,
    revoked_key: String,
    revoked_id: i64,
}

async fn fixture(api: &Api) -> Fixture {
    let own = api.create_tenant("matrix").await;
    let other = api.create_tenant("matrix-other").await;
    api.deploy_ok(&own, "f", "?public=false", hello()).await;
    let created = api
        .post_json("/v1/keys", &own.key, json!({"name": "old"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = created.json();
    let revoked_key = created["api_key"].as_str().unwrap().to_owned();
    let revoked_id = created["id"].as_i64().unwrap();
    let reply = api
        .send(
            Method::DELETE,
            &format!("/v1/keys/{revoked_id}"),
            Some(&own.key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    Fixture {
        own,
        other,
        revoked_key,
        revoked_id,
    }
}

/// The concrete request of an endpoint: its path filled in, and a body that is harmless
/// (invalid for a change, or a change the next rows undo).
fn request_for(method: &str, path: &str, access: Access, f: &Fixture) -> (Method, String) {
    let mut concrete = path
        .replace("{tenant}", &f.own.name)
        .replace("{name}", if method == "DELETE" { "nothing" } else { "f" })
        .replace("{id}", &f.revoked_id.to_string())
        .replace("{schedule}", "999999")
        .replace("{topic}", "nothing")
        .replace("{alias}", "live")
        .replace("{version}", "1")
        .replace("{asset}", "app.js")
        .replace("{*rest}", &format!("{}/f/", f.own.name));
    if access == Access::TenantOrAdmin || path == "/v1/quotas" {
        concrete.push_str(&format!("?tenant={}", f.own.name));
    }
    let method = match method {
        "ANY" => Method::GET,
        other => Method::from_bytes(other.as_bytes()).unwrap(),
    };
    (method, concrete)
}

/// Sends a request, with `{}` as a JSON body if `with_body`.
async fn send(
    api: &Api,
    method: Method,
    path: &str,
    key: Option<&str>,
    with_body: bool,
) -> geyser_e2e::Reply {
    let mut request = api.http.request(method, format!("{}{path}", api.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if with_body {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    let response = request.send().await.expect("request reached the server");
    let status = response.status();
    let headers = response.headers().clone();
    // A live log tail that was let in never ends: its headers are the answer.
    let streaming = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body = if streaming {
        String::new()
    } else {
        response.text().await.expect("body")
    };
    geyser_e2e::Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_covers_every_endpoint() {
    let api = server(Backend::Sqlite).api();
    let f = fixture(&api).await;
    let malformed = "not-a-key";
    let keys: [Option<&str>; 6] = [
        None,
        Some(malformed),
        Some(&f.revoked_key),
        Some(&f.other.key),
        Some(&f.own.key),
        Some(&api.admin_key),
    ];
    let expected = expected();
    let routes = endpoints();
    let declared: Vec<String> = routes
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    let missing: Vec<&String> = declared
        .iter()
        .filter(|d| !expected.contains_key(d.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the matrix: {missing:?}"
    );
    let stale: Vec<&&str> = expected
        .keys()
        .filter(|k| !declared.iter().any(|d| d == *k))
        .collect();
    assert!(stale.is_empty(), "matrix rows for no endpoint: {stale:?}");

    let mut failures = Vec::new();
    let mut actual_table = String::new();
    for endpoint in &routes {
        let row = format!("{} {}", endpoint.method, endpoint.path);
        let (method, path) = request_for(endpoint.method, endpoint.path, endpoint.access, &f);
        let with_body = matches!(method, Method::PUT | Method::POST);
        let mut actual = [0u16; 6];
        for (i, key) in keys.iter().enumerate() {
            let reply = send(&api, method.clone(), &path, *key, with_body).await;
            actual[i] = reply.status.as_u16();
            if reply.status.is_server_error() {
                failures.push(format!(
                    "{row} [{}]: {} {}",
                    COLUMNS[i], actual[i], reply.body
                ));
            }
            if matches!(actual[i], 401 | 403) && !reply.body.is_empty() {
                // Every refusal says why, in the API's error shape.
                let message = reply.json()["error"]["message"].clone();
                assert!(
                    message.is_string(),
                    "{row} [{}]: {}",
                    COLUMNS[i],
                    reply.body
                );
            }
        }
        actual_table.push_str(&format!("(\"{row}\", {actual:?}),\n"));
        if expected[row.as_str()] != actual {
            failures.push(format!(
                "{row}: expected {:?}, got {actual:?} (columns {COLUMNS:?})",
                expected[row.as_str()]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nactual matrix:\n{actual_table}",
        failures.join("\n")
    );

    // The refusals name their reason.
    let reply = api.get("/v1/functions", Some(malformed)).await;
    assert!(
        reply.error_message().contains("malformed API key"),
        "{}",
        reply.body
    );
    let reply = api.get("/v1/functions", Some(&f.revoked_key)).await;
    assert!(reply.error_message().contains("revoked"), "{}", reply.body);
    let unknown = format!("gy_{}", "0".repeat(64));
    let reply = api.get("/v1/functions", Some(&unknown)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_message(), "invalid API key");
}

geyser_e2e::on_both_backends!(
    keys_are_created_listed_by_prefix_and_revoked,
    a_disabled_tenant_stops_answering_and_keeps_its_data,
);

async fn keys_are_created_listed_by_prefix_and_revoked(api: Api) {
    let t = api.create_tenant("keys").await;
    assert!(t.key.starts_with("gy_") && t.key.len() == 67, "{}", t.key);
    let created = api
        .post_json("/v1/keys", &t.key, json!({"name": "ci"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = created.json();
    let second = created["api_key"].as_str().unwrap().to_owned();
    assert!(second.starts_with("gy_") && second != t.key);
    assert_eq!(created["prefix"], &second[..11]);
    assert_eq!(created["name"], "ci");

    // The list shows prefixes, never a secret.
    let list = api.get("/v1/keys", Some(&second)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(!list.body.contains(&t.key[11..]) && !list.body.contains(&second[11..]));
    let keys: Vec<Value> = serde_json::from_str(&list.body).unwrap();
    let prefixes: Vec<&str> = keys.iter().map(|k| k["prefix"].as_str().unwrap()).collect();
    assert_eq!(prefixes, [&t.key[..11], &second[..11]]);
    assert!(keys.iter().all(|k| k["revoked"] == false));

    // Both keys work; revoking the first locks it out at once and leaves the second working.
    assert_eq!(
        api.get("/v1/functions", Some(&t.key)).await.status,
        StatusCode::OK
    );
    let first_id = keys[0]["id"].as_i64().unwrap();
    let reply = api
        .send(
            Method::DELETE,
            &format!("/v1/keys/{first_id}"),
            Some(&second),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["revoked"], true);
    let reply = api.get("/v1/functions", Some(&t.key)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_message(), "this API key was revoked");
    assert_eq!(
        api.get("/v1/functions", Some(&second)).await.status,
        StatusCode::OK
    );

    // Another tenant cannot see or revoke these keys; the admin can list them.
    let other = api.create_tenant("keys-other").await;
    let second_id = created["id"].as_i64().unwrap();
    let reply = api
        .send(
            Method::DELETE,
            &format!("/v1/keys/{second_id}"),
            Some(&other.key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(
        api.get("/v1/functions", Some(&second)).await.status,
        StatusCode::OK
    );
    let reply = api
        .get(&format!("/v1/keys?tenant={}", t.name), Some(&other.key))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api
        .get(&format!("/v1/keys?tenant={}", t.name), Some(&api.admin_key))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()[0]["revoked"], true);

    // Bad input changes nothing.
    let long = "x".repeat(65);
    let reply = api
        .post_json("/v1/keys", &second, json!({"name": long}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = api
        .send(
            Method::POST,
            "/v1/keys",
            Some(&second),
            Some(b"{nope".to_vec()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = api
        .send(Method::DELETE, "/v1/keys/abc", Some(&second), None)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let list = api.get("/v1/keys", Some(&second)).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

async fn a_disabled_tenant_stops_answering_and_keeps_its_data(api: Api) {
    let t = api.create_tenant("disable").await;
    api.deploy_ok(&t, "hello", "", hello()).await;
    assert_eq!(
        api.invoke(&t.name, "hello", "/").await.status,
        StatusCode::OK
    );
    api.usage_when(&t.key, 1).await;

    // A tenant cannot disable itself (or anyone).
    let path = format!("/v1/tenants/{}/disable", t.name);
    let reply = api.send(Method::POST, &path, Some(&t.key), None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let reply = api
        .send(Method::POST, &path, Some(&api.admin_key), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["disabled"], true);

    // Its functions stop answering at once on this node (the route cache is dropped), and
    // every trigger of it is refused; its keys are refused.
    let reply = api.invoke(&t.name, "hello", "/").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "tenant_disabled");
    let reply = api.get("/v1/functions", Some(&t.key)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["error"]["code"], "tenant_disabled");
    let tenants = api.get("/v1/tenants", Some(&api.admin_key)).await.json();
    let listed = tenants
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == t.name.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["disabled"], true);
    // The admin still reads its usage: the data stays.
    let reply = api
        .get(
            &format!("/v1/usage?tenant={}", t.name),
            Some(&api.admin_key),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["totals"]["invocations"], 1, "{}", reply.body);

    let path = format!("/v1/tenants/{}/enable", t.name);
    let reply = api
        .send(Method::POST, &path, Some(&api.admin_key), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["disabled"], false);
    assert_eq!(
        api.invoke(&t.name, "hello", "/").await.status,
        StatusCode::OK
    );
    let functions = api.get("/v1/functions", Some(&t.key)).await.json();
    assert_eq!(functions[0]["name"], "hello");

    let reply = api
        .send(
            Method::POST,
            "/v1/tenants/no-such-tenant/disable",
            Some(&api.admin_key),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

/// `/v1/openapi.json` describes exactly the router's management endpoints, each with the
/// access the router declares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_router() {
    let api = server(Backend::Sqlite).api();
    let reply = api.get("/v1/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let access = operation["x-geyser-access"].as_str().unwrap_or("missing");
            documented.push(format!("{} {path} {access}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut routed: Vec<String> = endpoints()
        .iter()
        .filter(|e| e.access != Access::Gateway)
        .map(|e| {
            let access = match e.access {
                Access::Public => "public",
                Access::Admin => "admin",
                Access::Tenant => "tenant",
                Access::TenantOrAdmin => "tenant-or-admin",
                Access::Gateway => unreachable!(),
            };
            format!("{} {} {access}", e.method, e.path)
        })
        .collect();
    routed.sort();
    assert_eq!(documented, routed);
}
