//! Kafka topic bindings of an event function: bind (create or replace), list, delete. Topics
//! must lie in the caller's namespace (`<tenant>.`); without Kafka on the node, binding fails
//! with a clear 409.

use super::AppState;
use super::auth::TenantCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use geyser_core::topics::{self, TopicError};
use geyser_functions::Change;
use geyser_functions::{FunctionKind, FunctionName, KafkaBinding, NewKafkaBinding, StartFrom};
use serde::{Deserialize, Serialize};

/// Most attempts a binding may ask for.
const MAX_ATTEMPTS: u32 = 100;
/// Longest first backoff a binding may ask for.
const MAX_BACKOFF_MS: u64 = 600_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaBody {
    topic: String,
    start: Option<String>,
    max_attempts: Option<u32>,
    backoff_ms: Option<u64>,
    dead_letter_topic: Option<String>,
    ordered: Option<bool>,
    /// The alias whose version each record runs; default `live`.
    alias: Option<String>,
}

#[derive(Serialize)]
pub struct KafkaDto {
    topic: String,
    start: &'static str,
    max_attempts: u32,
    backoff_ms: u64,
    dead_letter_topic: String,
    ordered: bool,
    alias: String,
}

impl From<&KafkaBinding> for KafkaDto {
    fn from(b: &KafkaBinding) -> Self {
        KafkaDto {
            topic: b.topic.clone(),
            start: b.start.as_str(),
            max_attempts: b.max_attempts,
            backoff_ms: b.backoff_ms,
            dead_letter_topic: b.dead_letter_topic.clone(),
            ordered: b.ordered,
            alias: b.alias.to_string(),
        }
    }
}

fn topic_error(err: TopicError) -> ApiError {
    match err {
        TopicError::Invalid(_) => ApiError::bad_request(err.to_string()),
        TopicError::Foreign { .. } => ApiError::forbidden(err.to_string()),
    }
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "kafka_not_configured",
        "Kafka is not configured on this server: start geyser serve with --kafka-brokers HOST:PORT (or GEYSER_KAFKA_BROKERS) to bind topics",
    )
}

pub async fn put(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<KafkaBody>, JsonRejection>,
) -> Result<(StatusCode, Json<KafkaDto>), ApiError> {
    let Json(body) = body.map_err(rejection)?;
    topics::check_owned(&tenant.name, &body.topic).map_err(topic_error)?;
    let dead_letter_topic = body
        .dead_letter_topic
        .unwrap_or_else(|| format!("{}.dlq", body.topic));
    topics::check_owned(&tenant.name, &dead_letter_topic).map_err(topic_error)?;
    if dead_letter_topic == body.topic {
        return Err(ApiError::bad_request(
            "dead_letter_topic must differ from topic",
        ));
    }
    let start = match body.start.as_deref() {
        None => StartFrom::Latest,
        Some(text) => text
            .parse::<StartFrom>()
            .map_err(|_| ApiError::bad_request("start must be \"earliest\" or \"latest\""))?,
    };
    let max_attempts = body.max_attempts.unwrap_or(5);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(ApiError::bad_request(format!(
            "max_attempts must be between 1 and {MAX_ATTEMPTS}"
        )));
    }
    let backoff_ms = body.backoff_ms.unwrap_or(200);
    if backoff_ms > MAX_BACKOFF_MS {
        return Err(ApiError::bad_request(format!(
            "backoff_ms must be at most {MAX_BACKOFF_MS}"
        )));
    }
    let function = super::functions::active(&state, &tenant, &name).await?;
    if !function.kind.contains(FunctionKind::Event) {
        return Err(ApiError::bad_request(format!(
            "{} is {} function; Kafka triggers need an event function (#[geyser_sdk::event])",
            function.name,
            geyser_engine::describe(function.kind)
        )));
    }
    let alias =
        super::aliases::existing(&state, &tenant, &function.name, body.alias.as_deref()).await?;
    let Some(bus) = &state.bus else {
        return Err(not_configured());
    };
    bus.ensure_topic(&dead_letter_topic, 1).await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "kafka_unavailable",
            format!("cannot prepare the dead-letter topic: {e}"),
        )
    })?;
    let stored = state
        .store
        .put_kafka_binding(NewKafkaBinding {
            tenant: tenant.id,
            function: &function.name,
            topic: &body.topic,
            start,
            max_attempts,
            backoff_ms,
            dead_letter_topic: &dead_letter_topic,
            ordered: body.ordered.unwrap_or(true),
            alias: &alias,
        })
        .await?;
    state.changes.changed(Change::KafkaBindings).await;
    tracing::info!(tenant = %tenant.name, function = %function.name, topic = %stored.topic, "Kafka trigger set");
    Ok((StatusCode::CREATED, Json(KafkaDto::from(&stored))))
}

pub async fn list(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<KafkaDto>>, ApiError> {
    let function = FunctionName::parse(&name)?;
    let bindings = state.store.kafka_bindings(tenant.id, &function).await?;
    Ok(Json(bindings.iter().map(KafkaDto::from).collect()))
}

pub async fn delete(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, topic)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let function = FunctionName::parse(&name)?;
    if state
        .store
        .delete_kafka_binding(tenant.id, &function, &topic)
        .await?
    {
        state.changes.changed(Change::KafkaBindings).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "{function} is not bound to topic {topic:?}"
        )))
    }
}
