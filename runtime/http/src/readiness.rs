//! `GET /readyz`: whether a load balancer should send this node traffic. Ready means the
//! database answers, the compiled-artifact cache can be written and (when configured) a Kafka
//! broker answers; a draining node (after SIGTERM, for `http.drain_ms`) is not ready while it
//! still serves what reaches it. `/healthz` stays liveness: the process answers.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The node's own part of readiness: whether it is draining.
#[derive(Debug, Default)]
pub struct Readiness {
    draining: AtomicBool,
}

impl Readiness {
    /// From now on `/readyz` answers 503 `draining`.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

#[derive(Serialize)]
pub struct ReadyDto {
    ready: bool,
    draining: bool,
    /// `ok`, `not configured`, or what failed — for `database`, `artifact_cache`, `kafka`.
    checks: BTreeMap<&'static str, String>,
}

async fn within<F: Future<Output = Result<(), String>>>(check: F) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(err)) => err,
        Err(_) => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
    }
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<ReadyDto>) {
    let database = within(async { state.store.ping().await.map_err(|e| e.to_string()) });
    let cache = within(async {
        let host = state.invoker.host().clone();
        tokio::task::spawn_blocking(move || host.cache_ready())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot write the compiled-artifact cache: {e}"))
    });
    let kafka = async {
        match &state.bus {
            Some(bus) => within(bus.reachable()).await,
            None => "not configured".to_owned(),
        }
    };
    let (database, cache, kafka) = tokio::join!(database, cache, kafka);
    let draining = state.readiness.is_draining();
    let healthy = [&database, &cache].iter().all(|c| *c == "ok")
        && (kafka == "ok" || kafka == "not configured");
    let ready = healthy && !draining;
    let checks = BTreeMap::from([
        ("database", database),
        ("artifact_cache", cache),
        ("kafka", kafka),
    ]);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(ReadyDto {
            ready,
            draining,
            checks,
        }),
    )
}
