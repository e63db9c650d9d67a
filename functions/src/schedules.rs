//! Cron schedules bound to functions and the record of their runs. Claiming a tick is an
//! insert into a unique index, so however many nodes try, one runs it. A claim is a lease: a
//! run whose node died before recording its end is taken again (same scheduled time) by any
//! node once the lease lapses, and a run ends only through the claim that is still its own.

use crate::stored;
use crate::{
    AliasName, Error, FunctionName, InvocationId, MissedTicks, Overlap, Result, Store, TenantId,
    now_ms,
};

/// Database id of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleId(pub i64);

/// A schedule as stored. Expression and time zone were validated by the scheduler crate before
/// they were stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronBinding {
    pub id: ScheduleId,
    pub tenant: TenantId,
    pub function: FunctionName,
    pub name: String,
    pub expression: String,
    pub timezone: String,
    pub payload: Option<String>,
    pub missed: MissedTicks,
    pub overlap: Overlap,
    pub last_handled_ms: i64,
    /// The alias whose version each tick runs (`live` unless set).
    pub alias: AliasName,
    /// Attempts of a tick that fails or is refused (1: record the failure, no retry).
    pub max_attempts: u32,
}

/// A node's claim on one run of a schedule: the row, the token that proves the claim is still
/// this node's, and which attempt this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronClaim {
    pub run_id: i64,
    pub schedule: ScheduleId,
    pub scheduled_ms: i64,
    pub token: String,
    pub attempts: u32,
}

/// Most runs a scheduler pass takes over from lapsed leases.
const RECLAIM_BATCH: i64 = 100;

/// What a tenant asks for.
#[derive(Debug, Clone)]
pub struct NewCronBinding<'a> {
    pub tenant: TenantId,
    pub function: &'a FunctionName,
    pub name: &'a str,
    pub expression: &'a str,
    pub timezone: &'a str,
    pub payload: Option<&'a str>,
    pub missed: MissedTicks,
    pub overlap: Overlap,
    pub alias: &'a AliasName,
    pub max_attempts: u32,
    /// "Now" on the scheduler's clock: ticks at or before it never fire.
    pub now_ms: i64,
}

/// One run of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRun {
    pub scheduled_ms: i64,
    pub manual: bool,
    pub fired_at_ms: i64,
    pub invocation: Option<String>,
    pub outcome: Option<String>,
    pub finished_at_ms: Option<i64>,
    /// Attempts so far (a retried tick, or one taken over from a node that died).
    pub attempts: u32,
}

const BINDING_COLUMNS: &str = "id, tenant_id, function_name, name, expression, timezone, payload, missed, overlap, last_handled_ms, alias, max_attempts";

#[derive(sqlx::FromRow)]
struct BindingRow {
    id: i64,
    tenant_id: i64,
    function_name: String,
    name: String,
    expression: String,
    timezone: String,
    payload: Option<String>,
    missed: String,
    overlap: String,
    last_handled_ms: i64,
    alias: String,
    max_attempts: i64,
}

impl TryFrom<BindingRow> for CronBinding {
    type Error = Error;
    fn try_from(row: BindingRow) -> Result<CronBinding> {
        Ok(CronBinding {
            id: ScheduleId(row.id),
            tenant: TenantId(row.tenant_id),
            function: stored(&row.function_name)?,
            name: row.name,
            expression: row.expression,
            timezone: row.timezone,
            payload: row.payload,
            missed: row.missed.parse()?,
            overlap: row.overlap.parse()?,
            last_handled_ms: row.last_handled_ms,
            alias: stored(&row.alias)?,
            max_attempts: u32::try_from(row.max_attempts).unwrap_or(1).max(1),
        })
    }
}

#[derive(sqlx::FromRow)]
struct CronRunRow {
    scheduled_ms: i64,
    manual: i64,
    fired_at_ms: i64,
    invocation_id: Option<String>,
    outcome: Option<String>,
    finished_at_ms: Option<i64>,
    attempts: i64,
}

#[derive(sqlx::FromRow)]
struct LapsedRow {
    id: i64,
    schedule_id: i64,
    scheduled_ms: i64,
    claim: String,
    attempts: i64,
}

