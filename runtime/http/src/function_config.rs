//! A function's configuration: `GET /v1/functions/{name}/config` shows the active version's
//! variables, secret names and allowed outbound hosts (never a secret's value);
//! `PUT` changes them by adding a version with the same artifact.

use super::AppState;
use super::auth::TenantCaller;
use super::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use geyser_core::{
    ConfigName, FunctionConfig, InvalidConfig, OutboundHost, SecretBox, check_value,
};
use geyser_functions::FunctionName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A change: each field left out keeps its current value. In `variables` and `secrets` a
/// string sets the entry and `null` removes it; `allowed_outbound_hosts` replaces the list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    #[serde(default)]
    variables: BTreeMap<String, Option<String>>,
    #[serde(default)]
    secrets: BTreeMap<String, Option<String>>,
    allowed_outbound_hosts: Option<Vec<String>>,
}

/// A configuration as the API shows it: secret names, not values.
#[derive(Serialize)]
pub struct ConfigDto {
    variables: BTreeMap<String, String>,
    secrets: Vec<String>,
    allowed_outbound_hosts: Vec<String>,
}

impl From<&FunctionConfig> for ConfigDto {
    fn from(config: &FunctionConfig) -> Self {
        ConfigDto {
            variables: config
                .variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            secrets: config.secrets.keys().map(ToString::to_string).collect(),
            allowed_outbound_hosts: config
                .allowed_outbound_hosts
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

#[derive(Serialize)]
pub struct ConfiguredDto {
    name: String,
    version: i64,
    config: ConfigDto,
}

fn field_name(field: &str, name: &str) -> Result<ConfigName, InvalidConfig> {
    ConfigName::parse(name).map_err(|e| InvalidConfig(format!("{field}: {}", e.0)))
}

/// Names, values and hosts of a change, checked before anything is read or sealed.
struct CheckedChange {
    variables: Vec<(ConfigName, Option<String>)>,
    secrets: Vec<(ConfigName, Option<String>)>,
    hosts: Option<Vec<OutboundHost>>,
}

fn check_change(change: ConfigChange) -> Result<CheckedChange, InvalidConfig> {
    let entries = |field: &str, map: BTreeMap<String, Option<String>>| {
        map.into_iter()
            .map(|(name, value)| {
                let name = field_name(field, &name)?;
                if let Some(value) = &value {
                    check_value(field, &name, value)?;
                }
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, InvalidConfig>>()
    };
    let hosts = change
        .allowed_outbound_hosts
        .map(|hosts| {
            hosts
                .iter()
                .map(|h| OutboundHost::parse(h))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(CheckedChange {
        variables: entries("variables", change.variables)?,
        secrets: entries("secrets", change.secrets)?,
        hosts,
    })
}

/// The configuration `change` makes of `current`; new secret values are sealed here.
fn apply(
    current: &FunctionConfig,
    change: CheckedChange,
    secrets: &dyn SecretBox,
) -> FunctionConfig {
    let mut next = current.clone();
    for (name, value) in change.variables {
        match value {
            Some(value) => next.variables.insert(name, value),
            None => next.variables.remove(&name),
        };
    }
    for (name, value) in change.secrets {
        match value {
            Some(value) => {
                let sealed = secrets.seal(&name, &value);
                next.secrets.insert(name, sealed)
            }
            None => next.secrets.remove(&name),
        };
    }
    if let Some(hosts) = change.hosts {
        next.allowed_outbound_hosts = hosts;
    }
    next
}

pub async fn show(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ConfiguredDto>, ApiError> {
    let function = super::functions::active(&state, &tenant, &name).await?;
    Ok(Json(ConfiguredDto {
        name: function.name.to_string(),
        version: function.version.0,
        config: ConfigDto::from(&*function.config),
    }))
}

/// `PUT /v1/functions/{name}/config`: 201 with the new version; 400 naming the field, with
/// nothing changed, for a bad name, value or host.
pub async fn set(
    TenantCaller(tenant): TenantCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<ConfiguredDto>), ApiError> {
    let name = FunctionName::parse(&name)?;
    // Parsed here rather than by axum's `Json`, so every bad body is a 400 that names the
    // field (axum answers 422 for a well-formed body of the wrong shape).
    let change: ConfigChange = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid config body: {e}")))?;
    let change = check_change(change)?;
    let secrets = state.secrets.clone();
    let (deployed, config) = state
        .store
        .configure(tenant.id, &name, |current| {
            Ok(apply(current, change, &*secrets))
        })
        .await?;
    state.function_changed(&tenant.name, &name).await;
    tracing::info!(tenant = %tenant.name, function = %name, version = %deployed.version, "function configured");
    Ok((
        StatusCode::CREATED,
        Json(ConfiguredDto {
            name: name.to_string(),
            version: deployed.version.0,
            config: ConfigDto::from(&config),
        }),
    ))
}
