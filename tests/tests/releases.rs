//! Safe releases: calling any version (`@N`) or alias (`@name`), blue/green with a `live` that
//! deploys do not move, weighted and sticky canaries, and a canary that rolls itself back on
//! both nodes of a two-node setup — each scenario on SQLite and on PostgreSQL.

use geyser_e2e::{Api, Backend, TestServer, TestTenant, eventually, guest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

fn server(backend: Backend) -> &'static TestServer {
    static SQLITE: OnceLock<TestServer> = OnceLock::new();
    static POSTGRES: OnceLock<TestServer> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| TestServer::start(backend, |_| {}))
}

/// A second node on the first one's database. It reads routes from the database on every call
/// (`route_cache_ms = 0`), so what it serves is what the store says at that moment.
fn peer(backend: Backend) -> &'static TestServer {
    static SQLITE: OnceLock<TestServer> = OnceLock::new();
    static POSTGRES: OnceLock<TestServer> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| TestServer::join(server(backend), |c| c.http.route_cache_ms = 0))
}

geyser_e2e::on_both_backends!(
    versions_and_aliases_route_calls,
    bad_alias_settings_are_refused_and_change_nothing,
    blue_green_deploys_leave_live_alone_until_shifted,
    a_weighted_canary_takes_its_share_and_sticky_keeps_a_caller,
    cron_triggers_run_the_version_of_their_alias,
    a_slow_canary_rolls_back_on_its_p99,
);

