//! The asynchronous invocation queue (`async_invocations`) and each function's asynchronous
//! settings. A row is written before its 202 answer; a worker takes it (`claim`: status
//! `running`, a claim token and a lease; `FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's one
//! writer elsewhere), and ends it with [`Store::end_queued`] in the transaction that also holds
//! the invocation's kv writes — a token that no longer holds the row (its lease ran out and
//! another worker took it) rolls everything back, so no invocation's kv effects apply twice.

use crate::kv::KvTransaction;
use crate::{
    Backend, Error, FunctionName, InvocationId, Outcome, Result, Selector, Store, TenantId,
    TenantName, Version, now_ms, stored,
};
use geyser_core::{QueuedRequest, QueuedSettings, QueuedStatus};

/// An invocation to queue.
#[derive(Debug, Clone)]
pub struct NewQueued {
    pub id: InvocationId,
    pub tenant: TenantId,
    pub tenant_name: TenantName,
    pub function: FunctionName,
    pub selector: Selector,
    pub request: QueuedRequest,
    pub body: Vec<u8>,
    pub max_attempts: u32,
    pub max_age_ms: u64,
}

/// A queued invocation as stored.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: InvocationId,
    pub tenant: TenantId,
    pub tenant_name: TenantName,
    pub function: FunctionName,
    pub selector: Selector,
    pub request: QueuedRequest,
    pub body: Vec<u8>,
    pub status: QueuedStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub accepted_at_ms: i64,
    pub expires_at_ms: i64,
    pub next_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    /// What the latest attempt left.
    pub last: AttemptResult,
}

/// A queued invocation a worker took, with the token that proves it still holds it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub queued: Queued,
    pub claim: String,
}

/// What an attempt left, for its row.
#[derive(Debug, Clone, Default)]
pub struct AttemptResult {
    pub invocation: Option<InvocationId>,
    pub version: Option<Version>,
    pub outcome: Option<Outcome>,
    pub http_status: Option<u16>,
    pub response: Vec<u8>,
    pub response_truncated: bool,
    pub error: Option<String>,
}

/// How an attempt ends its row.
#[derive(Debug, Clone)]
pub enum QueuedEnd {
    /// Ended for good (succeeded, failed, expired); `report` is a destination's part, written
    /// in the same transaction: another invocation to queue, or a topic record to publish.
    Final {
        status: QueuedStatus,
        report: Option<Report>,
    },
    /// Back to the queue for another attempt at `next_at_ms`.
    Retry { next_at_ms: i64 },
    /// Refused before it ran (a quota, the budget, no slot): back to the queue without using
    /// an attempt.
    Release { next_at_ms: i64 },
}

/// A destination's report of an ended invocation.
#[derive(Debug, Clone)]
pub enum Report {
    /// An event to another function of the tenant, queued in the same transaction.
    Invoke(Box<NewQueued>),
    /// A record for a topic, kept on the row until it is published.
    Publish { topic: String, payload: String },
}

/// A tenant's queue: invocations waiting or running, and the oldest one's acceptance.
#[derive(Debug, Clone)]
pub struct QueueDepth {
    pub tenant: TenantName,
    pub depth: u64,
    pub oldest_accepted_at_ms: i64,
}