fn new_token() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Creates or replaces the schedule `name` of a function. A new or changed schedule starts
    /// now: ticks before this moment never fire.
    pub async fn put_cron(&self, new: NewCronBinding<'_>) -> Result<CronBinding> {
        let now = new.now_ms;
        sqlx::query(
            "INSERT INTO cron_schedules (tenant_id, function_name, name, expression, timezone, payload, \
             missed, overlap, created_at_ms, last_handled_ms, alias, max_attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) \
             ON CONFLICT (tenant_id, function_name, name) DO UPDATE SET expression = excluded.expression, \
             timezone = excluded.timezone, payload = excluded.payload, missed = excluded.missed, \
             overlap = excluded.overlap, last_handled_ms = excluded.last_handled_ms, alias = excluded.alias, \
             max_attempts = excluded.max_attempts",
        )
        .bind(new.tenant.0)
        .bind(new.function.as_str())
        .bind(new.name)
        .bind(new.expression)
        .bind(new.timezone)
        .bind(new.payload)
        .bind(new.missed.as_str())
        .bind(new.overlap.as_str())
        .bind(now)
        .bind(new.alias.as_str())
        .bind(i64::from(new.max_attempts))
        .execute(&self.pool)
        .await?;
        self.cron(new.tenant, new.function, new.name)
            .await?
            .ok_or_else(|| Error::Corrupt("schedule vanished after upsert".into()))
    }

    pub async fn cron(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        name: &str,
    ) -> Result<Option<CronBinding>> {
        let sql = format!(
            "SELECT {BINDING_COLUMNS} FROM cron_schedules WHERE tenant_id = $1 AND function_name = $2 AND name = $3"
        );
        let row: Option<BindingRow> = sqlx::query_as(&sql)
            .bind(tenant.0)
            .bind(function.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(CronBinding::try_from).transpose()
    }

    pub async fn list_cron(
        &self,
        tenant: TenantId,
        function: &FunctionName,
    ) -> Result<Vec<CronBinding>> {
        let sql = format!(
            "SELECT {BINDING_COLUMNS} FROM cron_schedules WHERE tenant_id = $1 AND function_name = $2 ORDER BY name"
        );
        let rows: Vec<BindingRow> = sqlx::query_as(&sql)
            .bind(tenant.0)
            .bind(function.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(CronBinding::try_from).collect()
    }

    /// Every schedule of every tenant: what a scheduler pass looks at.
    pub async fn all_cron(&self) -> Result<Vec<CronBinding>> {
        let sql = format!("SELECT {BINDING_COLUMNS} FROM cron_schedules ORDER BY id");
        let rows: Vec<BindingRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(CronBinding::try_from).collect()
    }

    /// Returns whether it existed.
    pub async fn delete_cron(
        &self,
        tenant: TenantId,
        function: &FunctionName,
        name: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM cron_schedules WHERE tenant_id = $1 AND function_name = $2 AND name = $3",
        )
        .bind(tenant.0)
        .bind(function.as_str())
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves the schedule's handled mark forward (never back).
    pub async fn advance_cron(&self, id: ScheduleId, handled_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE cron_schedules SET last_handled_ms = $2 WHERE id = $1 AND last_handled_ms < $2",
        )
        .bind(id.0)
        .bind(handled_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims the scheduled tick for this node until `lease_until_ms`. `None`: another node
    /// has it (or had it).
    pub async fn claim_cron_tick(
        &self,
        id: ScheduleId,
        scheduled_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<CronClaim>> {
        let token = new_token();
        let run_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO cron_runs (schedule_id, scheduled_ms, manual, fired_at_ms, claim, \
             lease_until_ms, attempts) VALUES ($1, $2, 0, $3, $4, $5, 1) \
             ON CONFLICT (schedule_id, scheduled_ms) WHERE manual = 0 DO NOTHING RETURNING id",
        )
        .bind(id.0)
        .bind(scheduled_ms)
        .bind(now_ms())
        .bind(&token)
        .bind(lease_until_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(run_id.map(|run_id| CronClaim {
            run_id,
            schedule: id,
            scheduled_ms,
            token,
            attempts: 1,
        }))
    }

    /// Records a manual run (never conflicts with scheduled ones, never taken over).
    pub async fn record_manual_cron_run(
        &self,
        id: ScheduleId,
        scheduled_ms: i64,
    ) -> Result<CronClaim> {
        let token = new_token();
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO cron_runs (schedule_id, scheduled_ms, manual, fired_at_ms, claim, attempts) \
             VALUES ($1, $2, 1, $3, $4, 1) RETURNING id",
        )
        .bind(id.0)
        .bind(scheduled_ms)
        .bind(now_ms())
        .bind(&token)
        .fetch_one(&self.pool)
        .await?;
        Ok(CronClaim {
            run_id,
            schedule: id,
            scheduled_ms,
            token,
            attempts: 1,
        })
    }

    /// Takes over scheduled runs whose lease lapsed before they ended — their node died, or a
    /// failed tick's retry is due — each with a fresh claim until `lease_until_ms` and one more
    /// attempt. Several nodes may look at once; each run goes to one of them.
    pub async fn reclaim_cron_runs(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<CronClaim>> {
        let lapsed: Vec<LapsedRow> = sqlx::query_as(
            "SELECT id, schedule_id, scheduled_ms, claim, attempts FROM cron_runs \
             WHERE finished_at_ms IS NULL AND manual = 0 AND lease_until_ms < $1 \
             ORDER BY lease_until_ms LIMIT $2",
        )
        .bind(now_ms)
        .bind(RECLAIM_BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut claims = Vec::new();
        for row in lapsed {
            let token = new_token();
            let taken = sqlx::query(
                "UPDATE cron_runs SET claim = $3, lease_until_ms = $4, attempts = attempts + 1, \
                 fired_at_ms = $5 WHERE id = $1 AND claim = $2 AND finished_at_ms IS NULL",
            )
            .bind(row.id)
            .bind(&row.claim)
            .bind(&token)
            .bind(lease_until_ms)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() == 1 {
                claims.push(CronClaim {
                    run_id: row.id,
                    schedule: ScheduleId(row.schedule_id),
                    scheduled_ms: row.scheduled_ms,
                    token,
                    attempts: u32::try_from(row.attempts + 1).unwrap_or(u32::MAX),
                });
            }
        }
        Ok(claims)
    }

    /// Extends a claim's lease (before a run that may outlast it). `false`: the claim is lost.
    pub async fn extend_cron_lease(&self, claim: &CronClaim, lease_until_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE cron_runs SET lease_until_ms = $3 WHERE id = $1 AND claim = $2 \
             AND finished_at_ms IS NULL",
        )
        .bind(claim.run_id)
        .bind(&claim.token)
        .bind(lease_until_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Leaves a failed run for another attempt at `next_at_ms` (its lease lapses then), with
    /// this attempt's outcome. `false`: the claim is lost.
    pub async fn retry_cron_run(
        &self,
        claim: &CronClaim,
        invocation: Option<InvocationId>,
        outcome: &str,
        next_at_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE cron_runs SET invocation_id = $3, outcome = $4, lease_until_ms = $5 \
             WHERE id = $1 AND claim = $2 AND finished_at_ms IS NULL",
        )
        .bind(claim.run_id)
        .bind(&claim.token)
        .bind(invocation.map(|i| i.to_string()))
        .bind(outcome)
        .bind(next_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a run of the schedule for another tick, started after `since_ms`, has not
    /// finished.
    pub async fn cron_run_in_progress(
        &self,
        id: ScheduleId,
        since_ms: i64,
        except_scheduled_ms: i64,
    ) -> Result<bool> {
        let running: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM cron_runs \
             WHERE schedule_id = $1 AND finished_at_ms IS NULL AND fired_at_ms > $2 AND scheduled_ms <> $3",
        )
        .bind(id.0)
        .bind(since_ms)
        .bind(except_scheduled_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(running > 0)
    }

    /// Stores how a run ended, only through the claim that is still this node's. `false`: the
    /// claim was taken over (the lease lapsed) and the run's end is the other node's to record.
    pub async fn finish_cron_run(
        &self,
        claim: &CronClaim,
        invocation: Option<InvocationId>,
        outcome: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE cron_runs SET invocation_id = $3, outcome = $4, finished_at_ms = $5, \
             lease_until_ms = NULL WHERE id = $1 AND claim = $2 AND finished_at_ms IS NULL",
        )
        .bind(claim.run_id)
        .bind(&claim.token)
        .bind(invocation.map(|i| i.to_string()))
        .bind(outcome)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Most recent runs first.
    pub async fn cron_runs(&self, id: ScheduleId, limit: u32) -> Result<Vec<CronRun>> {
        let rows: Vec<CronRunRow> = sqlx::query_as(
            "SELECT scheduled_ms, manual, fired_at_ms, invocation_id, outcome, finished_at_ms, attempts FROM cron_runs \
             WHERE schedule_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(id.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| CronRun {
                scheduled_ms: row.scheduled_ms,
                manual: row.manual != 0,
                fired_at_ms: row.fired_at_ms,
                invocation: row.invocation_id,
                outcome: row.outcome,
                finished_at_ms: row.finished_at_ms,
                attempts: u32::try_from(row.attempts).unwrap_or(0),
            })
            .collect())
    }
}
