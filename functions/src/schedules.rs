//! Cron schedules bound to functions and the record of their runs. Claiming a tick is an
//! insert into a unique index, so however many nodes try, one runs it.

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
}

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
}

const BINDING_COLUMNS: &str = "id, tenant_id, function_name, name, expression, timezone, payload, missed, overlap, last_handled_ms, alias";

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
}

impl Store {
    /// Creates or replaces the schedule `name` of a function. A new or changed schedule starts
    /// now: ticks before this moment never fire.
    pub async fn put_cron(&self, new: NewCronBinding<'_>) -> Result<CronBinding> {
        let now = new.now_ms;
        sqlx::query(
            "INSERT INTO cron_schedules (tenant_id, function_name, name, expression, timezone, payload, \
             missed, overlap, created_at_ms, last_handled_ms, alias) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) \
             ON CONFLICT (tenant_id, function_name, name) DO UPDATE SET expression = excluded.expression, \
             timezone = excluded.timezone, payload = excluded.payload, missed = excluded.missed, \
             overlap = excluded.overlap, last_handled_ms = excluded.last_handled_ms, alias = excluded.alias",
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

    /// Claims the scheduled tick for this node. `false`: another node has it.
    pub async fn claim_cron_tick(&self, id: ScheduleId, scheduled_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO cron_runs (schedule_id, scheduled_ms, manual, fired_at_ms) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (schedule_id, scheduled_ms) WHERE manual = 0 DO NOTHING",
        )
        .bind(id.0)
        .bind(scheduled_ms)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a manual run (never conflicts with scheduled ones).
    pub async fn record_manual_cron_run(&self, id: ScheduleId, scheduled_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO cron_runs (schedule_id, scheduled_ms, manual, fired_at_ms) VALUES ($1, $2, 1, $3)")
            .bind(id.0)
            .bind(scheduled_ms)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
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

    /// Stores how a run ended.
    pub async fn finish_cron_run(
        &self,
        id: ScheduleId,
        scheduled_ms: i64,
        manual: bool,
        invocation: Option<InvocationId>,
        outcome: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE cron_runs SET invocation_id = $4, outcome = $5, finished_at_ms = $6 \
             WHERE id = (SELECT MAX(id) FROM cron_runs WHERE schedule_id = $1 AND scheduled_ms = $2 AND manual = $3)",
        )
        .bind(id.0)
        .bind(scheduled_ms)
        .bind(i64::from(manual))
        .bind(invocation.map(|i| i.to_string()))
        .bind(outcome)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Most recent runs first.
    pub async fn cron_runs(&self, id: ScheduleId, limit: u32) -> Result<Vec<CronRun>> {
        let rows: Vec<CronRunRow> = sqlx::query_as(
            "SELECT scheduled_ms, manual, fired_at_ms, invocation_id, outcome, finished_at_ms FROM cron_runs \
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
            })
            .collect())
    }
}
