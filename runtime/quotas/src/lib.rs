//! Per-tenant quotas and fairness: how many functions, how large an artifact, how much memory a
//! function may ask for (checked at deploy), and — per node, on every invocation — a request
//! rate (token bucket) and how many invocations of a tenant, and of each of its functions, may
//! hold instance slots at once. Excess invocations wait for the tenant's own slots (bounded by
//! `engine.queue_timeout_ms` and `engine.max_queued`), so one tenant cannot take every slot of
//! a node and another tenant's calls still find free ones.
//!
//! Defaults come from `[quotas]`; the admin's per-tenant overrides live in the store, and each
//! node keeps a copy refreshed every `quotas.refresh_ms` (a change through a node applies there
//! at once, and reaches the others by notification).
//!
//! The rate and concurrency quotas hold across a cluster: each of N live nodes (counted from
//! their heartbeats in the store, [`QuotaGuard::set_cluster_nodes`]) enforces its share — a
//! rate of `rate / N` with a burst of `burst / N`, `ceil(concurrency / N)` slots — so a balancer
//! that spreads a tenant's calls evenly sees the tenant's quota, not N times it.

mod config;
mod kv;

pub use config::QuotaConfig;
pub use kv::QuotaKv;

pub use geyser_core::Quotas;
use geyser_core::prom::{self, Kind, Scope};
use geyser_core::{Lookup, TtlCache};
use geyser_functions::{FunctionId, QuotaOverrides, Store, Tenant, TenantId, TenantName};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why an invocation was refused before it ran (nothing is metered or billed).
#[derive(Debug, Clone, thiserror::Error)]
pub enum QuotaRefusal {
    #[error(
        "tenant {tenant} exceeded its request rate of {rate} per second; retry in {retry_after_s} s"
    )]
    RateLimited {
        tenant: TenantName,
        rate: f64,
        retry_after_s: u64,
    },
    #[error(
        "tenant {tenant} has {limit} invocations running{scope} and none finished in time; retry later"
    )]
    Concurrency {
        tenant: TenantName,
        limit: u64,
        /// Empty for the tenant's limit, " of this function" for the per-function cap.
        scope: &'static str,
    },
    #[error("too many invocations are waiting for tenant {tenant}'s slots; retry later")]
    QueueFull { tenant: TenantName },
}

impl QuotaRefusal {
    /// Seconds a client should wait before retrying (`Retry-After`).
    pub fn retry_after_s(&self) -> u64 {
        match self {
            QuotaRefusal::RateLimited { retry_after_s, .. } => *retry_after_s,
            QuotaRefusal::Concurrency { .. } | QuotaRefusal::QueueFull { .. } => 1,
        }
    }

    fn reason(&self) -> usize {
        match self {
            QuotaRefusal::RateLimited { .. } => 0,
            QuotaRefusal::Concurrency { .. } => 1,
            QuotaRefusal::QueueFull { .. } => 2,
        }
    }
}

/// Tenants whose kv key count a node keeps.
const KV_COUNT_CAPACITY: usize = 100_000;

/// Refusal reasons in `/metrics`; `kv_keys` counts kv writes refused by the key quota.
const REASONS: [&str; 4] = ["rate", "concurrency", "queue_full", "kv_keys"];

