//! The HTTP edge: management API (`/v1`), the function gateway (`/fn`), health, metrics and the
//! dashboard, and the accept loop that serves them. Only this crate knows HTTP status codes and
//! JSON DTOs; it reaches the engine through the `Invoker`, the event bus only through
//! [`geyser_core::EventBusControl`] (it does not link rdkafka).

mod aliases;
mod auth;
mod billing;
mod changes;
mod config;
mod cron;
mod error;
mod function_config;
mod functions;
pub mod gateway;
mod hooks;
mod http_server;
mod invocations;
mod kafka;
mod keys;
mod logs;
mod queued;
mod quotas;
mod readiness;
mod system;
mod tenants;
mod ui;
mod usage;

use axum::routing::{any, get, post, put};
use geyser_billing::{BillingConfig, BudgetGuard};
use geyser_core::{EventBusControl, MetricFamilies, SecretBox};
use geyser_engine::{EngineConfig, Invoker};
use geyser_functions::{ApiKey, RouteCache, Store};
use geyser_quotas::QuotaGuard;
use geyser_telemetry::Meter;
use std::sync::Arc;

pub use axum::Router;
pub use changes::ChangeTargets;
pub use config::HttpConfig;
pub use error::ApiError;
pub use http_server::{answer_starting, serve};
pub use readiness::Readiness;

/// What the edge reads of the node's configuration.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    pub http: HttpConfig,
    /// Limits a deploy may ask for.
    pub engine: EngineConfig,
    /// Prices and break-even advice of statements.
    pub billing: BillingConfig,
}

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub invoker: Invoker,
    /// The active version of each function, shared with the triggers.
    pub routes: Arc<RouteCache>,
    /// Flushed before answers that read records.
    pub meter: Meter,
    pub budgets: Arc<BudgetGuard>,
    pub quotas: Arc<QuotaGuard>,
    pub cron: geyser_cron::CronRunner,
    /// `None` when the node runs without an event bus.
    pub bus: Option<Arc<dyn EventBusControl>>,
    /// Every component's metric families, written in order by `/metrics`.
    pub metrics: Arc<Vec<Arc<dyn MetricFamilies>>>,
    pub admin_key: Arc<ApiKey>,
    /// Canary analysis: admits calls to canaries and rolls them back.
    pub canaries: geyser_releases::CanaryWatch,
    /// The asynchronous queue (`Prefer: respond-async`).
    pub queue: geyser_queue::AsyncQueue,
    /// Seals the secrets a configuration change sets (the node key).
    pub secrets: Arc<dyn SecretBox>,
    pub config: Arc<EdgeConfig>,
    /// Live log tails open on this node (bounded per tenant).
    pub log_tails: Arc<logs::LogTails>,
    /// Whether the node is draining (`/readyz`).
    pub readiness: Arc<Readiness>,
    /// Applies a change here and announces it to the other nodes.
    pub changes: ChangeTargets,
}

impl AppState {
    /// A function's versions, aliases or configuration changed: stale routes on every node.
    pub async fn function_changed(
        &self,
        tenant: &geyser_functions::TenantName,
        function: &geyser_functions::FunctionName,
    ) {
        self.changes
            .changed(geyser_functions::Change::Function {
                tenant: tenant.clone(),
                function: function.clone(),
            })
            .await;
    }
}

/// Who may call an endpoint. Each route states it next to its handler, and the authorization
/// test matrix derives every expected status from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, the dashboard page, the OpenAPI document.
    Public,
    /// Only the admin key.
    Admin,
    /// Only a tenant's key; acts for that tenant.
    Tenant,
    /// A tenant for itself, or the admin naming a tenant with `?tenant=NAME`.
    TenantOrAdmin,
    /// The function gateway: the function's own rule (public, or its owner's key).
    Gateway,
}

/// One method on one path of the HTTP surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// `GET`, `POST`, …, or `ANY` for the gateway.
    pub method: &'static str,
    /// The axum path pattern (`{name}` parameters).
    pub path: &'static str,
    pub access: Access,
}

type Route = (Endpoint, axum::routing::MethodRouter<AppState>);

fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: axum::routing::MethodRouter<AppState>,
) -> Route {
    (
        Endpoint {
            method,
            path,
            access,
        },
        handler,
    )
}

