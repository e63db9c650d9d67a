//! The Kafka trigger against a real broker (`scripts/kafka-up.sh`): exact counts over 10,000
//! records with per-key order, retries and dead letters, tenant namespaces, and publish with
//! trace context. One Kafka-enabled node serves every test of this binary (each test has its
//! own tenant and topics). Killing and scaling out real processes lives in
//! `runtime/tests/kafka_process.rs`.

use geyser_e2e::{Api, Backend, TestServer, TestTenant, eventually, guest};
use geyser_test_support::kafka::{Record, create_topic, header, produce, producer, read_topic};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TestServer::start(Backend::Sqlite, |config| {
            config.kafka.brokers = Some(geyser_test_support::kafka::kafka_brokers());
            config.kafka.reconcile_interval_ms = 200;
            // Small, so that backpressure (pause, then resume) happens many times per test.
            config.kafka.partition_buffer = 64;
            config.kafka.publish_timeout_ms = 3000;
        })
    })
}

async fn counter_tenant(api: &Api, prefix: &str) -> TestTenant {
    let tenant = api.create_tenant(prefix).await;
    api.deploy_ok(&tenant, "counter", "", guest("example_event_counter"))
        .await;
    tenant
}

async fn bind(api: &Api, tenant: &TestTenant, body: serde_json::Value) -> geyser_e2e::Reply {
    api.put_json("/v1/functions/counter/triggers/kafka", &tenant.key, body)
        .await
}

