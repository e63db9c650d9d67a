//! Reading a function's logs: the latest lines with their cursor and RFC 3339 time, filtered by
//! invocation and by outcome; the live tail (server-sent events) delivers a line logged after it
//! opened, resumes after `Last-Event-ID`, and is bounded per tenant; one invocation's record
//! comes with its lines.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use geyser_e2e::{Api, Backend, TestServer, TestTenant, guest};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

fn invocation_of(reply: &geyser_e2e::Reply) -> String {
    reply.headers["x-geyser-invocation"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn logs(api: &Api, t: &TestTenant, query: &str) -> Vec<Value> {
    let reply = api
        .get(&format!("/v1/functions/probe/logs?{query}"), Some(&t.key))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json().as_array().unwrap().clone()
}

async fn tail(api: &Api, t: &TestTenant, query: &str, last: Option<&str>) -> reqwest::Response {
    let mut request = api
        .http
        .get(format!(
            "{}/v1/functions/probe/logs/stream?{query}",
            api.base
        ))
        .bearer_auth(&t.key);
    if let Some(last) = last {
        request = request.header("last-event-id", last);
    }
    request.send().await.unwrap()
}

/// The next `log` event of a tail (20 s at most).
async fn next_line(
    events: &mut (
             impl futures::Stream<Item = Result<eventsource_stream::Event, impl std::fmt::Debug>> + Unpin
         ),
) -> (String, Value) {
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let event = events.next().await.expect("the tail ended").unwrap();
            if event.event == "log" {
                return event;
            }
        }
    })
    .await
    .expect("a log event within 20 s");
    (event.id, serde_json::from_str(&event.data).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_filter_tail_and_resume_on_sqlite() {
    logs_filter_tail_and_resume(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_filter_tail_and_resume_on_postgres() {
    logs_filter_tail_and_resume(Backend::Postgres).await;
}

async fn logs_filter_tail_and_resume(backend: Backend) {
    let server = TestServer::start(backend, |_| {});
    let api = server.api();
    let t = api.create_tenant("logs").await;
    api.deploy_ok(&t, "probe", "", guest("geyser_fixture_probe"))
        .await;
    let first = api.invoke(&t.name, "probe", "/print?text=first").await;
    assert_eq!(first.status, StatusCode::OK);
    let trapped = api.invoke(&t.name, "probe", "/trap").await;
    assert_eq!(trapped.status, StatusCode::INTERNAL_SERVER_ERROR);
    let second = api.invoke(&t.name, "probe", "/print?text=second").await;
    let (first_id, second_id) = (invocation_of(&first), invocation_of(&second));

    // The latest lines, oldest first, each with a growing cursor and an RFC 3339 time.
    let all = logs(&api, &t, "").await;
    let messages: Vec<&str> = all.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(messages.first(), Some(&"first"), "{all:?}");
    assert_eq!(messages.last(), Some(&"second"), "{all:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("probe was asked to trap")),
        "{all:?}"
    );
    let ids: Vec<i64> = all.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for line in &all {
        let at = chrono::DateTime::parse_from_rfc3339(line["at"].as_str().unwrap()).unwrap();
        assert_eq!(at.timestamp_millis(), line["at_ms"].as_i64().unwrap());
    }

    // Filters: one invocation; the invocations that trapped; after a cursor.
    let only_first = logs(&api, &t, &format!("invocation={first_id}")).await;
    assert_eq!(only_first.len(), 1, "{only_first:?}");
    assert_eq!(only_first[0]["message"], "first");
    let traps = logs(&api, &t, "outcome=trap").await;
    assert!(!traps.is_empty());
    let trap_id = traps[0]["invocation"].as_str().unwrap();
    assert!(trap_id != first_id && trap_id != second_id);
    assert!(
        traps.iter().all(|l| l["invocation"] == trap_id),
        "{traps:?}"
    );
    assert!(
        traps
            .iter()
            .any(|l| l["message"].as_str().unwrap().contains("asked to trap")),
        "{traps:?}"
    );
    let oks = logs(&api, &t, "outcome=ok").await;
    let ok_messages: Vec<&str> = oks.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(ok_messages, ["first", "second"]);
    let after = logs(&api, &t, &format!("after={}&limit=1", ids[0])).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"].as_i64(), Some(ids[1]));
    // Bad filters are refused with the reason.
    for (query, needle) in [
        ("outcome=fine", "outcome"),
        ("invocation=nope", "invocation id"),
    ] {
        let reply = api
            .get(&format!("/v1/functions/probe/logs?{query}"), Some(&t.key))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(reply.body.contains(needle), "{query}: {}", reply.body);
    }

    // One invocation's record with its lines.
    let detail = api
        .get(
            &format!("/v1/functions/probe/invocations/{second_id}"),
            Some(&t.key),
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let detail = detail.json();
    assert_eq!(detail["id"], second_id.as_str());
    assert_eq!(detail["outcome"], "ok");
    assert_eq!(detail["http_status"], 200);
    assert_eq!(detail["logs"].as_array().unwrap().len(), 1);
    assert_eq!(detail["logs"][0]["message"], "second");
    let unknown = api
        .get(
            &format!("/v1/functions/probe/invocations/{}", uuid::Uuid::now_v7()),
            Some(&t.key),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);

    // The live tail: the latest line first (limit=1), then a line logged after it opened; the
    // filter holds (a trap in between is not shown under outcome=ok).
    let opened = tail(&api, &t, "limit=1&outcome=ok", None).await;
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(
        opened.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = opened.bytes_stream().eventsource();
    let (_, latest) = next_line(&mut events).await;
    assert_eq!(latest["message"], "second");
    assert_eq!(
        api.invoke(&t.name, "probe", "/trap").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let live = api.invoke(&t.name, "probe", "/print?text=live").await;
    let (live_cursor, line) = next_line(&mut events).await;
    assert_eq!(line["message"], "live");
    assert_eq!(line["invocation"], invocation_of(&live).as_str());
    assert_eq!(line["id"].as_i64().unwrap().to_string(), live_cursor);
    drop(events);

    // Resuming after the last line seen gives only what came after it.
    api.invoke(&t.name, "probe", "/print?text=after-resume")
        .await;
    let resumed = tail(&api, &t, "", Some(&live_cursor)).await;
    let mut events = resumed.bytes_stream().eventsource();
    let (_, line) = next_line(&mut events).await;
    assert_eq!(line["message"], "after-resume");

    // At most four tails per tenant on a node: a fifth is told to come back later; another
    // tenant is not affected.
    let mut open = vec![events];
    for _ in 0..3 {
        let reply = tail(&api, &t, "", None).await;
        assert_eq!(reply.status(), StatusCode::OK);
        open.push(reply.bytes_stream().eventsource());
    }
    let refused = tail(&api, &t, "", None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_tails", "{body}");
    let other = api.create_tenant("logs-other").await;
    assert_eq!(tail(&api, &other, "", None).await.status(), StatusCode::OK);
    // A closed tail gives its place back.
    drop(open.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = tail(&api, &t, "", None).await;
        if reply.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