/// A topic report not yet published (see [`Report::Publish`]).
#[derive(Debug, Clone)]
pub struct PendingReport {
    pub id: InvocationId,
    pub tenant: TenantName,
    pub topic: String,
    pub payload: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PendingJson {
    topic: String,
    payload: String,
}

#[derive(sqlx::FromRow)]
struct QueuedRow {
    id: String,
    tenant_id: i64,
    tenant_name: String,
    function_name: String,
    selector: String,
    request: String,
    body: Vec<u8>,
    status: String,
    attempts: i64,
    max_attempts: i64,
    accepted_at_ms: i64,
    expires_at_ms: i64,
    next_at_ms: i64,
    claim: Option<String>,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    last_invocation: Option<String>,
    version: Option<i64>,
    outcome: Option<String>,
    http_status: Option<i64>,
    response: Option<Vec<u8>>,
    response_truncated: i64,
    error: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, tenant_name, function_name, selector, request, body, \
     status, attempts, max_attempts, accepted_at_ms, expires_at_ms, next_at_ms, claim, \
     started_at_ms, finished_at_ms, last_invocation, version, outcome, http_status, response, \
     response_truncated, error";

fn invocation_id(text: &str) -> Result<InvocationId> {
    uuid::Uuid::parse_str(text)
        .map(InvocationId)
        .map_err(|e| Error::Corrupt(format!("{e} in {text:?}")))
}

impl QueuedRow {
    fn into_queued(self) -> Result<(Queued, Option<String>)> {
        let request: QueuedRequest = serde_json::from_str(&self.request)
            .map_err(|e| Error::Corrupt(format!("queued request: {e}")))?;
        let queued = Queued {
            id: invocation_id(&self.id)?,
            tenant: TenantId(self.tenant_id),
            tenant_name: stored(&self.tenant_name)?,
            function: stored(&self.function_name)?,
            selector: Selector::parse(&self.selector)
                .map_err(|e| Error::Corrupt(format!("{e} in {:?}", self.selector)))?,
            request,
            body: self.body,
            status: stored(&self.status)?,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            max_attempts: u32::try_from(self.max_attempts).unwrap_or(1),
            accepted_at_ms: self.accepted_at_ms,
            expires_at_ms: self.expires_at_ms,
            next_at_ms: self.next_at_ms,
            started_at_ms: self.started_at_ms,
            finished_at_ms: self.finished_at_ms,
            last: AttemptResult {
                invocation: self
                    .last_invocation
                    .as_deref()
                    .map(invocation_id)
                    .transpose()?,
                version: self.version.map(Version),
                outcome: self.outcome.as_deref().map(stored).transpose()?,
                http_status: self.http_status.and_then(|s| u16::try_from(s).ok()),
                response: self.response.unwrap_or_default(),
                response_truncated: self.response_truncated != 0,
                error: self.error,
            },
        };
        Ok((queued, self.claim))
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `waiting or running` as SQL.
const OPEN: &str = "status IN ('queued', 'running')";

async fn insert(conn: &mut sqlx::AnyConnection, new: &NewQueued, max_queued: u64) -> Result<bool> {
    let request = serde_json::to_string(&new.request)
        .map_err(|e| Error::Corrupt(format!("queued request: {e}")))?;
    let now = now_ms();
    let done = sqlx::query(&format!(
        "INSERT INTO async_invocations (id, tenant_id, tenant_name, function_name, selector, \
         kind, request, body, status, attempts, max_attempts, accepted_at_ms, expires_at_ms, \
         next_at_ms, response_truncated) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10, $11, $10, 0 \
         WHERE (SELECT COUNT(*) FROM async_invocations WHERE tenant_id = $2 AND {OPEN}) < $12"
    ))
    .bind(new.id.0.to_string())
    .bind(new.tenant.0)
    .bind(new.tenant_name.as_str())
    .bind(new.function.as_str())
    .bind(new.selector.to_string())
    .bind(new.request.kind().as_str())
    .bind(request)
    .bind(new.body.as_slice())
    .bind(i64::from(new.max_attempts))
    .bind(now)
    .bind(now.saturating_add(count(new.max_age_ms)))
    .bind(count(max_queued))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Queues invocations in one transaction (group commit), each unless its tenant already
    /// has `max_queued` waiting or running (counting the ones before it): one answer per
    /// invocation, in order (`false`: not written). Committed when this returns.
    pub async fn enqueue_many(&self, items: &[(NewQueued, u64)]) -> Result<Vec<bool>> {
        let mut tx = self.begin_write().await?;
        let mut accepted = Vec::with_capacity(items.len());
        for (new, max_queued) in items {
            accepted.push(insert(&mut tx, new, *max_queued).await?);
        }
        tx.commit().await?;
        Ok(accepted)
    }

    /// Takes up to `limit` invocations that are due (queued, or running with a lease that ran
    /// out), oldest due first, for `lease_ms`, skipping the tenants in `skip`. Each taken row
    /// counts one more attempt.
    pub async fn claim_queued(
        &self,
        limit: u32,
        lease_ms: u64,
        skip: &[TenantId],
    ) -> Result<Vec<Claimed>> {
        let now = now_ms();
        let claim = uuid::Uuid::now_v7().to_string();
        // Tenant ids are integers: inlined, since the Any driver binds no arrays.
        let skip = if skip.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = skip.iter().map(|t| t.0.to_string()).collect();
            format!(" AND tenant_id NOT IN ({})", ids.join(", "))
        };
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let rows: Vec<QueuedRow> = sqlx::query_as(&format!(
            "UPDATE async_invocations SET status = 'running', claim = $1, \
             lease_until_ms = $2, attempts = attempts + 1, \
             started_at_ms = COALESCE(started_at_ms, $3) \
             WHERE id IN (SELECT id FROM async_invocations \
               WHERE ((status = 'queued' AND next_at_ms <= $3) \
                  OR (status = 'running' AND lease_until_ms < $3)){skip} \
               ORDER BY next_at_ms LIMIT $4{lock}) \
             RETURNING {COLUMNS}"
        ))
        .bind(&claim)
        .bind(now.saturating_add(count(lease_ms)))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|row| {
                let (queued, claim) = row.into_queued()?;
                Ok(Claimed {
                    queued,
                    claim: claim.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Keeps a claim until `until_ms` (for a function whose timeout outlasts the lease);
    /// `false` when the claim no longer holds the row.
    pub async fn extend_claim(&self, id: InvocationId, claim: &str, until_ms: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE async_invocations SET lease_until_ms = $1 \
             WHERE id = $2 AND claim = $3 AND status = 'running'",
        )
        .bind(until_ms)
        .bind(id.0.to_string())
        .bind(claim)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends an attempt in `kv`'s transaction (the invocation's kv writes, or a fresh one for an
    /// attempt whose writes must not apply): the row's new state, and for a final end its
    /// report. `false`: `claim` no longer holds the row — everything rolled back.
    pub async fn end_queued(
        &self,
        mut kv: KvTransaction,
        claimed: &Claimed,
        result: &AttemptResult,
        end: &QueuedEnd,
    ) -> Result<bool> {
        let now = now_ms();
        let (status, next_at_ms, finished, attempts_back, report) = match end {
            QueuedEnd::Final { status, report } => (*status, None, Some(now), 0, report.as_ref()),
            QueuedEnd::Retry { next_at_ms } => {
                (QueuedStatus::Queued, Some(*next_at_ms), None, 0, None)
            }
            QueuedEnd::Release { next_at_ms } => {
                (QueuedStatus::Queued, Some(*next_at_ms), None, 1, None)
            }
        };
        let pending = match report {
            Some(Report::Publish { topic, payload }) => Some(
                serde_json::to_string(&PendingJson {
                    topic: topic.clone(),
                    payload: payload.clone(),
                })
                .map_err(|e| Error::Corrupt(format!("report: {e}")))?,
            ),
            _ => None,
        };
        let conn = kv.connection().await?;
        let done = sqlx::query(
            "UPDATE async_invocations SET status = $1, claim = NULL, lease_until_ms = NULL, \
             next_at_ms = COALESCE($2, next_at_ms), finished_at_ms = $3, \
             attempts = attempts - $4, \
             last_invocation = COALESCE($5, last_invocation), version = COALESCE($6, version), \
             outcome = COALESCE($7, outcome), http_status = $8, response = $9, \
             response_truncated = $10, error = $11, pending_destination = $12 \
             WHERE id = $13 AND claim = $14 AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(next_at_ms)
        .bind(finished)
        .bind(attempts_back)
        .bind(result.invocation.map(|id| id.0.to_string()))
        .bind(result.version.map(|v| v.0))
        .bind(result.outcome.map(|o| o.as_str()))
        .bind(result.http_status.map(i64::from))
        .bind(result.response.as_slice())
        .bind(i64::from(result.response_truncated))
        .bind(result.error.clone())
        .bind(pending)
        .bind(claimed.queued.id.0.to_string())
        .bind(&claimed.claim)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            kv.rollback().await?;
            return Ok(false);
        }
        if let Some(Report::Invoke(next)) = report {
            // A report is never refused by the queue quota: it stands for work already accepted.
            insert(&mut *conn, next, u64::MAX >> 1).await?;
        }
        // With the invocation's buffered kv writes (SQLite): `commit` writes them out first.
        kv.commit().await?;
        Ok(true)
    }

    /// `tenant`'s queued invocation `id` (another tenant's is `None`).
    pub async fn queued(&self, tenant: TenantId, id: InvocationId) -> Result<Option<Queued>> {
        let row: Option<QueuedRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM async_invocations WHERE id = $1 AND tenant_id = $2"
        ))
        .bind(id.0.to_string())
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.into_queued().map(|(queued, _)| queued))
            .transpose()
    }

    /// Every tenant's open queue (waiting or running), for gauges.
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT tenant_name, COUNT(*) AS depth, MIN(accepted_at_ms) AS oldest \
             FROM async_invocations WHERE {OPEN} GROUP BY tenant_name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(tenant, depth, oldest)| {
                Ok(QueueDepth {
                    tenant: stored(&tenant)?,
                    depth: u64::try_from(depth).unwrap_or(0),
                    oldest_accepted_at_ms: oldest,
                })
            })
            .collect()
    }

