//! The HTTP edge: management API (`/v1`), the function gateway (`/fn`), health and metrics.
//! Only this module knows HTTP status codes and JSON DTOs.

mod auth;
mod billing;
mod cron;
mod error;
mod functions;
mod gateway;
mod hooks;
mod invocations;
mod kafka;
mod logs;
mod system;
mod tenants;
mod ui;
mod usage;

use crate::config::Config;
use crate::host::Host;
use crate::invoke::Invoker;
use crate::metering::Meter;
use crate::metrics::Metrics;
use axum::Router;
use axum::routing::{any, get, post};
use geyser_functions::{ApiKey, Store};
use std::sync::Arc;

pub use error::ApiError;

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub host: Arc<Host>,
    pub meter: Meter,
    pub metrics: Arc<Metrics>,
    pub invoker: Invoker,
    pub cron: crate::cron::CronRunner,
    /// `None` when the node runs without Kafka.
    pub kafka: Option<crate::kafka::KafkaTrigger>,
    pub admin_key: Arc<ApiKey>,
    pub config: Arc<Config>,
}

/// The whole HTTP surface, without a socket (tests may drive it directly).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route("/v1/functions", get(functions::list))
        .route(
            "/v1/functions/{name}",
            get(functions::show)
                .put(functions::deploy)
                .delete(functions::delete),
        )
        .route("/v1/functions/{name}/rollback", post(functions::rollback))
        .route("/v1/functions/{name}/logs", get(logs::recent))
        .route("/v1/functions/{name}/invocations", get(invocations::recent))
        .route("/v1/functions/{name}/events", post(hooks::deliver_event))
        .route("/v1/functions/{name}/ticks", post(hooks::deliver_tick))
        .route(
            "/v1/functions/{name}/triggers/cron",
            get(cron::list).put(cron::put),
        )
        .route(
            "/v1/functions/{name}/triggers/cron/{schedule}",
            axum::routing::delete(cron::delete),
        )
        .route(
            "/v1/functions/{name}/triggers/cron/{schedule}/runs",
            get(cron::runs),
        )
        .route(
            "/v1/functions/{name}/triggers/cron/{schedule}/run",
            post(cron::run_now),
        )
        .route(
            "/v1/functions/{name}/triggers/kafka",
            get(kafka::list).put(kafka::put),
        )
        .route(
            "/v1/functions/{name}/triggers/kafka/{topic}",
            axum::routing::delete(kafka::delete),
        )
        .route("/v1/usage", get(usage::show))
        .route("/v1/usage/series", get(billing::series))
        .route("/v1/billing/statement", get(billing::statement))
        .route(
            "/v1/billing/budget",
            get(billing::get_budget)
                .put(billing::put_budget)
                .delete(billing::delete_budget),
        )
        .route("/ui", get(ui::page))
        .route("/fn/{*rest}", any(gateway::invoke))
        .fallback(system::not_found)
        .with_state(state)
}