mod two_nodes {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_a_failing_canary_rolls_itself_back_on_both_nodes() {
        a_failing_canary_rolls_itself_back_on_both_nodes(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_failing_canary_rolls_itself_back_on_both_nodes() {
        a_failing_canary_rolls_itself_back_on_both_nodes(Backend::Postgres).await;
    }
}

fn probe() -> Vec<u8> {
    guest("geyser_fixture_probe")
}

/// Adds a version with the same code and `variables`; returns its number.
async fn version_with(api: &Api, t: &TestTenant, variables: Value) -> i64 {
    let reply = api
        .put_json(
            "/v1/functions/probe/config",
            &t.key,
            json!({ "variables": variables }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()["version"].as_i64().unwrap()
}

async fn set_alias(api: &Api, t: &TestTenant, alias: &str, spec: Value) -> Value {
    let reply = api
        .put_json(
            &format!("/v1/functions/probe/aliases/{alias}"),
            &t.key,
            spec,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

/// What `V` is in the version that answered `/fn/{tenant}/{target}`.
async fn served(api: &Api, t: &TestTenant, target: &str) -> String {
    let reply = api.invoke(&t.name, target, "/env?name=V").await;
    assert_eq!(reply.status, StatusCode::OK, "{target}: {}", reply.body);
    reply.body
}

/// A probe with versions 1 (no `V`), 2 (`V=2`); live is 2.
async fn two_versions(api: &Api, prefix: &str) -> TestTenant {
    let t = api.create_tenant(prefix).await;
    assert_eq!(api.deploy_ok(&t, "probe", "", probe()).await, 1);
    assert_eq!(version_with(api, &t, json!({"V": "2"})).await, 2);
    t
}

async fn versions_and_aliases_route_calls(api: Api) {
    let t = two_versions(&api, "routing").await;
    assert_eq!(served(&api, &t, "probe").await, "V=2");
    assert_eq!(served(&api, &t, "probe@1").await, "V unset");
    assert_eq!(served(&api, &t, "probe@2").await, "V=2");
    assert_eq!(served(&api, &t, "probe@live").await, "V=2");

    // Records carry the version that ran.
    let records = api.invocations(&t.key, "probe").await;
    let versions: Vec<i64> = records
        .iter()
        .take(4)
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 2, 2], "{records:?}");

    // A named alias, then `live` moved back by setting it.
    let beta = set_alias(&api, &t, "beta", json!({"version": 1})).await;
    assert_eq!(beta["alias"], "beta");
    assert_eq!(beta["version"], 1);
    assert_eq!(served(&api, &t, "probe@beta").await, "V unset");
    set_alias(&api, &t, "live", json!({"version": 1})).await;
    assert_eq!(served(&api, &t, "probe").await, "V unset");
    let shown = api.get("/v1/functions/probe", Some(&t.key)).await.json();
    assert_eq!(shown["active_version"], 1);

    let list = api
        .get("/v1/functions/probe/aliases", Some(&t.key))
        .await
        .json();
    let names: Vec<(&str, i64)> = list["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["alias"].as_str().unwrap(), a["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(names, vec![("live", 1), ("beta", 1)]);

    // What names nothing is 404, what is not a name is 404 at the gateway too.
    for target in [
        "probe@3",
        "probe@gamma",
        "probe@0",
        "probe@Beta",
        "nothing@1",
    ] {
        let reply = api.invoke(&t.name, target, "/").await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{target}: {}",
            reply.body
        );
    }
    let removed = api
        .send(
            Method::DELETE,
            "/v1/functions/probe/aliases/beta",
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let reply = api.invoke(&t.name, "probe@beta", "/").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // Private versions keep their key rule at every selector.
    let v3 = api.deploy_ok(&t, "probe", "?public=false", probe()).await;
    assert_eq!(v3, 3);
    let anonymous = api.invoke(&t.name, "probe@3", "/").await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.body
    );
    let owner = api
        .send(
            Method::GET,
            &format!("/fn/{}/probe@3/env?name=V", t.name),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    assert_eq!(
        served(&api, &t, "probe@1").await,
        "V unset",
        "v1 stays public"
    );
}

async fn bad_alias_settings_are_refused_and_change_nothing(api: Api) {
    let t = two_versions(&api, "badalias").await;
    let put = |alias: &'static str, body: Value| {
        let api = &api;
        let key = t.key.clone();
        async move {
            api.put_json(&format!("/v1/functions/probe/aliases/{alias}"), &key, body)
                .await
        }
    };
    let cases = [
        (
            "beta",
            json!({"version": 9}),
            StatusCode::NOT_FOUND,
            "no version 9",
        ),
        (
            "beta",
            json!({"version": 1, "canary": {"version": 7, "weight": 0.5}}),
            StatusCode::NOT_FOUND,
            "no version 7",
        ),
        (
            "beta",
            json!({"version": 1, "canary": {"version": 2, "weight": 1.5}}),
            StatusCode::BAD_REQUEST,
            "canary.weight",
        ),
        (
            "beta",
            json!({"version": 1, "canary": {"version": 1, "weight": 0.5}}),
            StatusCode::BAD_REQUEST,
            "canary.version",
        ),
        (
            "beta",
            json!({"version": 1, "canary": {"version": 2, "weight": 0.5, "rollback_on": {"error_rate": 2}}}),
            StatusCode::BAD_REQUEST,
            "rollback_on.error_rate",
        ),
        (
            "beta",
            json!({"version": 1, "weight": 0.5}),
            StatusCode::BAD_REQUEST,
            "unknown field `weight`",
        ),
        (
            "beta",
            json!({"version": 1, "auto_promote": false}),
            StatusCode::BAD_REQUEST,
            "auto_promote",
        ),
        (
            "42",
            json!({"version": 1}),
            StatusCode::BAD_REQUEST,
            "alias",
        ),
    ];
    for (alias, body, status, says) in cases {
        let reply = put(alias, body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(reply.body.contains(says), "{body}: {}", reply.body);
    }
    let not_json = api
        .send(
            Method::PUT,
            "/v1/functions/probe/aliases/beta",
            Some(&t.key),
            Some(b"{".to_vec()),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let unknown_function = api
        .put_json(
            "/v1/functions/nothing/aliases/beta",
            &t.key,
            json!({"version": 1}),
        )
        .await;
    assert_eq!(unknown_function.status, StatusCode::NOT_FOUND);
    let remove_live = api
        .send(
            Method::DELETE,
            "/v1/functions/probe/aliases/live",
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(
        remove_live.status,
        StatusCode::BAD_REQUEST,
        "{}",
        remove_live.body
    );
    let promote_nothing = api
        .post_json(
            "/v1/functions/probe/aliases/live/promote",
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(
        promote_nothing.status,
        StatusCode::BAD_REQUEST,
        "{}",
        promote_nothing.body
    );
    // Another tenant's key finds no such function.
    let other = api.create_tenant("badalias-other").await;
    let foreign = api
        .get("/v1/functions/probe/aliases", Some(&other.key))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);

    // Nothing was half-applied: only live, still at version 2, with no canary.
    let list = api
        .get("/v1/functions/probe/aliases", Some(&t.key))
        .await
        .json();
    assert_eq!(list["aliases"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["aliases"][0]["version"], 2);
    assert!(list["aliases"][0].get("canary").is_none(), "{list}");
    assert_eq!(served(&api, &t, "probe").await, "V=2");
}

async fn blue_green_deploys_leave_live_alone_until_shifted(api: Api) {
    let t = two_versions(&api, "bluegreen").await;
    let live = set_alias(
        &api,
        &t,
        "live",
        json!({"version": 2, "auto_promote": false}),
    )
    .await;
    assert_eq!(live["auto_promote"], false);

    let reply = api.deploy(&t, "probe", "", probe()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let deployed = reply.json();
    assert_eq!(deployed["version"], 3);
    assert_eq!(deployed["live"], false);
    assert_eq!(deployed["url"], format!("/fn/{}/probe@3", t.name));
    // A configuration change is a version too, and does not go live either.
    assert_eq!(version_with(&api, &t, json!({"V": "4"})).await, 4);

    assert_eq!(served(&api, &t, "probe").await, "V=2", "live stays on 2");
    assert_eq!(
        served(&api, &t, "probe@4").await,
        "V=4",
        "the new version answers at @4"
    );

    // Shift: live goes to 4, and a shift that leaves auto_promote out keeps it off.
    let live = set_alias(&api, &t, "live", json!({"version": 4})).await;
    assert_eq!(live["version"], 4);
    assert_eq!(live["auto_promote"], false);
    assert_eq!(served(&api, &t, "probe").await, "V=4");
    assert_eq!(api.deploy_ok(&t, "probe", "", probe()).await, 5);
    assert_eq!(served(&api, &t, "probe").await, "V=4");
    let events = api
        .get("/v1/functions/probe/aliases/live/events", Some(&t.key))
        .await
        .json();
    let kinds: Vec<(&str, i64)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("set", 2), ("set", 4)]);
}

async fn a_weighted_canary_takes_its_share_and_sticky_keeps_a_caller(api: Api) {
    let t = two_versions(&api, "canary").await;
    set_alias(
        &api,
        &t,
        "live",
        json!({"version": 1, "canary": {"version": 2, "weight": 0.25}}),
    )
    .await;
    let mut canary = 0;
    for _ in 0..400 {
        if served(&api, &t, "probe").await == "V=2" {
            canary += 1;
        }
    }
    // Binomial(400, 0.25): mean 100, standard deviation 8.66; five of them either side.
    assert!((57..=143).contains(&canary), "canary took {canary} of 400");

    set_alias(
        &api,
        &t,
        "live",
        json!({"version": 1, "canary": {"version": 2, "weight": 0.5, "sticky": "X-User",
               "rollback_on": {"error_rate": 1.0}}}),
    )
    .await;
    let mut per_version = [0, 0];
    let mut on_v2 = canary;
    for user in 0..20 {
        let mut seen = Vec::new();
        for _ in 0..5 {
            let reply = api
                .http
                .get(format!("{}/fn/{}/probe/env?name=V", api.base, t.name))
                .header("x-user", format!("user-{user}"))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), StatusCode::OK);
            seen.push(reply.text().await.unwrap());
        }
        seen.dedup();
        assert_eq!(
            seen.len(),
            1,
            "user-{user} moved between versions: {seen:?}"
        );
        per_version[usize::from(seen[0] == "V=2")] += 1;
        on_v2 += 5 * usize::from(seen[0] == "V=2");
    }
    assert!(
        per_version[0] > 0 && per_version[1] > 0,
        "20 users all on one side: {per_version:?}"
    );
    // The watched canary's window, in the node's metrics by version.
    let series = format!(
        "geyser_canary_window_calls{{tenant=\"{}\",function=\"probe\",alias=\"live\",version=\"2\",role=\"canary\"}}",
        t.name
    );
    let calls = eventually("the canary's window", Duration::from_secs(10), || {
        let (api, series) = (&api, &series);
        let expected = (5 * per_version[1]) as f64;
        async move {
            api.metric_if_present(series)
                .await
                .filter(|n| *n == expected)
        }
    })
    .await;
    assert_eq!(calls, (5 * per_version[1]) as f64);

    // Promote: the canary becomes the version, and no canary is left.
    let promoted = api
        .post_json(
            "/v1/functions/probe/aliases/live/promote",
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.json()["version"], 2);
    assert!(promoted.json().get("canary").is_none());
    for _ in 0..20 {
        assert_eq!(served(&api, &t, "probe").await, "V=2");
    }
    on_v2 += 20;

    // The statement shows what each version took and cost.
    let statement = api.statement(&t.key).await;
    let versions: Vec<(i64, u64, f64)> = statement["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["function"] == "probe")
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["requests"].as_u64().unwrap(),
                v["cost_usd"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions.len(), 2, "{statement}");
    assert_eq!(versions[0].0, 1);
    assert_eq!(versions[1].0, 2);
    assert_eq!(versions[0].1 as usize, 520 - on_v2, "{statement}");
    assert_eq!(versions[1].1 as usize, on_v2, "{statement}");
    assert!(versions[1].2 > 0.0, "{statement}");
}

async fn a_failing_canary_rolls_itself_back_on_both_nodes(backend: Backend) {
    let api = server(backend).api();
    let other = peer(backend).api();
    let t = api.create_tenant("rollback").await;
    assert_eq!(api.deploy_ok(&t, "probe", "", probe()).await, 1);
    assert_eq!(version_with(&api, &t, json!({"PROBE_TRAP": "1"})).await, 2);
    set_alias(
        &api,
        &t,
        "live",
        json!({"version": 1, "canary": {"version": 2, "weight": 0.5,
               "rollback_on": {"error_rate": 0.2, "min_requests": 5}}}),
    )
    .await;

    // The second node serves the canary too, below its own rollback threshold.
    for _ in 0..4 {
        let reply = other.invoke(&t.name, "probe", "/flaky").await;
        assert!(
            [StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR].contains(&reply.status),
            "{}",
            reply.body
        );
    }

    // The first node sees the canary trap until it takes its share back.
    let failed = Cell::new(0);
    let calls = Cell::new(0);
    let events = eventually("the canary rolled back", Duration::from_secs(60), || {
        let (api, t, failed, calls) = (&api, &t, &failed, &calls);
        async move {
            let reply = api.invoke(&t.name, "probe", "/flaky").await;
            calls.set(calls.get() + 1);
            match reply.status {
                StatusCode::OK => assert_eq!(reply.body, "steady"),
                StatusCode::INTERNAL_SERVER_ERROR => failed.set(failed.get() + 1),
                other => panic!("{other}: {}", reply.body),
            }
            let events = api
                .get("/v1/functions/probe/aliases/live/events", Some(&t.key))
                .await
                .json();
            let rolled_back = events["events"]
                .as_array()?
                .iter()
                .any(|e| e["kind"] == "rolled-back");
            rolled_back.then_some(events)
        }
    })
    .await;
    let (failed, calls) = (failed.get(), calls.get());
    assert!(
        failed >= 5,
        "tripped after {failed} failures in {calls} calls"
    );
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "rolled-back");
    assert_eq!(last["canary_version"], 2);
    assert_eq!(last["canary_weight"], 0.0);
    assert!(
        last["detail"].as_str().unwrap().starts_with("error rate"),
        "{last}"
    );
    let live = api
        .get("/v1/functions/probe/aliases/live", Some(&t.key))
        .await
        .json();
    assert_eq!(live["canary"]["weight"], 0.0, "{live}");

    // Every later call, on either node, is served by the stable version.
    for _ in 0..40 {
        for node in [&api, &other] {
            let reply = node.invoke(&t.name, "probe", "/flaky").await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            assert_eq!(reply.body, "steady");
        }
    }
    // The tenant sees why, in its logs and in the node's metric.
    let logs = eventually("the rollback log line", Duration::from_secs(10), || {
        let (api, t) = (&api, &t);
        async move {
            let reply = api.get("/v1/functions/probe/logs", Some(&t.key)).await;
            reply
                .body
                .contains("canary version 2 of alias live rolled back")
                .then_some(reply.body)
        }
    })
    .await;
    assert!(logs.contains("error rate"), "{logs}");
    let series = format!(
        "geyser_canary_rollbacks_total{{tenant=\"{}\",function=\"probe\",alias=\"live\"}}",
        t.name
    );
    assert_eq!(api.metric(&series).await, 1.0);
}

async fn cron_triggers_run_the_version_of_their_alias(api: Api) {
    let t = api.create_tenant("cronalias").await;
    let ticker = guest("geyser_fixture_ticker");
    assert_eq!(api.deploy_ok(&t, "tick", "", ticker.clone()).await, 1);
    assert_eq!(api.deploy_ok(&t, "tick", "", ticker).await, 2);
    let reply = api
        .put_json(
            "/v1/functions/tick/aliases/stable",
            &t.key,
            json!({"version": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for (alias, status) in [
        ("nope", StatusCode::NOT_FOUND),
        ("42", StatusCode::BAD_REQUEST),
    ] {
        let reply = api
            .put_json(
                "/v1/functions/tick/triggers/cron",
                &t.key,
                json!({"name": "nightly", "expression": "0 0 3 * * *", "alias": alias}),
            )
            .await;
        assert_eq!(reply.status, status, "{alias}: {}", reply.body);
    }
    let set = api
        .put_json(
            "/v1/functions/tick/triggers/cron",
            &t.key,
            json!({"name": "nightly", "expression": "0 0 3 * * *", "alias": "stable"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
    assert_eq!(set.json()["alias"], "stable");
    let ran = api
        .post_json(
            "/v1/functions/tick/triggers/cron/nightly/run",
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    let id = ran.json()["invocation"].as_str().unwrap().to_owned();
    let record = api.invocation(&t.key, "tick", &id).await;
    assert_eq!(record["version"], 1, "{record}");
    assert_eq!(record["trigger"], "manual", "{record}");

    // A manual tick names its version or alias with `?at=`.
    for (at, version) in [("", 2), ("?at=1", 1), ("?at=stable", 1), ("?at=live", 2)] {
        let ran = api
            .post_json(&format!("/v1/functions/tick/ticks{at}"), &t.key, json!({}))
            .await;
        assert_eq!(ran.status, StatusCode::OK, "{at}: {}", ran.body);
        let id = ran.json()["invocation"].as_str().unwrap().to_owned();
        let record = api.invocation(&t.key, "tick", &id).await;
        assert_eq!(record["version"], version, "{at}: {record}");
    }
    for (at, status) in [
        ("nope", StatusCode::NOT_FOUND),
        ("0", StatusCode::BAD_REQUEST),
    ] {
        let reply = api
            .post_json(
                &format!("/v1/functions/tick/ticks?at={at}"),
                &t.key,
                json!({}),
            )
            .await;
        assert_eq!(reply.status, status, "{at}: {}", reply.body);
    }
}

async fn a_slow_canary_rolls_back_on_its_p99(api: Api) {
    let t = api.create_tenant("slowcanary").await;
    assert_eq!(api.deploy_ok(&t, "probe", "", probe()).await, 1);
    assert_eq!(
        version_with(&api, &t, json!({"PROBE_SLOW_MS": "60"})).await,
        2
    );
    set_alias(
        &api,
        &t,
        "beta",
        json!({"version": 1, "canary": {"version": 2, "weight": 0.5,
               "rollback_on": {"p99_ms": 30, "min_requests": 4}}}),
    )
    .await;
    let events = eventually(
        "the slow canary rolled back",
        Duration::from_secs(60),
        || {
            let (api, t) = (&api, &t);
            async move {
                let reply = api.invoke(&t.name, "probe@beta", "/flaky").await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                let events = api
                    .get("/v1/functions/probe/aliases/beta/events", Some(&t.key))
                    .await
                    .json();
                events["events"]
                    .as_array()?
                    .iter()
                    .find(|e| e["kind"] == "rolled-back")
                    .cloned()
            }
        },
    )
    .await;
    let detail = events["detail"].as_str().unwrap();
    assert!(detail.starts_with("p99 "), "{detail}");
    assert!(detail.contains("above 30 ms"), "{detail}");
    // The rollback touched only beta: live still runs version 2 (a config change went live).
    let live = api
        .get("/v1/functions/probe/aliases/live", Some(&t.key))
        .await
        .json();
    assert_eq!(live["version"], 2, "{live}");
}