    /// `tenant`'s open queue depth (for `/v1/quotas`).
    pub async fn queue_depth(&self, tenant: TenantId) -> Result<u64> {
        self.open_count(tenant, None).await
    }

    /// The open queue depth of one of `tenant`'s functions.
    pub async fn function_queue_depth(
        &self,
        tenant: TenantId,
        function: &FunctionName,
    ) -> Result<u64> {
        self.open_count(tenant, Some(function)).await
    }

    async fn open_count(&self, tenant: TenantId, function: Option<&FunctionName>) -> Result<u64> {
        let only = if function.is_some() {
            " AND function_name = $2"
        } else {
            ""
        };
        let sql = format!(
            "SELECT COUNT(*) AS n FROM async_invocations WHERE tenant_id = $1 AND {OPEN}{only}"
        );
        let mut query = sqlx::query_scalar(&sql).bind(tenant.0);
        if let Some(function) = function {
            query = query.bind(function.as_str());
        }
        let n: i64 = query.fetch_one(&self.pool).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Topic reports of invocations that ended before `ended_before_ms` and are not yet
    /// published (their worker stopped before it published them).
    pub async fn pending_reports(
        &self,
        ended_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<PendingReport>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, tenant_name, pending_destination FROM async_invocations \
             WHERE pending_destination IS NOT NULL AND finished_at_ms < $1 LIMIT $2",
        )
        .bind(ended_before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, tenant, pending)| {
                let pending: PendingJson = serde_json::from_str(&pending)
                    .map_err(|e| Error::Corrupt(format!("pending report: {e}")))?;
                Ok(PendingReport {
                    id: invocation_id(&id)?,
                    tenant: stored(&tenant)?,
                    topic: pending.topic,
                    payload: pending.payload,
                })
            })
            .collect()
    }

