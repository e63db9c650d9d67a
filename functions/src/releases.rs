//! Aliases, their history, and the route of a call: which version (and canary) answers
//! `tenant/function`, `tenant/function@N` or `tenant/function@alias`.

use crate::catalog::{VersionColumns, activate};
use crate::store::WriteTx;
use crate::{
    ActiveFunction, Error, FunctionId, FunctionName, Result, Store, Tenant, TenantId, TenantName,
    Version, now_ms, stored,
};
use geyser_core::{
    AliasEventKind, AliasName, AliasSpec, CanaryRoute, InvalidAlias, Route, Selector,
};
use std::sync::Arc;

/// An alias as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasInfo {
    pub alias: AliasName,
    /// For `live`, `version` is the active version.
    pub spec: AliasSpec,
    pub updated_at_ms: i64,
}

/// One entry of an alias's history.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasEvent {
    pub at_ms: i64,
    pub kind: AliasEventKind,
    pub version: Version,
    pub canary_version: Option<Version>,
    pub canary_weight: Option<f64>,
    pub detail: String,
}

/// The row of a function's version as a call runs it, with the alias row the call named.
#[derive(sqlx::FromRow)]
struct RouteRow {
    tenant_id: i64,
    tenant_name: String,
    disabled_at_ms: Option<i64>,
    id: i64,
    name: String,
    active_version: i64,
    alias_spec: Option<String>,
    alias_updated_at_ms: Option<i64>,
    #[sqlx(flatten)]
    version: VersionColumns,
}

impl RouteRow {
    fn function(&self) -> Result<ActiveFunction> {
        Ok(ActiveFunction {
            tenant: Tenant {
                id: TenantId(self.tenant_id),
                name: stored(&self.tenant_name)?,
                disabled: self.disabled_at_ms.is_some(),
            },
            function: FunctionId(self.id),
            name: stored(&self.name)?,
            version: Version(self.version.version),
            hash: self.version.hash()?,
            kind: self.version.handlers()?,
            limits: self.version.limits()?,
            config: Arc::new(self.version.config()?),
        })
    }
}

/// `version` `None`: the active one. `alias`: whose spec to read along (`""`: none).
const ROUTE_ROW: &str = "SELECT t.id AS tenant_id, t.name AS tenant_name, t.disabled_at_ms, \
     f.id, f.name, f.active_version, a.spec AS alias_spec, a.updated_at_ms AS alias_updated_at_ms, v.version, \
     v.sha256, v.kind, v.memory_mb, v.timeout_ms, v.cpu_limit_ms, v.public, v.config \
     FROM tenants t JOIN functions f ON f.tenant_id = t.id \
     LEFT JOIN function_aliases a ON a.function_id = f.id AND a.alias = $3 \
     JOIN function_versions v ON v.function_id = f.id AND v.version = COALESCE($4, f.active_version) \
     WHERE t.name = $1 AND f.name = $2";

fn parse_spec(text: &str) -> Result<AliasSpec> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("bad alias spec: {e}")))
}

fn spec_text(spec: &AliasSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| Error::Corrupt(format!("alias spec: {e}")))
}

/// The spec of `live` when it has no row: the active version, nothing else.
fn live_default(active: i64) -> AliasSpec {
    AliasSpec {
        version: active,
        canary: None,
        auto_promote: None,
    }
}

/// An alias as shown: `live`'s version is always the function's active one.
fn shown(alias: AliasName, mut spec: AliasSpec, updated_at_ms: i64, active: Version) -> AliasInfo {
    if alias.is_live() {
        spec.version = active.0;
    }
    AliasInfo {
        alias,
        spec,
        updated_at_ms,
    }
}

#[derive(sqlx::FromRow)]
struct AliasRow {
    alias: String,
    spec: String,
    updated_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    at_ms: i64,
    kind: String,
    version: i64,
    canary_version: Option<i64>,
    canary_weight: Option<f64>,
    detail: String,
}

/// The function's id and active version, or `UnknownFunction`.
async fn function_row(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    name: &FunctionName,
) -> Result<(FunctionId, Version)> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, active_version FROM functions WHERE tenant_id = $1 AND name = $2",
    )
    .bind(tenant.0)
    .bind(name.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let (id, active) = row.ok_or_else(|| Error::UnknownFunction {
        tenant,
        name: name.clone(),
    })?;
    Ok((FunctionId(id), Version(active)))
}

