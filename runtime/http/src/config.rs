//! `[http]`: limits and timeouts of the HTTP edge.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest component upload.
    pub max_upload_bytes: usize,
    /// Largest request body passed to a function.
    pub max_request_body_bytes: usize,
    /// How long a node reuses a function lookup (active version, limits, owner) before asking
    /// the database again. A deploy, rollback or delete through this node applies at once;
    /// through another node, within this time. 0: look up every call.
    pub route_cache_ms: u64,
    /// A client must send a request's head within this (slowloris protection).
    pub header_read_timeout_ms: u64,
    /// A request body that sends nothing for this long fails (slow-body protection).
    pub body_idle_timeout_ms: u64,
    /// On SIGTERM: how long running invocations (and streaming bodies) may take to finish
    /// after the node stopped accepting connections.
    pub shutdown_grace_ms: u64,
    /// On SIGTERM, first: how long the node keeps serving with `/readyz` at 503 `draining`,
    /// so a load balancer's health check takes it out before it stops accepting (at least
    /// the balancer's check interval × its fall count). 0: stop accepting at once.
    pub drain_ms: u64,
    /// Connections the kernel queues for `accept` (capped by `net.core.somaxconn`). A burst of
    /// new connections beyond it has SYNs dropped and retried a second later.
    pub listen_backlog: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_upload_bytes: 50 << 20,
            max_request_body_bytes: 10 << 20,
            route_cache_ms: 1000,
            header_read_timeout_ms: 30_000,
            body_idle_timeout_ms: 30_000,
            shutdown_grace_ms: 30_000,
            drain_ms: 0,
            listen_backlog: 4096,
        }
    }
}
