//! Function management for the calling tenant: deploy a version, list, show, roll back, delete.

use super::AppState;
use super::auth::TenantCaller;
use super::error::{ApiError, rejection};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use geyser_engine::{CompileRefusal, PrepareError};
use geyser_functions::{
    ActiveFunction, DeployRequest, FunctionInfo, FunctionLimits, FunctionName, Tenant, Version,
    VersionInfo,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployParams {
    memory_mb: Option<u32>,
    timeout_ms: Option<u64>,
    cpu_limit_ms: Option<u64>,
    public: Option<bool>,
}

#[derive(Serialize)]
pub struct DeployedDto {
    name: String,
    version: i64,
    sha256: String,
    kind: String,
    /// Whether the new version is the active one (`live`); `false` when the function's alias
    /// `live` has `auto_promote: false` — call it at `url` until an alias points at it.
    live: bool,
    /// Where this version answers, whatever the aliases say.
    url: String,
}

#[derive(Serialize)]
pub struct VersionDto {
    version: i64,
    sha256: String,
    kind: String,
    /// Size of the uploaded component.
    size_bytes: u64,
    memory_mb: u32,
    timeout_ms: u64,
    /// CPU time one invocation may use; absent: only the timeout.
    cpu_limit_ms: Option<u64>,
    public: bool,
    /// Variables, secret names and allowed outbound hosts of this version.
    config: super::function_config::ConfigDto,
    created_at_ms: i64,
}

#[derive(Serialize)]
pub struct FunctionDto {
    name: String,
    /// `http`, `event`, `schedule` or several (`http,event`): what the active version exports.
    kind: String,
    active_version: i64,
    /// Where the function is invoked.
    url: String,
    memory_mb: u32,
    timeout_ms: u64,
    cpu_limit_ms: Option<u64>,
    public: bool,
    versions: Vec<VersionDto>,
    /// Asynchronous invocations of the function waiting or running (`GET` of one function only).
    #[serde(skip_serializing_if = "Option::is_none")]
    async_queued: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    version: i64,
}

impl From<&VersionInfo> for VersionDto {
    fn from(v: &VersionInfo) -> Self {
        VersionDto {
            version: v.version.0,
            sha256: v.hash.to_string(),
            kind: v.kind.to_text(),
            size_bytes: v.size_bytes,
            memory_mb: v.limits.memory_mb,
            timeout_ms: v.limits.timeout_ms,
            cpu_limit_ms: v.limits.cpu_limit_ms,
            public: v.limits.public,
            config: (&v.config).into(),
            created_at_ms: v.created_at_ms,
        }
    }
}

fn function_dto(tenant: &Tenant, info: &FunctionInfo) -> FunctionDto {
    let active = info.active().map(|v| v.limits);
    FunctionDto {
        name: info.name.to_string(),
        kind: info.active().map_or_else(String::new, |v| v.kind.to_text()),
        active_version: info.active_version.0,
        url: format!("/fn/{}/{}", tenant.name, info.name),
        memory_mb: active.map_or(0, |l| l.memory_mb),
        timeout_ms: active.map_or(0, |l| l.timeout_ms),
        cpu_limit_ms: active.and_then(|l| l.cpu_limit_ms),
        public: active.is_some_and(|l| l.public),
        versions: info.versions.iter().map(VersionDto::from).collect(),
        async_queued: None,
    }
}

/// The caller's function `name`, as it would run now; 404 if the tenant has none of that name.
pub(super) async fn active(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
) -> Result<ActiveFunction, ApiError> {
    let name = FunctionName::parse(name)?;
    state
        .store
        .active_function(&tenant.name, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("function {name:?} not found")))
}

/// The caller's function `name` at `at` (a version number or an alias, as after `@` in a
/// gateway URL; `None`: `live`), as it would run now — the canary's share included.
pub(super) async fn selected(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    at: Option<&str>,
) -> Result<ActiveFunction, ApiError> {
    let Some(at) = at else {
        return active(state, tenant, name).await;
    };
    let name = FunctionName::parse(name)?;
    let selector = geyser_functions::Selector::parse(at)?;
    let route = state
        .routes
        .route(&state.store, &tenant.name, &name, &selector)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("function {name}@{selector} not found")))?;
    Ok(route.pick_without_headers())
}