/// Held for as long as an admitted invocation runs; frees the tenant's (and function's) slot.
#[derive(Debug)]
pub struct QuotaPermit {
    _tenant: OwnedSemaphorePermit,
    _function: Option<OwnedSemaphorePermit>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes one token if there is one; else how long until there will be.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Result<(), Duration> {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// A semaphore sized for one limit; replaced when the limit changes.
struct Limited {
    limit: u64,
    slots: Arc<Semaphore>,
}

impl Limited {
    fn new(limit: u64) -> Self {
        let permits = usize::try_from(limit).unwrap_or(Semaphore::MAX_PERMITS);
        Limited {
            limit,
            slots: Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// The semaphore for `limit` (a new one if the limit changed; permits of the old one are
    /// returned to it and it is dropped when the last goes).
    fn for_limit(slot: &mut Option<Limited>, limit: u64) -> Arc<Semaphore> {
        match slot {
            Some(l) if l.limit == limit => l.slots.clone(),
            _ => {
                let l = Limited::new(limit);
                let slots = l.slots.clone();
                *slot = Some(l);
                slots
            }
        }
    }

    fn in_use(&self) -> u64 {
        let permits = usize::try_from(self.limit).unwrap_or(Semaphore::MAX_PERMITS);
        (permits.min(Semaphore::MAX_PERMITS) - self.slots.available_permits()) as u64
    }
}

struct TenantState {
    name: TenantName,
    bucket: Option<Bucket>,
    slots: Option<Limited>,
    functions: HashMap<FunctionId, Limited>,
    waiting: u64,
}

/// A kv write refused because it would create a key over the tenant's quota.
#[derive(Debug, thiserror::Error)]
#[error(
    "kv quota exceeded: the tenant holds {keys} keys, its quota is {limit}; delete keys or overwrite existing ones"
)]
pub struct KvQuotaExceeded {
    pub keys: u64,
    pub limit: u64,
}

/// The node's quota enforcement. One per process, shared by every trigger.
pub struct QuotaGuard {
    defaults: Quotas,
    queue_timeout: Duration,
    max_queued: u64,
    /// Each tenant's kv key count, trusted for `quotas.refresh_ms` far from the quota.
    kv_counts: TtlCache<TenantId, u64>,
    overrides: RwLock<HashMap<TenantId, QuotaOverrides>>,
    /// Bumped by every [`QuotaGuard::set_overrides`]: a refresh that read the database before
    /// a change through this node must not put the old overrides back.
    overrides_generation: AtomicU64,
    tenants: Mutex<HashMap<TenantId, TenantState>>,
    refusals: [AtomicU64; 4],
    /// Live nodes sharing the rate and concurrency quotas (1 on one machine).
    cluster_nodes: AtomicU64,
}

/// One node's part of a tenant's rate and concurrency quotas when `nodes` share them.
fn node_share(quotas: Quotas, nodes: u64) -> Quotas {
    if nodes <= 1 {
        return quotas;
    }
    let slots = |limit: u64| {
        if limit == 0 {
            0
        } else {
            limit.div_ceil(nodes).max(1)
        }
    };
    let n = nodes as f64;
    Quotas {
        rate_per_second: quotas.rate_per_second / n,
        rate_burst: (quotas.burst() / n).ceil().max(1.0) as u64,
        max_concurrency: slots(quotas.max_concurrency),
        max_function_concurrency: slots(quotas.max_function_concurrency),
        ..quotas
    }
}

impl QuotaGuard {
    pub fn new(config: &QuotaConfig, queue_timeout: Duration, max_queued: u64) -> Self {
        QuotaGuard {
            defaults: config.defaults,
            queue_timeout,
            max_queued,
            kv_counts: TtlCache::new(Duration::from_millis(config.refresh_ms), KV_COUNT_CAPACITY),
            overrides: RwLock::new(HashMap::new()),
            overrides_generation: AtomicU64::new(0),
            tenants: Mutex::new(HashMap::new()),
            refusals: Default::default(),
            cluster_nodes: AtomicU64::new(1),
        }
    }

    /// How many live nodes share the rate and concurrency quotas (at least 1).
    pub fn set_cluster_nodes(&self, nodes: u64) {
        let nodes = nodes.max(1);
        if self.cluster_nodes.swap(nodes, Ordering::Relaxed) != nodes {
            tracing::info!(
                nodes,
                "tenant rate and concurrency quotas now shared by this many nodes"
            );
        }
    }

    pub fn cluster_nodes(&self) -> u64 {
        self.cluster_nodes.load(Ordering::Relaxed)
    }

    pub fn defaults(&self) -> Quotas {
        self.defaults
    }

    /// The quotas in force for `tenant` on this node.
    pub fn quotas(&self, tenant: TenantId) -> Quotas {
        let overrides = self
            .overrides
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match overrides.get(&tenant) {
            Some(o) => self.defaults.with(o),
            None => self.defaults,
        }
    }

    /// Reads every tenant's overrides from the store (one query). A refresh that overlapped a
    /// change through this node is discarded (the next one reads the change).
    pub async fn refresh(&self, store: &Store) -> geyser_functions::Result<()> {
        let seen = self.overrides_generation.load(Ordering::Acquire);
        let all: HashMap<_, _> = store.all_quota_overrides().await?.into_iter().collect();
        self.apply_refresh(seen, all);
        Ok(())
    }

    /// Replaces the overrides with `all`, read when the generation was `seen`; returns whether
    /// it did (not if `set_overrides` ran meanwhile).
    fn apply_refresh(&self, seen: u64, all: HashMap<TenantId, QuotaOverrides>) -> bool {
        let mut overrides = self
            .overrides
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.overrides_generation.load(Ordering::Acquire) != seen {
            return false;
        }
        *overrides = all;
        true
    }

    /// Applies a change made through this node at once.
    pub fn set_overrides(&self, tenant: TenantId, overrides: QuotaOverrides) {
        let mut all = self
            .overrides
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.overrides_generation.fetch_add(1, Ordering::AcqRel);
        all.insert(tenant, overrides);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, TenantState>> {
        // Each critical section leaves the map consistent, so a poisoned lock is usable.
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refuse(&self, refusal: QuotaRefusal) -> QuotaRefusal {
        self.refusals[refusal.reason()].fetch_add(1, Ordering::Relaxed);
        refusal
    }

    /// Admits one invocation of `function` of `tenant`: takes a token if `rated` (HTTP
    /// requests), then a tenant slot and a function slot, waiting for them at most the queue
    /// timeout.
    pub async fn admit(
        &self,
        tenant: &Tenant,
        function: FunctionId,
        rated: bool,
    ) -> Result<QuotaPermit, QuotaRefusal> {
        let whole = self.quotas(tenant.id);
        let quotas = node_share(whole, self.cluster_nodes());
        let (tenant_slots, function_slots) = {
            let mut tenants = self.lock();
            let state = tenants.entry(tenant.id).or_insert_with(|| TenantState {
                name: tenant.name.clone(),
                bucket: None,
                slots: None,
                functions: HashMap::new(),
                waiting: 0,
            });
            if rated && quotas.rate_per_second > 0.0 {
                let now = Instant::now();
                let burst = quotas.burst();
                let bucket = state.bucket.get_or_insert(Bucket {
                    tokens: burst,
                    at: now,
                });
                if let Err(wait) = bucket.take(now, quotas.rate_per_second, burst) {
                    return Err(self.refuse(QuotaRefusal::RateLimited {
                        tenant: tenant.name.clone(),
                        rate: whole.rate_per_second,
                        retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
                    }));
                }
            }
            let tenant_slots = Limited::for_limit(&mut state.slots, quotas.max_concurrency);
            let function_slots = (quotas.max_function_concurrency > 0).then(|| {
                let mut slot = state.functions.remove(&function);
                let slots = Limited::for_limit(&mut slot, quotas.max_function_concurrency);
                state
                    .functions
                    .extend(slot.map(|limited| (function, limited)));
                slots
            });
            (tenant_slots, function_slots)
        };

        // Fast path: free slots, no waiting.
        let function_now = match &function_slots {
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(permit) => Some(Some(permit)),
                Err(_) => None,
            },
            None => Some(None),
        };
        if let Some(function_permit) = function_now
            && let Ok(permit) = tenant_slots.clone().try_acquire_owned()
        {
            return Ok(QuotaPermit {
                _tenant: permit,
                _function: function_permit,
            });
        }

        // Wait in the tenant's own queue, bounded in length and time.
        {
            let mut tenants = self.lock();
            let Some(state) = tenants.get_mut(&tenant.id) else {
                return Err(self.refuse(QuotaRefusal::QueueFull {
                    tenant: tenant.name.clone(),
                }));
            };
            if state.waiting >= self.max_queued {
                return Err(self.refuse(QuotaRefusal::QueueFull {
                    tenant: tenant.name.clone(),
                }));
            }
            state.waiting += 1;
        }
        let waited = tokio::time::timeout(self.queue_timeout, async {
            let function_permit = match function_slots {
                Some(slots) => Some(slots.acquire_owned().await.ok()?),
                None => None,
            };
            let tenant_permit = tenant_slots.acquire_owned().await.ok()?;
            Some((tenant_permit, function_permit))
        })
        .await;
        if let Some(state) = self.lock().get_mut(&tenant.id) {
            state.waiting = state.waiting.saturating_sub(1);
        }
        match waited {
            Ok(Some((tenant_permit, function_permit))) => Ok(QuotaPermit {
                _tenant: tenant_permit,
                _function: function_permit,
            }),
            _ => {
                let function_bound = quotas.max_function_concurrency > 0
                    && quotas.max_function_concurrency < quotas.max_concurrency;
                Err(self.refuse(QuotaRefusal::Concurrency {
                    tenant: tenant.name.clone(),
                    limit: if function_bound {
                        whole.max_function_concurrency
                    } else {
                        whole.max_concurrency
                    },
                    scope: if function_bound {
                        " of this function"
                    } else {
                        ""
                    },
                }))
            }
        }
    }

    /// Whether a kv write to `key` (which may create it) stays within `tenant`'s key quota. Far
    /// from the quota (below 90 %) a cached count is trusted for `quotas.refresh_ms`; near it,
    /// every such write counts exactly and, at the quota, is allowed only if the key exists.
    /// Concurrent writes on several nodes may overshoot by the writes in flight.
    pub async fn kv_write(
        &self,
        store: &Store,
        tenant: TenantId,
        key: &str,
    ) -> Result<Result<(), KvQuotaExceeded>, geyser_core::kv::KvError> {
        let limit = self.quotas(tenant).max_kv_keys;
        let near = limit - limit / 10;
        // Far from the quota only one writer per tenant recounts; the others go on with the
        // last figure (a burst must not send a COUNT per write). Near it, every write counts.
        let seen = match self.kv_counts.lookup(&tenant) {
            Lookup::Use(keys) if keys < near => {
                self.kv_counts.update(&tenant, |keys| *keys += 1);
                return Ok(Ok(()));
            }
            Lookup::Pending if near > 0 => return Ok(Ok(())),
            Lookup::Refresh { seen, .. } => seen,
            Lookup::Use(_) | Lookup::Pending => self.kv_counts.generation(),
        };
        let keys = match store.kv_key_count(tenant).await {
            Ok(keys) => keys,
            Err(err) => {
                self.kv_counts.release(&tenant);
                return Err(err);
            }
        };
        self.kv_counts.insert(tenant, keys + 1, seen);
        if keys < limit || store.kv_contains(tenant, key).await? {
            Ok(Ok(()))
        } else {
            self.refusals[3].fetch_add(1, Ordering::Relaxed);
            Ok(Err(KvQuotaExceeded { keys, limit }))
        }
    }

    /// Invocations of `tenant` holding a tenant slot on this node now.
    pub fn in_flight(&self, tenant: TenantId) -> u64 {
        self.lock()
            .get(&tenant)
            .and_then(|s| s.slots.as_ref())
            .map_or(0, Limited::in_use)
    }
}

impl QuotaGuard {
    fn render_refusals(&self, out: &mut String, name: &str) {
        prom::header(
            out,
            name,
            "Invocations refused by a tenant quota, by reason.",
            Kind::Counter,
        );
        for (reason, count) in REASONS.iter().zip(&self.refusals) {
            let labels = format!("reason=\"{reason}\"");
            prom::sample(out, name, &labels, count.load(Ordering::Relaxed) as f64);
        }
    }
}

impl geyser_core::MetricFamilies for QuotaGuard {
    /// `/metrics`: refusals by reason, and per tenant seen on this node its limits and use.
    fn render(&self, out: &mut String, scope: Scope<'_>) {
        const REFUSALS: &str = "geyser_quota_refusals_total";
        if scope.is_node() {
            self.render_refusals(out, REFUSALS);
            const NODES: &str = "geyser_cluster_nodes";
            prom::header(
                out,
                NODES,
                "Live nodes sharing each tenant's rate and concurrency quotas (from heartbeats).",
                Kind::Gauge,
            );
            prom::sample(out, NODES, "", self.cluster_nodes() as f64);
        }
        let mut rows: Vec<(String, u64, u64, Quotas)> = {
            let tenants = self.lock();
            tenants
                .iter()
                .filter(|(_, s)| scope.shows(s.name.as_str()))
                .map(|(id, s)| {
                    (
                        format!("tenant=\"{}\"", prom::escape(s.name.as_str())),
                        s.slots.as_ref().map_or(0, Limited::in_use),
                        s.waiting,
                        self.quotas(*id),
                    )
                })
                .collect()
        };
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        type Read = fn(&(String, u64, u64, Quotas)) -> u64;
        let gauges: [(&str, &str, Read); 2] = [
            (
                "geyser_tenant_in_flight",
                "Invocations of a tenant holding its slots on this node.",
                |row| row.1,
            ),
            (
                "geyser_tenant_waiting",
                "Invocations of a tenant waiting for its slots on this node.",
                |row| row.2,
            ),
        ];
        for (name, help, read) in gauges {
            prom::header(out, name, help, Kind::Gauge);
            for row in &rows {
                prom::sample(out, name, &row.0, read(row) as f64);
            }
        }
        const QUOTA: &str = "geyser_tenant_quota";
        prom::header(
            out,
            QUOTA,
            "A tenant's quota in force (0 = no limit for rates and function concurrency).",
            Kind::Gauge,
        );
        for (tenant, _, _, q) in &rows {
            for (name, value) in q.named() {
                prom::sample(out, QUOTA, &format!("{tenant},quota=\"{name}\""), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_of_n_nodes_takes_its_share_of_rate_and_slots() {
        let quotas = Quotas {
            rate_per_second: 30.0,
            rate_burst: 10,
            max_concurrency: 10,
            max_function_concurrency: 0,
            ..Quotas::default()
        };
        assert_eq!(node_share(quotas, 1), quotas);
        let share = node_share(quotas, 3);
        assert!((share.rate_per_second - 10.0).abs() < 1e-9);
        assert_eq!(share.rate_burst, 4, "ceil(10 / 3)");
        assert_eq!(share.max_concurrency, 4, "ceil(10 / 3)");
        assert_eq!(share.max_function_concurrency, 0, "0 stays unlimited");
        assert_eq!(
            share.max_kv_keys, quotas.max_kv_keys,
            "stored quotas are not shared out"
        );
        // More nodes than slots: every node keeps one.
        assert_eq!(node_share(quotas, 50).max_concurrency, 1);
        assert_eq!(node_share(quotas, 50).rate_burst, 1);
    }
    use geyser_core::MetricFamilies;

    fn tenant(id: i64, name: &str) -> Tenant {
        Tenant {
            id: TenantId(id),
            name: TenantName::parse(name).unwrap(),
            disabled: false,
        }
    }

    #[test]
    fn a_refresh_read_before_a_change_does_not_put_the_old_overrides_back() {
        let guard = guard(QuotaConfig::default());
        let t = TenantId(1);
        let old = QuotaOverrides {
            max_functions: Some(1),
            ..QuotaOverrides::default()
        };
        let new = QuotaOverrides {
            max_functions: Some(7),
            ..QuotaOverrides::default()
        };
        // A refresh reads the database (old value) ...
        let seen = guard.overrides_generation.load(Ordering::Acquire);
        let read = HashMap::from([(t, old)]);
        // ... while the admin's change lands through this node ...
        guard.set_overrides(t, new);
        // ... and the refresh's stale result is discarded.
        assert!(!guard.apply_refresh(seen, read));
        assert_eq!(guard.quotas(t).max_functions, 7);
        // A refresh that overlapped nothing applies.
        let seen = guard.overrides_generation.load(Ordering::Acquire);
        assert!(guard.apply_refresh(seen, HashMap::from([(t, old)])));
        assert_eq!(guard.quotas(t).max_functions, 1);
    }

    fn guard(config: QuotaConfig) -> QuotaGuard {
        QuotaGuard::new(&config, Duration::from_millis(50), 2)
    }

    #[test]
    fn token_bucket_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 2.0,
            at: start,
        };
        assert!(bucket.take(start, 1.0, 2.0).is_ok());
        assert!(bucket.take(start, 1.0, 2.0).is_ok());
        let wait = bucket.take(start, 1.0, 2.0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(
            bucket
                .take(start + Duration::from_millis(999), 1.0, 2.0)
                .is_err()
        );
        assert!(
            bucket
                .take(start + Duration::from_millis(2000), 1.0, 2.0)
                .is_ok()
        );
        // Never more than the burst, however long it was idle.
        let later = start + Duration::from_secs(3600);
        assert!(bucket.take(later, 1.0, 2.0).is_ok());
        assert!(bucket.take(later, 1.0, 2.0).is_ok());
        assert!(bucket.take(later, 1.0, 2.0).is_err());
    }

    #[tokio::test]
    async fn rate_limit_refuses_with_a_retry_time() {
        let guard = guard(QuotaConfig {
            defaults: Quotas {
                rate_per_second: 0.5,
                rate_burst: 1,
                ..Quotas::default()
            },
            ..QuotaConfig::default()
        });
        let t = tenant(1, "a");
        let _first = guard.admit(&t, FunctionId(1), true).await.unwrap();
        let refusal = guard.admit(&t, FunctionId(1), true).await.unwrap_err();
        assert!(
            matches!(refusal, QuotaRefusal::RateLimited { .. }),
            "{refusal}"
        );
        assert_eq!(refusal.retry_after_s(), 2);
        // Unrated triggers (events, ticks) are not rate limited; another tenant has its own bucket.
        assert!(guard.admit(&t, FunctionId(1), false).await.is_ok());
        assert!(
            guard
                .admit(&tenant(2, "b"), FunctionId(2), true)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn concurrency_waits_then_refuses_and_frees_on_drop() {
        let guard = guard(QuotaConfig {
            defaults: Quotas {
                max_concurrency: 2,
                max_function_concurrency: 1,
                ..Quotas::default()
            },
            ..QuotaConfig::default()
        });
        let t = tenant(1, "a");
        let one = guard.admit(&t, FunctionId(1), false).await.unwrap();
        // The function's cap is 1: a second call of it waits, then is refused.
        let refusal = guard.admit(&t, FunctionId(1), false).await.unwrap_err();
        assert!(
            refusal
                .to_string()
                .contains("1 invocations running of this function"),
            "{refusal}"
        );
        // Another function of the tenant still fits under the tenant's 2.
        let two = guard.admit(&t, FunctionId(2), false).await.unwrap();
        assert_eq!(guard.in_flight(t.id), 2);
        assert!(guard.admit(&t, FunctionId(3), false).await.is_err());
        // Another tenant is not affected.
        assert!(
            guard
                .admit(&tenant(2, "b"), FunctionId(9), false)
                .await
                .is_ok()
        );
        drop(one);
        drop(two);
        assert_eq!(guard.in_flight(t.id), 0);
        assert!(guard.admit(&t, FunctionId(1), false).await.is_ok());
        let mut metrics = String::new();
        guard.render(&mut metrics, Scope::Node);
        assert!(
            metrics.contains("geyser_quota_refusals_total{reason=\"concurrency\"} 2"),
            "{metrics}"
        );
        assert!(
            metrics.contains("geyser_tenant_quota{tenant=\"a\",quota=\"max_concurrency\"} 2"),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn overrides_replace_defaults_per_field() {
        let guard = guard(QuotaConfig::default());
        let t = tenant(1, "a");
        guard.set_overrides(
            t.id,
            QuotaOverrides {
                max_functions: Some(3),
                ..QuotaOverrides::default()
            },
        );
        let q = guard.quotas(t.id);
        assert_eq!(q.max_functions, 3);
        assert_eq!(q.max_concurrency, Quotas::default().max_concurrency);
        assert_eq!(guard.quotas(TenantId(2)), guard.defaults());
    }
}
