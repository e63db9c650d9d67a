//! Event counter: the smallest event function, with an HTTP handler beside it.
//!
//! - Each record increments kv `count:<record key>` (records without a key count under `-`).
//! - If the payload is a decimal sequence number, the handler also checks that a key's numbers
//!   arrive in increasing order and counts violations in `disorder:<key>` — what an ordered
//!   binding promises per partition.
//! - A payload starting with `fail` makes the handler fail: that is how to watch retries and
//!   the dead-letter topic.
//! - `GET /counts/{key}` answers the count as plain text; `GET /disorder/{key}` the violations;
//!   `POST /publish/{topic}` publishes the request body to `<tenant>.<topic>` (key from the
//!   `x-key` header).

use geyser_sdk::event::Event;
use geyser_sdk::http::{Error, Params, Request, Response, Result, Router};
use geyser_sdk::kv;
use geyser_sdk::publish::publish;

fn key_of(event: &Event) -> String {
    match &event.key {
        Some(key) => String::from_utf8_lossy(key).into_owned(),
        None => "-".to_owned(),
    }
}

#[geyser_sdk::event]
fn count(event: Event) -> std::result::Result<(), String> {
    let payload = String::from_utf8_lossy(&event.payload);
    if payload.starts_with("fail") {
        return Err(format!(
            "refusing {} on attempt {}",
            event.id, event.attempt
        ));
    }
    let key = key_of(&event);
    if let Ok(sequence) = payload.trim().parse::<i64>() {
        let last_key = format!("last:{key}");
        let last = kv::get(&last_key)
            .map_err(|e| e.to_string())?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok());
        if last.is_some_and(|last| sequence <= last) {
            kv::increment(&format!("disorder:{key}"), 1).map_err(|e| e.to_string())?;
        }
        kv::set(&last_key, sequence.to_string().as_bytes()).map_err(|e| e.to_string())?;
    }
    kv::increment(&format!("count:{key}"), 1).map_err(|e| e.to_string())?;
    Ok(())
}

fn number(prefix: &str, params: &Params) -> Result {
    let key = params.get("key").unwrap_or("-");
    let value = kv::get(&format!("{prefix}:{key}"))
        .map_err(|e| Error::new(503, e.to_string()))?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|| "0".to_owned());
    Ok(Response::text(200, value))
}

#[geyser_sdk::http]
fn api(req: Request) -> Result {
    Router::new()
        .get("/counts/:key", |_, params| number("count", params))
        .get("/disorder/:key", |_, params| number("disorder", params))
        .post("/publish/:topic", |req, params| {
            let topic = params.get("topic").unwrap_or_default();
            let key = req.header("x-key").map(str::as_bytes);
            publish(topic, key, &req.body).map_err(|e| Error::new(502, e))?;
            Ok(Response::text(202, "published"))
        })
        .handle(&req)
}