async fn check_version(
    conn: &mut sqlx::AnyConnection,
    function: FunctionId,
    tenant: TenantId,
    name: &FunctionName,
    version: Version,
) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT version FROM function_versions WHERE function_id = $1 AND version = $2",
    )
    .bind(function.0)
    .bind(version.0)
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::UnknownVersion {
            tenant,
            name: name.clone(),
            version,
        }),
    }
}

async fn stored_spec(
    conn: &mut sqlx::AnyConnection,
    function: FunctionId,
    alias: &AliasName,
) -> Result<Option<(AliasSpec, i64)>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT spec, updated_at_ms FROM function_aliases WHERE function_id = $1 AND alias = $2",
    )
    .bind(function.0)
    .bind(alias.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(text, at)| Ok((parse_spec(&text)?, at)))
        .transpose()
}

async fn write_spec(
    conn: &mut sqlx::AnyConnection,
    function: FunctionId,
    alias: &AliasName,
    spec: &AliasSpec,
    at_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO function_aliases (function_id, alias, spec, updated_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (function_id, alias) DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(function.0)
    .bind(alias.as_str())
    .bind(spec_text(spec)?)
    .bind(at_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn add_event(
    conn: &mut sqlx::AnyConnection,
    function: FunctionId,
    alias: &AliasName,
    kind: AliasEventKind,
    spec: &AliasSpec,
    detail: &str,
    at_ms: i64,
) -> Result<()> {
    // The canary's numbers go into the statement as literals: a NULL bound for a float column
    // is sent with a type PostgreSQL may refuse through the Any driver.
    let (canary_version, canary_weight) = match &spec.canary {
        Some(c) if c.weight.is_finite() => (c.version.to_string(), format!("{:?}", c.weight)),
        _ => ("NULL".to_owned(), "NULL".to_owned()),
    };
    let sql = format!(
        "INSERT INTO alias_events (function_id, alias, at_ms, kind, version, canary_version, canary_weight, detail) \
         VALUES ($1, $2, $3, $4, $5, {canary_version}, {canary_weight}, $6)"
    );
    sqlx::query(&sql)
        .bind(function.0)
        .bind(alias.as_str())
        .bind(at_ms)
        .bind(kind.as_str())
        .bind(spec.version)
        .bind(detail)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stores `spec` as `alias`'s setting (for `live`, its version becomes the active one) with an
/// event of `kind`, and commits.
async fn record(
    mut tx: WriteTx,
    function: FunctionId,
    alias: &AliasName,
    spec: AliasSpec,
    kind: AliasEventKind,
    detail: &str,
    now: i64,
) -> Result<AliasInfo> {
    if alias.is_live() {
        activate(&mut tx, function, spec.version()).await?;
    }
    write_spec(&mut tx, function, alias, &spec, now).await?;
    add_event(&mut tx, function, alias, kind, &spec, detail, now).await?;
    tx.commit().await?;
    Ok(AliasInfo {
        alias: alias.clone(),
        spec,
        updated_at_ms: now,
    })
}

/// Whether a new version of the function becomes its active one (`live.auto_promote`).
pub(crate) async fn promotes_new_versions(
    conn: &mut sqlx::AnyConnection,
    function: FunctionId,
) -> Result<bool> {
    Ok(stored_spec(conn, function, &AliasName::live())
        .await?
        .is_none_or(|(spec, _)| spec.auto_promotes()))
}

impl Store {
    /// Sets `alias` of a function: its version (for `live`, the active version) and canary.
    /// Both versions must exist; nothing changes otherwise.
    pub async fn put_alias(
        &self,
        tenant: TenantId,
        name: &FunctionName,
        alias: &AliasName,
        mut spec: AliasSpec,
    ) -> Result<AliasInfo> {
        spec.check()?;
        if !alias.is_live() && spec.auto_promote.is_some() {
            return Err(InvalidAlias(
                "auto_promote: only the alias live follows deploys".to_owned(),
            )
            .into());
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let (function, _) = function_row(&mut tx, tenant, name).await?;
        if spec.auto_promote.is_none()
            && let Some((stored, _)) = stored_spec(&mut tx, function, alias).await?
        {
            spec.auto_promote = stored.auto_promote;
        }
        check_version(&mut tx, function, tenant, name, spec.version()).await?;
        if let Some(canary) = &spec.canary {
            check_version(&mut tx, function, tenant, name, canary.version()).await?;
        }
        record(tx, function, alias, spec, AliasEventKind::Set, "", now).await
    }

    /// Every alias of a function, `live` first.
    pub async fn aliases(&self, tenant: TenantId, name: &FunctionName) -> Result<Vec<AliasInfo>> {
        let mut conn = self.pool.acquire().await?;
        let (function, active) = function_row(&mut conn, tenant, name).await?;
        let rows: Vec<AliasRow> = sqlx::query_as(
            "SELECT alias, spec, updated_at_ms FROM function_aliases WHERE function_id = $1 ORDER BY alias",
        )
        .bind(function.0)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = vec![shown(AliasName::live(), live_default(active.0), 0, active)];
        for row in rows {
            let info = shown(
                stored(&row.alias)?,
                parse_spec(&row.spec)?,
                row.updated_at_ms,
                active,
            );
            if info.alias.is_live() {
                out[0] = info;
            } else {
                out.push(info);
            }
        }
        Ok(out)
    }

    pub async fn alias(
        &self,
        tenant: TenantId,
        name: &FunctionName,
        alias: &AliasName,
    ) -> Result<AliasInfo> {
        let mut conn = self.pool.acquire().await?;
        let (function, active) = function_row(&mut conn, tenant, name).await?;
        match stored_spec(&mut conn, function, alias).await? {
            Some((spec, at)) => Ok(shown(alias.clone(), spec, at, active)),
            None if alias.is_live() => Ok(shown(alias.clone(), live_default(active.0), 0, active)),
            None => Err(Error::UnknownAlias {
                tenant,
                name: name.clone(),
                alias: alias.clone(),
            }),
        }
    }

    /// Removes an alias (its history goes with it). `live` cannot be removed; setting it
    /// without a canary clears its canary.
    pub async fn delete_alias(
        &self,
        tenant: TenantId,
        name: &FunctionName,
        alias: &AliasName,
    ) -> Result<()> {
        if alias.is_live() {
            return Err(InvalidAlias(
                "live is the function's active version and cannot be removed; \
                 set it without a canary to clear its canary"
                    .to_owned(),
            )
            .into());
        }
        let mut tx = self.begin_write().await?;
        let (function, _) = function_row(&mut tx, tenant, name).await?;
        let done =
            sqlx::query("DELETE FROM function_aliases WHERE function_id = $1 AND alias = $2")
                .bind(function.0)
                .bind(alias.as_str())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::UnknownAlias {
                tenant,
                name: name.clone(),
                alias: alias.clone(),
            });
        }
        sqlx::query("DELETE FROM alias_events WHERE function_id = $1 AND alias = $2")
            .bind(function.0)
            .bind(alias.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The canary of `alias` becomes its version (weight 0: no canary left).
    pub async fn promote(
        &self,
        tenant: TenantId,
        name: &FunctionName,
        alias: &AliasName,
    ) -> Result<AliasInfo> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let (function, _) = function_row(&mut tx, tenant, name).await?;
        let no_canary = || InvalidAlias(format!("alias {alias} has no canary to promote"));
        let Some((mut spec, _)) = stored_spec(&mut tx, function, alias).await? else {
            if alias.is_live() {
                return Err(no_canary().into());
            }
            return Err(Error::UnknownAlias {
                tenant,
                name: name.clone(),
                alias: alias.clone(),
            });
        };
        let Some(canary) = spec.canary.take() else {
            return Err(no_canary().into());
        };
        spec.version = canary.version;
        record(tx, function, alias, spec, AliasEventKind::Promoted, "", now).await
    }

    /// Takes the canary's share of `alias` back (weight 0) if it still sends calls to
    /// `canary`, and records why. `false` when it already had (another node was first).
    pub async fn trip_canary(
        &self,
        function: FunctionId,
        alias: &AliasName,
        canary: Version,
        detail: &str,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let Some((mut spec, _)) = stored_spec(&mut tx, function, alias).await? else {
            return Ok(false);
        };
        match spec.canary.as_mut() {
            Some(c) if c.version == canary.0 && c.weight > 0.0 => c.weight = 0.0,
            _ => return Ok(false),
        }
        if alias.is_live() {
            let active: i64 =
                sqlx::query_scalar("SELECT active_version FROM functions WHERE id = $1")
                    .bind(function.0)
                    .fetch_one(&mut *tx)
                    .await?;
            spec.version = active;
        }
        record(
            tx,
            function,
            alias,
            spec,
            AliasEventKind::RolledBack,
            detail,
            now,
        )
        .await?;
        Ok(true)
    }

    /// What happened to `alias`, oldest first (the latest 1,000).
    pub async fn alias_events(
        &self,
        tenant: TenantId,
        name: &FunctionName,
        alias: &AliasName,
    ) -> Result<Vec<AliasEvent>> {
        let mut conn = self.pool.acquire().await?;
        let (function, _) = function_row(&mut conn, tenant, name).await?;
        if !alias.is_live() && stored_spec(&mut conn, function, alias).await?.is_none() {
            return Err(Error::UnknownAlias {
                tenant,
                name: name.clone(),
                alias: alias.clone(),
            });
        }
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT at_ms, kind, version, canary_version, canary_weight, detail FROM alias_events \
             WHERE function_id = $1 AND alias = $2 ORDER BY id DESC LIMIT 1000",
        )
        .bind(function.0)
        .bind(alias.as_str())
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .rev()
            .map(|row| {
                Ok(AliasEvent {
                    at_ms: row.at_ms,
                    kind: stored(&row.kind)?,
                    version: Version(row.version),
                    canary_version: row.canary_version.map(Version),
                    canary_weight: row.canary_weight,
                    detail: row.detail,
                })
            })
            .collect()
    }

    /// What a call to `tenant/function` with `selector` runs; `None` when it names nothing
    /// (no such function, version or alias).
    pub async fn route(
        &self,
        tenant: &TenantName,
        function: &FunctionName,
        selector: &Selector,
    ) -> Result<Option<Route>> {
        let (alias, version) = match selector {
            Selector::Version(v) => (None, Some(*v)),
            Selector::Alias(a) => (Some(a), None),
        };
        let Some(row) = self
            .route_row(
                tenant,
                function,
                alias.map_or("", AliasName::as_str),
                version,
            )
            .await?
        else {
            return Ok(None);
        };
        let Some(alias) = alias else {
            return Ok(Some(Route {
                stable: row.function()?,
                alias: None,
                canary: None,
            }));
        };
        let spec = match &row.alias_spec {
            Some(text) => parse_spec(text)?,
            None if alias.is_live() => live_default(row.active_version),
            None => return Ok(None),
        };
        let stable = if alias.is_live() || spec.version == row.active_version {
            row.function()?
        } else {
            match self
                .route_row(tenant, function, "", Some(spec.version()))
                .await?
            {
                Some(row) => row.function()?,
                None => return Ok(None),
            }
        };
        let row_set_at = row.alias_updated_at_ms.unwrap_or(0);
        let canary = match spec.canary {
            Some(c) if c.weight > 0.0 => self
                .route_row(tenant, function, "", Some(c.version()))
                .await?
                .map(|row| -> Result<CanaryRoute> {
                    Ok(CanaryRoute {
                        function: row.function()?,
                        weight: c.weight,
                        sticky: c.sticky.map(|h| h.to_ascii_lowercase()),
                        rollback_on: c.rollback_on,
                        set_at_ms: row_set_at,
                    })
                })
                .transpose()?,
            _ => None,
        };
        Ok(Some(Route {
            stable,
            alias: Some(alias.clone()),
            canary,
        }))
    }

    async fn route_row(
        &self,
        tenant: &TenantName,
        function: &FunctionName,
        alias: &str,
        version: Option<Version>,
    ) -> Result<Option<RouteRow>> {
        Ok(sqlx::query_as(ROUTE_ROW)
            .bind(tenant.as_str())
            .bind(function.as_str())
            .bind(alias)
            .bind(version.map(|v| v.0))
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The active version of `tenant/function` (its alias `live`'s stable version).
    pub async fn active_function(
        &self,
        tenant: &TenantName,
        function: &FunctionName,
    ) -> Result<Option<ActiveFunction>> {
        self.route_row(tenant, function, "", None)
            .await?
            .map(|row| row.function())
            .transpose()
    }
}