/// Every route: the router is built from this list, and `endpoints()` reads it, so the list
/// the tests and the OpenAPI document are checked against is the router itself.
fn routes() -> Vec<Route> {
    use Access::{Admin, Gateway, Public, Tenant, TenantOrAdmin};
    use axum::routing::delete;
    vec![
        route("GET", "/healthz", Public, get(system::healthz)),
        route("GET", "/readyz", Public, get(readiness::readyz)),
        route("GET", "/metrics", Admin, get(system::metrics)),
        route(
            "GET",
            "/v1/metrics",
            TenantOrAdmin,
            get(system::tenant_metrics),
        ),
        route("GET", "/ui", Public, get(ui::page)),
        route("GET", "/ui/{asset}", Public, get(ui::asset)),
        route("GET", "/v1/openapi.json", Public, get(system::openapi)),
        route("POST", "/v1/tenants", Admin, post(tenants::create)),
        route("GET", "/v1/tenants", Admin, get(tenants::list)),
        route(
            "POST",
            "/v1/tenants/{tenant}/disable",
            Admin,
            post(tenants::disable),
        ),
        route(
            "POST",
            "/v1/tenants/{tenant}/enable",
            Admin,
            post(tenants::enable),
        ),
        route("GET", "/v1/keys", TenantOrAdmin, get(keys::list)),
        route("POST", "/v1/keys", TenantOrAdmin, post(keys::create)),
        route(
            "DELETE",
            "/v1/keys/{id}",
            TenantOrAdmin,
            delete(keys::revoke),
        ),
        route("GET", "/v1/quotas", TenantOrAdmin, get(quotas::show)),
        route("PUT", "/v1/quotas", Admin, put(quotas::set)),
        route("GET", "/v1/functions", Tenant, get(functions::list)),
        route("GET", "/v1/functions/{name}", Tenant, get(functions::show)),
        route(
            "PUT",
            "/v1/functions/{name}",
            Tenant,
            put(functions::deploy),
        ),
        route(
            "DELETE",
            "/v1/functions/{name}",
            Tenant,
            delete(functions::delete),
        ),
        route(
            "GET",
            "/v1/functions/{name}/versions/{version}/artifact",
            Tenant,
            get(functions::artifact),
        ),
        route(
            "POST",
            "/v1/functions/{name}/rollback",
            Tenant,
            post(functions::rollback),
        ),
        route(
            "GET",
            "/v1/functions/{name}/aliases",
            Tenant,
            get(aliases::list),
        ),
        route(
            "GET",
            "/v1/functions/{name}/aliases/{alias}",
            Tenant,
            get(aliases::show),
        ),
        route(
            "PUT",
            "/v1/functions/{name}/aliases/{alias}",
            Tenant,
            put(aliases::put),
        ),
        route(
            "DELETE",
            "/v1/functions/{name}/aliases/{alias}",
            Tenant,
            delete(aliases::delete),
        ),
        route(
            "POST",
            "/v1/functions/{name}/aliases/{alias}/promote",
            Tenant,
            post(aliases::promote),
        ),
        route(
            "GET",
            "/v1/functions/{name}/aliases/{alias}/events",
            Tenant,
            get(aliases::events),
        ),
        route(
            "GET",
            "/v1/functions/{name}/config",
            Tenant,
            get(function_config::show),
        ),
        route(
            "PUT",
            "/v1/functions/{name}/config",
            Tenant,
            put(function_config::set),
        ),
        route(
            "GET",
            "/v1/functions/{name}/logs",
            Tenant,
            get(logs::recent),
        ),
        route(
            "GET",
            "/v1/functions/{name}/logs/stream",
            Tenant,
            get(logs::stream),
        ),
        route(
            "GET",
            "/v1/functions/{name}/invocations",
            Tenant,
            get(invocations::recent),
        ),
        route(
            "GET",
            "/v1/functions/{name}/invocations/{id}",
            Tenant,
            get(invocations::show),
        ),
        route(
            "POST",
            "/v1/functions/{name}/events",
            Tenant,
            post(hooks::deliver_event),
        ),
        route(
            "GET",
            "/v1/functions/{name}/async",
            Tenant,
            get(queued::settings),
        ),
        route(
            "PUT",
            "/v1/functions/{name}/async",
            Tenant,
            put(queued::put_settings),
        ),
        route("GET", "/v1/invocations/{id}", Tenant, get(queued::show)),
        route(
            "POST",
            "/v1/functions/{name}/ticks",
            Tenant,
            post(hooks::deliver_tick),
        ),
        route(
            "GET",
            "/v1/functions/{name}/triggers/cron",
            Tenant,
            get(cron::list),
        ),
        route(
            "PUT",
            "/v1/functions/{name}/triggers/cron",
            Tenant,
            put(cron::put),
        ),
        route(
            "DELETE",
            "/v1/functions/{name}/triggers/cron/{schedule}",
            Tenant,
            delete(cron::delete),
        ),
        route(
            "GET",
            "/v1/functions/{name}/triggers/cron/{schedule}/runs",
            Tenant,
            get(cron::runs),
        ),
        route(
            "POST",
            "/v1/functions/{name}/triggers/cron/{schedule}/run",
            Tenant,
            post(cron::run_now),
        ),
        route(
            "GET",
            "/v1/functions/{name}/triggers/kafka",
            Tenant,
            get(kafka::list),
        ),
        route(
            "PUT",
            "/v1/functions/{name}/triggers/kafka",
            Tenant,
            put(kafka::put),
        ),
        route(
            "DELETE",
            "/v1/functions/{name}/triggers/kafka/{topic}",
            Tenant,
            delete(kafka::delete),
        ),
        route("GET", "/v1/usage", TenantOrAdmin, get(usage::show)),
        route(
            "GET",
            "/v1/usage/series",
            TenantOrAdmin,
            get(billing::series),
        ),
        route(
            "GET",
            "/v1/billing/statement",
            TenantOrAdmin,
            get(billing::statement),
        ),
        route(
            "GET",
            "/v1/billing/budget",
            TenantOrAdmin,
            get(billing::get_budget),
        ),
        route(
            "PUT",
            "/v1/billing/budget",
            TenantOrAdmin,
            put(billing::put_budget),
        ),
        route(
            "DELETE",
            "/v1/billing/budget",
            TenantOrAdmin,
            delete(billing::delete_budget),
        ),
        route("ANY", "/fn/{*rest}", Gateway, any(gateway::invoke)),
    ]
}

/// Every endpoint of the router, in the order they are declared.
pub fn endpoints() -> Vec<Endpoint> {
    routes().into_iter().map(|(endpoint, _)| endpoint).collect()
}

/// The whole HTTP surface, without a socket (tests may drive it directly).
pub fn router(state: AppState) -> Router {
    let mut by_path: Vec<(&'static str, axum::routing::MethodRouter<AppState>)> = Vec::new();
    for (endpoint, handler) in routes() {
        match by_path.iter_mut().find(|(path, _)| *path == endpoint.path) {
            Some((_, methods)) => *methods = std::mem::take(methods).merge(handler),
            None => by_path.push((endpoint.path, handler)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
        .fallback(system::not_found)
        .with_state(state)
}