async fn count(api: &Api, tenant: &TestTenant, key: &str) -> u64 {
    let reply = api
        .invoke(&tenant.name, "counter", &format!("/counts/{key}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.parse().expect("count is a number")
}

/// Waits until the binding processed at least `n` records (per `/metrics`).
async fn processed_at_least(api: &Api, tenant: &TestTenant, topic: &str, n: u64, within: Duration) {
    let processed = series("geyser_kafka_records_total", tenant, topic);
    eventually(&format!("{n} records processed"), within, || async {
        let done = api.metric_if_present(&processed).await.unwrap_or(0.0);
        (done >= n as f64).then_some(())
    })
    .await;
}

/// A topic of the tenant, created with `partitions`, and the counter bound to it from the start.
async fn bound_topic(
    api: &Api,
    tenant: &TestTenant,
    name: &str,
    partitions: i32,
    options: serde_json::Value,
) -> String {
    let topic = format!("{}.{name}", tenant.name);
    create_topic(&topic, partitions).await;
    let mut body = json!({ "topic": topic, "start": "earliest" });
    for (key, value) in options.as_object().into_iter().flatten() {
        body[key] = value.clone();
    }
    let reply = bind(api, tenant, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    topic
}

fn series(name: &str, tenant: &TestTenant, topic: &str) -> String {
    format!(
        "{name}{{tenant=\"{}\",function=\"counter\",topic=\"{topic}\"}}",
        tenant.name
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_records_over_three_partitions_count_exactly_in_order() {
    let api = server().api();
    let tenant = counter_tenant(&api, "clicks").await;
    let topic = format!("{}.clicks", tenant.name);
    create_topic(&topic, 3).await;
    let reply = bind(
        &api,
        &tenant,
        json!({ "topic": topic, "start": "earliest" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["dead_letter_topic"], format!("{topic}.dlq"));
    assert_eq!(reply.json()["ordered"], true);

    // 40 keys, each with its own increasing sequence numbers: 250 records per key.
    let records: Vec<Record> = (0..10_000)
        .map(|i| Record {
            key: Some(format!("k{}", i % 40)),
            payload: (i / 40).to_string(),
            ..Record::default()
        })
        .collect();
    produce(&producer(), &topic, &records).await;

    let processed = series("geyser_kafka_records_total", &tenant, &topic);
    processed_at_least(&api, &tenant, &topic, 10_000, Duration::from_secs(180)).await;
    let lag = series("geyser_kafka_consumer_lag", &tenant, &topic);
    eventually("lag drained", Duration::from_secs(30), || async {
        (api.metric(&lag).await == 0.0).then_some(())
    })
    .await;
    let mut total = 0;
    for key in 0..40 {
        let key = format!("k{key}");
        assert_eq!(count(&api, &tenant, &key).await, 250, "count of {key}");
        let disorder = api
            .invoke(&tenant.name, "counter", &format!("/disorder/{key}"))
            .await;
        assert_eq!(disorder.body, "0", "records of {key} arrived out of order");
        total += 250;
    }
    assert_eq!(total, 10_000);
    assert_eq!(api.metric(&processed).await, 10_000.0);
    // Records of a partition committed together: far fewer transactions than records.
    let batches = api
        .metric(&series("geyser_kafka_batches_total", &tenant, &topic))
        .await;
    assert!(
        (3.0..=5_000.0).contains(&batches),
        "10,000 records took {batches} batch transactions"
    );
    // Partitions were paused while their workers were behind, and nothing was lost to it.
    let pauses = series("geyser_kafka_pauses_total", &tenant, &topic);
    assert!(
        api.metric(&pauses).await > 0.0,
        "no partition was ever paused"
    );
    assert_eq!(
        api.metric(&series("geyser_kafka_dead_letters_total", &tenant, &topic))
            .await,
        0.0
    );
    let usage = api.usage(&tenant.key).await;
    let kafka_calls = usage["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["function"] == "counter")
        .map(|row| row["invocations"].as_u64().unwrap())
        .unwrap();
    // 10,000 event invocations plus the 80 HTTP reads above (metering may still be flushing
    // the reads, never more).
    assert!((10_000..=10_080).contains(&kafka_calls), "usage: {usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_records_are_retried_then_dead_lettered_and_the_rest_go_on() {
    let api = server().api();
    let tenant = counter_tenant(&api, "poison").await;
    let topic = bound_topic(
        &api,
        &tenant,
        "orders",
        1,
        json!({ "max_attempts": 3, "backoff_ms": 10 }),
    )
    .await;

    let records: Vec<Record> = (0..20)
        .map(|i| Record {
            key: Some("k".into()),
            payload: if i == 4 || i == 11 {
                format!("fail-{i}")
            } else {
                format!("ok-{i}")
            },
            headers: vec![("origin".into(), format!("test-{i}"))],
            ..Record::default()
        })
        .collect();
    produce(&producer(), &topic, &records).await;

    let dead = read_topic(&format!("{topic}.dlq"), 2, Duration::from_secs(60)).await;
    let offsets: Vec<String> = dead
        .iter()
        .map(|r| header(r, "geyser-original-offset").unwrap())
        .collect();
    assert_eq!(offsets, ["4", "11"]);
    for (record, i) in dead.iter().zip([4, 11]) {
        use rdkafka::Message;
        assert_eq!(record.payload(), Some(format!("fail-{i}").as_bytes()));
        assert_eq!(record.key(), Some(&b"k"[..]));
        assert_eq!(header(record, "geyser-attempts").as_deref(), Some("3"));
        assert_eq!(header(record, "geyser-original-topic"), Some(topic.clone()));
        assert_eq!(
            header(record, "geyser-original-partition").as_deref(),
            Some("0")
        );
        assert_eq!(header(record, "origin"), Some(format!("test-{i}")));
        let error = header(record, "geyser-error").unwrap();
        assert!(error.contains("refusing"), "{error}");
        assert!(error.contains("attempt 3"), "{error}");
    }
    // Every other record went through, including those behind the poison ones.
    eventually("18 records counted", Duration::from_secs(30), || async {
        (count(&api, &tenant, "k").await == 18).then_some(())
    })
    .await;
    assert_eq!(
        api.metric(&series("geyser_kafka_retries_total", &tenant, &topic))
            .await,
        4.0
    );
    assert_eq!(
        api.metric(&series("geyser_kafka_dead_letters_total", &tenant, &topic))
            .await,
        2.0
    );
    // Failed attempts are metered like any invocation.
    let usage = api.usage_when(&tenant.key, 18 + 6 + 1).await;
    assert_eq!(usage["totals"]["errors"], 6, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_stay_in_the_tenants_namespace_and_are_validated() {
    let api = server().api();
    let tenant = counter_tenant(&api, "scope").await;
    let other = api.create_tenant("victim").await;

    let foreign = bind(
        &api,
        &tenant,
        json!({ "topic": format!("{}.orders", other.name) }),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.body);
    assert!(
        foreign
            .error_message()
            .contains(&format!("\"{}.\"", tenant.name))
    );
    let foreign_dlq = bind(
        &api,
        &tenant,
        json!({ "topic": format!("{}.a", tenant.name), "dead_letter_topic": format!("{}.dlq", other.name) }),
    )
    .await;
    assert_eq!(
        foreign_dlq.status,
        StatusCode::FORBIDDEN,
        "{}",
        foreign_dlq.body
    );

    for (body, fragment) in [
        (
            json!({ "topic": format!("{}.a b", tenant.name) }),
            "invalid topic name",
        ),
        (
            json!({ "topic": format!("{}.a", tenant.name), "start": "middle" }),
            "start must be",
        ),
        (
            json!({ "topic": format!("{}.a", tenant.name), "max_attempts": 0 }),
            "max_attempts",
        ),
    ] {
        let reply = bind(&api, &tenant, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(reply.error_message().contains(fragment), "{}", reply.body);
    }

    let unknown = bind(
        &api,
        &tenant,
        json!({ "topic": format!("{}.a", tenant.name), "colour": "red" }),
    )
    .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert!(
        unknown.error_message().contains("colour"),
        "{}",
        unknown.body
    );

    // An HTTP-only function takes no Kafka trigger; an unknown one is 404.
    api.deploy_ok(&tenant, "hello", "", guest("example_hello"))
        .await;
    let http_only = api
        .put_json(
            "/v1/functions/hello/triggers/kafka",
            &tenant.key,
            json!({ "topic": format!("{}.a", tenant.name) }),
        )
        .await;
    assert_eq!(
        http_only.status,
        StatusCode::BAD_REQUEST,
        "{}",
        http_only.body
    );
    assert!(
        http_only.error_message().contains("event function"),
        "{}",
        http_only.body
    );

    // Create, list, replace, delete.
    let topic = format!("{}.a", tenant.name);
    assert_eq!(
        bind(&api, &tenant, json!({ "topic": topic })).await.status,
        StatusCode::CREATED
    );
    let replaced = bind(
        &api,
        &tenant,
        json!({ "topic": topic, "ordered": false, "max_attempts": 2 }),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::CREATED);
    let list = api
        .get("/v1/functions/counter/triggers/kafka", Some(&tenant.key))
        .await
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["ordered"], false);
    assert_eq!(list[0]["max_attempts"], 2);
    assert_eq!(list[0]["start"], "latest");
    // The other tenant sees none of it.
    let theirs = api
        .get("/v1/functions/counter/triggers/kafka", Some(&other.key))
        .await;
    assert_eq!(theirs.json(), json!([]));
    let path = format!("/v1/functions/counter/triggers/kafka/{topic}");
    let gone = api
        .send(Method::DELETE, &path, Some(&tenant.key), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let again = api
        .send(Method::DELETE, &path, Some(&tenant.key), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kafka_binding_and_publish_fail_clearly() {
    let node = TestServer::start(Backend::Sqlite, |_| {});
    let api = node.api();
    let tenant = counter_tenant(&api, "nokafka").await;
    let reply = bind(
        &api,
        &tenant,
        json!({ "topic": format!("{}.a", tenant.name) }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.error_message().contains("--kafka-brokers"),
        "{}",
        reply.body
    );
    let published = api
        .send(
            Method::POST,
            &format!("/fn/{}/counter/publish/out", tenant.name),
            None,
            Some(b"hi".to_vec()),
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        published.body
    );
    assert!(
        published.body.contains("no event bus"),
        "{}",
        published.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_writes_to_the_tenants_topic_with_the_callers_trace() {
    let api = server().api();
    let tenant = counter_tenant(&api, "pub").await;
    let topic = format!("{}.out", tenant.name);
    create_topic(&topic, 1).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = api
        .http
        .post(format!(
            "{}/fn/{}/counter/publish/out",
            api.base, tenant.name
        ))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("x-key", "user-7")
        .body("hello kafka")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "{}",
        response.text().await.unwrap()
    );
    let records = read_topic(&topic, 1, Duration::from_secs(30)).await;
    use rdkafka::Message;
    assert_eq!(records[0].payload(), Some(&b"hello kafka"[..]));
    assert_eq!(records[0].key(), Some(&b"user-7"[..]));
    let traceparent = header(&records[0], "traceparent").expect("traceparent header");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], trace_id, "the trace continues");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "with the invocation's own span"
    );

    // A name outside the namespace is placed inside it: another tenant's topic is unreachable.
    let victim_topic = format!("{}.inbox", tenant.name.replace("pub", "vic"));
    let escaped = api
        .send(
            Method::POST,
            &format!("/fn/{}/counter/publish/{victim_topic}", tenant.name),
            None,
            Some(b"x".to_vec()),
        )
        .await;
    // `<tenant>.<victim topic>` does not exist on the broker, so the publish fails; it never
    // reaches the victim's topic.
    assert_eq!(escaped.status, StatusCode::BAD_GATEWAY, "{}", escaped.body);
    assert!(
        escaped
            .body
            .contains(&format!("{}.{victim_topic}", tenant.name)),
        "{}",
        escaped.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unordered_binding_runs_a_partition_concurrently_and_still_counts_exactly() {
    let api = server().api();
    let tenant = counter_tenant(&api, "unordered").await;
    let topic = bound_topic(&api, &tenant, "bulk", 1, json!({ "ordered": false })).await;
    let records: Vec<Record> = (0..600)
        .map(|i| Record {
            key: Some(format!("u{}", i % 3)),
            payload: format!("x{i}"),
            ..Record::default()
        })
        .collect();
    produce(&producer(), &topic, &records).await;
    let processed = series("geyser_kafka_records_total", &tenant, &topic);
    processed_at_least(&api, &tenant, &topic, 600, Duration::from_secs(60)).await;
    for key in ["u0", "u1", "u2"] {
        assert_eq!(count(&api, &tenant, key).await, 200, "count of {key}");
    }
    assert_eq!(api.metric(&processed).await, 600.0);
}

/// Asynchronous invocation reports to topics: a failed call (after its attempts) and a
/// succeeded one each become one record on the topic their function names, keyed by the
/// invocation id, carrying the status, error and original request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_invocations_report_to_their_destination_topics() {
    use rdkafka::Message;
    let api = server().api();
    let tenant = counter_tenant(&api, "async-topics").await;
    let (failures, successes) = (
        format!("{}.failures", tenant.name),
        format!("{}.successes", tenant.name),
    );
    create_topic(&failures, 1).await;
    create_topic(&successes, 1).await;
    let reply = api
        .put_json(
            "/v1/functions/counter/async",
            &tenant.key,
            json!({"max_attempts": 2, "on_failure": {"topic": failures},
                   "on_success": {"topic": successes}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut ids = Vec::new();
    for payload in ["fail now", "fine"] {
        let reply = api
            .http
            .post(format!("{}/v1/functions/counter/events?key=a", api.base))
            .bearer_auth(&tenant.key)
            .header("prefer", "respond-async")
            .body(payload)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::ACCEPTED);
        ids.push(
            reply.headers()["x-geyser-invocation"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    for (topic, id, status) in [
        (&failures, &ids[0], "failed"),
        (&successes, &ids[1], "succeeded"),
    ] {
        let records = read_topic(topic, 1, Duration::from_secs(60)).await;
        let record = &records[0];
        assert_eq!(
            record
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            Some(id.clone())
        );
        let doc: serde_json::Value =
            serde_json::from_slice(record.payload().unwrap_or_default()).unwrap();
        assert_eq!(doc["invocation"], id.as_str(), "{doc}");
        assert_eq!(doc["status"], status, "{doc}");
        assert_eq!(doc["function"], "counter", "{doc}");
        assert_eq!(doc["request"]["kind"], "event", "{doc}");
        if status == "failed" {
            assert_eq!(doc["attempts"], 2, "{doc}");
            assert!(doc["error"].as_str().unwrap().contains("refusing"), "{doc}");
        }
    }
    assert_eq!(count(&api, &tenant, "a").await, 1);
}