fn limits(
    state: &AppState,
    params: &DeployParams,
    quotas: &geyser_quotas::Quotas,
) -> Result<FunctionLimits, ApiError> {
    let engine = &state.config.engine;
    let memory_mb = params.memory_mb.unwrap_or(engine.default_memory_mb);
    if memory_mb == 0 || memory_mb > engine.max_memory_mb {
        return Err(ApiError::bad_request(format!(
            "memory_mb must be between 1 and {}",
            engine.max_memory_mb
        )));
    }
    let timeout_ms = params.timeout_ms.unwrap_or(engine.default_timeout_ms);
    if timeout_ms == 0 || timeout_ms > engine.max_timeout_ms {
        return Err(ApiError::bad_request(format!(
            "timeout_ms must be between 1 and {}",
            engine.max_timeout_ms
        )));
    }
    if params.cpu_limit_ms == Some(0) {
        return Err(ApiError::bad_request(
            "cpu_limit_ms must be at least 1 (leave it out for none)",
        ));
    }
    // A function that asks for no CPU limit gets the tenant's maximum, if it has one.
    let cpu_limit_ms = params
        .cpu_limit_ms
        .or(Some(quotas.max_cpu_limit_ms).filter(|ms| *ms > 0));
    Ok(FunctionLimits {
        memory_mb,
        timeout_ms,
        cpu_limit_ms,
        public: params.public.unwrap_or(true),
    })
}

fn quota_exceeded(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "quota_exceeded", message)
}

/// The tenant's deploy quotas: memory per function and, for a new function, how many it has.
/// Two concurrent deploys of new functions may both pass the count (one over at most).
async fn check_quotas(
    state: &AppState,
    tenant: &Tenant,
    name: &FunctionName,
    quotas: &geyser_quotas::Quotas,
    limits: &FunctionLimits,
) -> Result<(), ApiError> {
    if let Some(ms) = limits.cpu_limit_ms
        && quotas.max_cpu_limit_ms > 0
        && ms > quotas.max_cpu_limit_ms
    {
        return Err(quota_exceeded(format!(
            "cpu_limit_ms {ms} exceeds tenant {}'s quota of {} ms",
            tenant.name, quotas.max_cpu_limit_ms
        )));
    }
    if u64::from(limits.memory_mb) > quotas.max_memory_mb {
        return Err(quota_exceeded(format!(
            "memory_mb {} exceeds tenant {}'s quota of {} MiB",
            limits.memory_mb, tenant.name, quotas.max_memory_mb
        )));
    }
    let exists = state
        .store
        .active_function(&tenant.name, name)
        .await?
        .is_some();
    if !exists {
        let count = state.store.count_functions(tenant.id).await?;
        if count >= quotas.max_functions {
            return Err(quota_exceeded(format!(
                "tenant {} has {count} functions, its quota is {}; delete one first",
                tenant.name, quotas.max_functions
            )));
        }
    }
    Ok(())
}

/// How much of an oversized upload is read and discarded before answering 413. Answering
/// while the client is still sending makes the kernel reset the connection, and the client
/// then sees a broken pipe instead of our answer.
const OVERSIZE_DRAIN_BYTES: usize = 64 << 20;

/// Reads an upload of at most `limit` bytes.
async fn read_upload(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("upload exceeds the limit of {limit} bytes"),
        )
    };
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading upload failed: {e}")))?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            buf.extend_from_slice(&chunk);
        } else if total > limit.saturating_add(OVERSIZE_DRAIN_BYTES) {
            break;
        }
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

/// A deploy the compile gate did not run to its end.
fn compile_refused(refusal: CompileRefusal) -> ApiError {
    let message = refusal.to_string();
    match refusal {
        CompileRefusal::Busy { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "compile_busy", message).retry_after(5)
        }
        CompileRefusal::TenantBusy => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "compile_in_progress",
            message,
        )
        .retry_after(5),
        CompileRefusal::TimedOut { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "compile_timeout", message)
        }
        CompileRefusal::Failed(_) => ApiError::internal(message),
    }
}