    /// Marks a topic report published.
    pub async fn report_published(&self, id: InvocationId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE async_invocations SET pending_destination = NULL WHERE id = $1")
            .bind(id.0.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Forgets invocations that ended before `before_ms` (and reported where they had to).
    pub async fn prune_queued(&self, before_ms: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM async_invocations WHERE finished_at_ms < $1 \
             AND pending_destination IS NULL",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// A function's asynchronous settings (the defaults when it has none).
    pub async fn queued_settings(
        &self,
        tenant: TenantId,
        function: &FunctionName,
    ) -> Result<QueuedSettings> {
        let spec: Option<String> = sqlx::query_scalar(
            "SELECT spec FROM function_async_settings WHERE tenant_id = $1 AND function_name = $2",
        )
        .bind(tenant.0)
        .bind(function.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match spec {
            Some(spec) => serde_json::from_str(&spec)
                .map_err(|e| Error::Corrupt(format!("async settings: {e}"))),
            None => Ok(QueuedSettings::default()),
        }
    }

    /// Replaces a function's asynchronous settings (checked by the caller).
    pub async fn put_queued_settings(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        settings: &QueuedSettings,
    ) -> Result<()> {
        let spec = serde_json::to_string(settings)
            .map_err(|e| Error::Corrupt(format!("async settings: {e}")))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO function_async_settings (tenant_id, function_name, spec, updated_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, function_name) \
             DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.0)
        .bind(function.as_str())
        .bind(spec)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
}
