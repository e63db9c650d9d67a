//! Manual delivery for local development and admin runs: `POST /v1/functions/{name}/events`
//! hands one event to an event function, `POST /v1/functions/{name}/ticks` one tick to a
//! scheduled function. Both wait for the function and answer with its outcome; `?at=N` or
//! `?at=ALIAS` runs that version or alias (default `live`).

use super::AppState;
use super::auth::TenantCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use geyser_engine::{Event, Tick};
use geyser_functions::TriggerKind;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    topic: Option<String>,
    key: Option<String>,
    /// A version or alias (as after `@` in a gateway URL); default `live`.
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TickParams {
    schedule: Option<String>,
    scheduled_time: Option<String>,
    /// A version or alias (as after `@` in a gateway URL); default `live`.
    at: Option<String>,
}

#[derive(Serialize)]
pub struct Delivered {
    invocation: String,
    outcome: &'static str,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub async fn deliver_event(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<EventParams>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    let function = super::functions::selected(&state, &tenant, &name, params.at.as_deref()).await?;
    let topic = params.topic.unwrap_or_else(|| "manual".into());
    if super::queued::wants_async(&headers) {
        let limit = state.queue.config().max_body_bytes;
        if body.len() > limit {
            return Err(super::queued::too_large(limit));
        }
        let selector = match params.at.as_deref() {
            Some(at) => geyser_functions::Selector::parse(at)?,
            None => geyser_functions::Selector::live(),
        };
        let request = geyser_functions::QueuedRequest::Event {
            source: "manual".into(),
            topic,
            key: params.key,
            headers: event_headers(&headers)
                .into_iter()
                .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
                .collect(),
        };
        return super::queued::accept(&state, &function, selector, request, body).await;
    }
    let event = Event {
        id: format!("manual/{}", uuid::Uuid::now_v7()),
        source: "manual".into(),
        topic,
        key: params.key.map(String::into_bytes),
        payload: body.to_vec(),
        headers: event_headers(&headers),
        attempt: 1,
    };
    let id = state
        .invoker
        .invoke_event(function, TriggerKind::Manual, event)
        .await?;
    Ok(Json(Delivered {
        invocation: id.to_string(),
        outcome: "ok",
    })
    .into_response())
}

/// The event's headers: the request's `x-event-*` headers without the prefix.
fn event_headers(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-event-"))
        .map(|(name, value)| {
            (
                name.as_str()["x-event-".len()..].to_owned(),
                value.as_bytes().to_vec(),
            )
        })
        .collect()
}

pub async fn deliver_tick(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<TickParams>, QueryRejection>,
) -> Result<Json<Delivered>, ApiError> {
    let Query(params) = params.map_err(rejection)?;
    let function = super::functions::selected(&state, &tenant, &name, params.at.as_deref()).await?;
    let now = now_rfc3339();
    let tick = Tick {
        schedule: params.schedule.unwrap_or_else(|| "manual".into()),
        scheduled_time: params.scheduled_time.unwrap_or_else(|| now.clone()),
        fire_time: now,
        payload: None,
    };
    let id = state
        .invoker
        .invoke_tick(function, TriggerKind::Manual, tick)
        .await?;
    Ok(Json(Delivered {
        invocation: id.to_string(),
        outcome: "ok",
    }))
}