/// `PUT /v1/functions/{name}`: the body is the component. Compiled before it is stored, so a
/// bad component is refused at once and the first call pays no compile.
pub async fn deploy(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Result<Query<DeployParams>, QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<DeployedDto>), ApiError> {
    // Read the upload before judging the request, so that an error answer does not leave unread
    // bytes behind and break the client's keep-alive connection.
    let quotas = state.quotas.quotas(tenant.id);
    let upload_limit = usize::try_from(quotas.max_artifact_bytes)
        .unwrap_or(usize::MAX)
        .min(state.config.http.max_upload_bytes);
    let body = read_upload(body, upload_limit).await?;
    let name = FunctionName::parse(&name)?;
    let Query(params) = params.map_err(rejection)?;
    let limits = limits(&state, &params, &quotas)?;
    check_quotas(&state, &tenant, &name, &quotas, &limits).await?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty body: send the component bytes",
        ));
    }
    let bytes = Arc::new(body.to_vec());
    let (hash, pre) = state
        .invoker
        .host()
        .prepare(Some(tenant.id), bytes.clone())
        .await
        .map_err(|e| match e {
            PrepareError::Component(e) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_component", e.to_string())
            }
            PrepareError::Cache(e) => ApiError::internal(e),
            PrepareError::Refused(refusal) => compile_refused(refusal),
        })?;
    let kind = pre.handlers();
    let deployed = state
        .store
        .deploy(DeployRequest {
            tenant: tenant.id,
            name: &name,
            bytes: &bytes,
            hash: &hash,
            kind,
            limits,
        })
        .await?;
    state.invoker.host().install(&hash, pre);
    // On PostgreSQL the other nodes load this compiled form instead of compiling it.
    state.invoker.host().share(&hash, &state.store).await;
    state.function_changed(&tenant.name, &name).await;
    tracing::info!(tenant = %tenant.name, function = %name, version = %deployed.version, artifact = %hash, "function deployed");
    Ok((
        StatusCode::CREATED,
        Json(DeployedDto {
            name: name.to_string(),
            version: deployed.version.0,
            sha256: hash.to_string(),
            kind: kind.to_text(),
            live: deployed.live,
            url: format!("/fn/{}/{}@{}", tenant.name, name, deployed.version.0),
        }),
    ))
}

pub async fn list(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
) -> Result<Json<Vec<FunctionDto>>, ApiError> {
    let functions = state.store.list_functions(tenant.id).await?;
    Ok(Json(
        functions.iter().map(|f| function_dto(&tenant, f)).collect(),
    ))
}

pub async fn show(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<FunctionDto>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let info = state.store.function(tenant.id, &name).await?;
    let queued = state.store.function_queue_depth(tenant.id, &name).await?;
    Ok(Json(FunctionDto {
        async_queued: Some(queued),
        ..function_dto(&tenant, &info)
    }))
}

/// `GET /v1/functions/{name}/versions/{version}/artifact`: the component a version runs, as
/// it was uploaded (what `geyser export` writes beside the app file).
pub async fn artifact(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
) -> Result<axum::response::Response, ApiError> {
    let name = FunctionName::parse(&name)?;
    let info = state.store.function(tenant.id, &name).await?;
    let found = info
        .versions
        .iter()
        .find(|v| v.version.0 == version)
        .ok_or_else(|| {
            ApiError::not_found(format!("function {name:?} has no version {version}"))
        })?;
    let bytes = state.store.artifact(&found.hash).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/wasm".to_owned(),
            ),
            (
                axum::http::header::HeaderName::from_static("x-geyser-sha256"),
                found.hash.to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn delete(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = FunctionName::parse(&name)?;
    state.store.delete_function(tenant.id, &name).await?;
    state.function_changed(&tenant.name, &name).await;
    tracing::info!(tenant = %tenant.name, function = %name, "function deleted");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rollback(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<RollbackBody>, JsonRejection>,
) -> Result<Json<FunctionDto>, ApiError> {
    let name = FunctionName::parse(&name)?;
    let Json(body) = body.map_err(rejection)?;
    state
        .store
        .rollback(tenant.id, &name, Version(body.version))
        .await?;
    state.function_changed(&tenant.name, &name).await;
    tracing::info!(tenant = %tenant.name, function = %name, version = body.version, "function rolled back");
    let info = state.store.function(tenant.id, &name).await?;
    Ok(Json(function_dto(&tenant, &info)))
}
