//! Functions and their versions: deploy, list, inspect, roll back, delete, and the lookup the
//! gateway does on every invocation.

use crate::artifacts::put_artifact;
use crate::releases::promotes_new_versions;
use crate::stored;
use crate::{
    ArtifactHash, Error, FunctionConfig, FunctionId, FunctionLimits, FunctionName, Handlers,
    Result, Store, TenantId, Version, now_ms,
};
use geyser_core::InvalidConfig;

/// What a deploy stores: a validated component for a tenant's function.
#[derive(Debug)]
pub struct DeployRequest<'a> {
    pub tenant: TenantId,
    pub name: &'a FunctionName,
    pub bytes: &'a [u8],
    pub hash: &'a ArtifactHash,
    pub kind: Handlers,
    pub limits: FunctionLimits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub function: FunctionId,
    pub version: Version,
    /// Whether the new version became the active one (`live`); not when the function's
    /// alias `live` has `auto_promote: false`.
    pub live: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: Version,
    pub hash: ArtifactHash,
    pub kind: Handlers,
    pub limits: FunctionLimits,
    pub config: FunctionConfig,
    pub created_at_ms: i64,
    /// Size of the uploaded component.
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    pub id: FunctionId,
    pub name: FunctionName,
    pub active_version: Version,
    pub created_at_ms: i64,
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
}

impl FunctionInfo {
    pub fn active(&self) -> Option<&VersionInfo> {
        self.versions
            .iter()
            .find(|v| v.version == self.active_version)
    }
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(what.to_string())
}

/// The columns of one version that every query about a version reads.
#[derive(sqlx::FromRow)]
pub(crate) struct VersionColumns {
    pub(crate) version: i64,
    sha256: String,
    kind: String,
    memory_mb: i64,
    timeout_ms: i64,
    cpu_limit_ms: Option<i64>,
    public: i64,
    config: String,
}

impl VersionColumns {
    pub(crate) fn config(&self) -> Result<FunctionConfig> {
        serde_json::from_str(&self.config).map_err(|e| corrupt(format!("bad function config: {e}")))
    }

    pub(crate) fn limits(&self) -> Result<FunctionLimits> {
        Ok(FunctionLimits {
            memory_mb: u32::try_from(self.memory_mb).map_err(corrupt)?,
            timeout_ms: u64::try_from(self.timeout_ms).map_err(corrupt)?,
            cpu_limit_ms: self
                .cpu_limit_ms
                .map(u64::try_from)
                .transpose()
                .map_err(corrupt)?,
            public: self.public != 0,
        })
    }

    pub(crate) fn hash(&self) -> Result<ArtifactHash> {
        ArtifactHash::parse(&self.sha256)
            .ok_or_else(|| corrupt(format!("bad artifact hash {:?}", self.sha256)))
    }

    pub(crate) fn handlers(&self) -> Result<Handlers> {
        Ok(Handlers::parse(&self.kind)?)
    }
}

const FUNCTION_ROWS: &str = "SELECT f.id, f.name, f.active_version, f.created_at_ms, \
     v.version, v.sha256, v.kind, v.memory_mb, v.timeout_ms, v.cpu_limit_ms, v.public, v.config, v.created_at_ms AS version_created_at_ms, \
     COALESCE(a.size_bytes, 0) AS size_bytes \
     FROM functions f JOIN function_versions v ON v.function_id = f.id \
     LEFT JOIN artifacts a ON a.sha256 = v.sha256 \
     WHERE f.tenant_id = $1";

/// One row of [`FUNCTION_ROWS`]: a function with one of its versions.
#[derive(sqlx::FromRow)]
struct FunctionVersionRow {
    id: i64,
    name: String,
    active_version: i64,
    created_at_ms: i64,
    #[sqlx(flatten)]
    version: VersionColumns,
    version_created_at_ms: i64,
    size_bytes: i64,
}

/// Folds rows ordered by (function name, version) into functions with their versions.
fn fold_functions(rows: Vec<FunctionVersionRow>) -> Result<Vec<FunctionInfo>> {
    let mut out: Vec<FunctionInfo> = Vec::new();
    for row in rows {
        let id = FunctionId(row.id);
        let version = VersionInfo {
            version: Version(row.version.version),
            hash: row.version.hash()?,
            kind: row.version.handlers()?,
            limits: row.version.limits()?,
            config: row.version.config()?,
            created_at_ms: row.version_created_at_ms,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
        };
        match out.last_mut() {
            Some(last) if last.id == id => last.versions.push(version),
            _ => out.push(FunctionInfo {
                id,
                name: stored(&row.name)?,
                active_version: Version(row.active_version),
                created_at_ms: row.created_at_ms,
                versions: vec![version],
            }),
        }
    }
    Ok(out)
}

/// A function's active version, as [`Store::configure`] reads it.
#[derive(sqlx::FromRow)]
struct ActiveVersionRow {
    id: i64,
    #[sqlx(flatten)]
    version: VersionColumns,
}

/// The number the function's next version gets.
async fn next_version(tx: &mut sqlx::AnyConnection, function: FunctionId) -> Result<Version> {
    Ok(Version(
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) AS next FROM function_versions WHERE function_id = $1",
        )
        .bind(function.0)
        .fetch_one(&mut *tx)
        .await?,
    ))
}

/// Makes `version` the one the function runs.
pub(crate) async fn activate(
    tx: &mut sqlx::AnyConnection,
    function: FunctionId,
    version: Version,
) -> Result<()> {
    sqlx::query("UPDATE functions SET active_version = $1 WHERE id = $2")
        .bind(version.0)
        .bind(function.0)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl Store {
    /// Stores the artifact (once per content hash) and adds a new version, which becomes active
    /// unless the function's alias `live` has `auto_promote: false`.
    pub async fn deploy(&self, req: DeployRequest<'_>) -> Result<Deployed> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        put_artifact(&mut tx, req.hash, req.bytes).await?;
        sqlx::query(
            "INSERT INTO functions (tenant_id, name, active_version, created_at_ms) \
             VALUES ($1, $2, 0, $3) ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(req.tenant.0)
        .bind(req.name.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let function = FunctionId(
            sqlx::query_scalar("SELECT id FROM functions WHERE tenant_id = $1 AND name = $2")
                .bind(req.tenant.0)
                .bind(req.name.as_str())
                .fetch_one(&mut *tx)
                .await?,
        );
        let version = next_version(&mut tx, function).await?;
        let inserted = sqlx::query(
            "INSERT INTO function_versions \
             (function_id, version, sha256, memory_mb, timeout_ms, public, created_at_ms, kind, \
              cpu_limit_ms, config) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE( \
               (SELECT a.config FROM function_versions a JOIN functions f \
                ON a.function_id = f.id AND a.version = f.active_version WHERE f.id = $1), '{}')) \
             ON CONFLICT (function_id, version) DO NOTHING",
        )
        .bind(function.0)
        .bind(version.0)
        .bind(req.hash.as_str())
        .bind(i64::from(req.limits.memory_mb))
        .bind(i64::try_from(req.limits.timeout_ms).unwrap_or(i64::MAX))
        .bind(i64::from(req.limits.public))
        .bind(now)
        .bind(req.kind.to_text())
        .bind(
            req.limits
                .cpu_limit_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        )
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::Conflict(req.name.clone()));
        }
        let live = version.0 == 1 || promotes_new_versions(&mut tx, function).await?;
        if live {
            activate(&mut tx, function, version).await?;
        }
        tx.commit().await?;
        Ok(Deployed {
            function,
            version,
            live,
        })
    }

    /// Adds a version with the active version's artifact, handlers and limits and the
    /// configuration `change` makes of the active one's; it becomes active as a deploy's does. Deploying an
    /// artifact later keeps this configuration, and rolling back restores the previous one.
    pub async fn configure(
        &self,
        tenant: TenantId,
        name: &FunctionName,
        change: impl FnOnce(&FunctionConfig) -> Result<FunctionConfig, InvalidConfig>,
    ) -> Result<(Deployed, FunctionConfig)> {
        let mut tx = self.begin_write().await?;
        let active: Option<ActiveVersionRow> = sqlx::query_as(
            "SELECT f.id, v.version, v.sha256, v.kind, v.memory_mb, v.timeout_ms, v.cpu_limit_ms, \
             v.public, v.config \
             FROM functions f JOIN function_versions v \
             ON v.function_id = f.id AND v.version = f.active_version \
             WHERE f.tenant_id = $1 AND f.name = $2",
        )
        .bind(tenant.0)
        .bind(name.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(active) = active else {
            return Err(Error::UnknownFunction {
                tenant,
                name: name.clone(),
            });
        };
        let config = change(&active.version.config()?)?;
        config.check()?;
        let text = serde_json::to_string(&config)
            .map_err(|e| corrupt(format!("config does not serialize: {e}")))?;
        let function = FunctionId(active.id);
        let version = next_version(&mut tx, function).await?;
        let v = &active.version;
        sqlx::query(
            "INSERT INTO function_versions \
             (function_id, version, sha256, memory_mb, timeout_ms, public, created_at_ms, kind, config, \
              cpu_limit_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(function.0)
        .bind(version.0)
        .bind(&v.sha256)
        .bind(v.memory_mb)
        .bind(v.timeout_ms)
        .bind(v.public)
        .bind(now_ms())
        .bind(&v.kind)
        .bind(text)
        .bind(v.cpu_limit_ms)
        .execute(&mut *tx)
        .await?;
        let live = promotes_new_versions(&mut tx, function).await?;
        if live {
            activate(&mut tx, function, version).await?;
        }
        tx.commit().await?;
        Ok((
            Deployed {
                function,
                version,
                live,
            },
            config,
        ))
    }

    /// Every function of a tenant with all its versions, ordered by name.
    pub async fn list_functions(&self, tenant: TenantId) -> Result<Vec<FunctionInfo>> {
        let sql = format!("{FUNCTION_ROWS} ORDER BY f.name, v.version");
        let rows = sqlx::query_as(&sql)
            .bind(tenant.0)
            .fetch_all(&self.pool)
            .await?;
        fold_functions(rows)
    }

    pub async fn function(&self, tenant: TenantId, name: &FunctionName) -> Result<FunctionInfo> {
        let sql = format!("{FUNCTION_ROWS} AND f.name = $2 ORDER BY v.version");
        let rows = sqlx::query_as(&sql)
            .bind(tenant.0)
            .bind(name.as_str())
            .fetch_all(&self.pool)
            .await?;
        fold_functions(rows)?
            .pop()
            .ok_or_else(|| Error::UnknownFunction {
                tenant,
                name: name.clone(),
            })
    }

    /// Deletes a function, all its versions and its cron triggers. Artifacts stay (they are
    /// shared by content) and so do invocation records (they are what the tenant is billed on).
    pub async fn delete_function(&self, tenant: TenantId, name: &FunctionName) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM functions WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.0)
                .bind(name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            return Err(Error::UnknownFunction {
                tenant,
                name: name.clone(),
            });
        };
        sqlx::query("DELETE FROM function_versions WHERE function_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM functions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Its triggers go with it (their run history too); a later function of the same name
        // starts without schedules.
        sqlx::query(
            "DELETE FROM cron_runs WHERE schedule_id IN \
             (SELECT id FROM cron_schedules WHERE tenant_id = $1 AND function_name = $2)",
        )
        .bind(tenant.0)
        .bind(name.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM cron_schedules WHERE tenant_id = $1 AND function_name = $2")
            .bind(tenant.0)
            .bind(name.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM function_async_settings WHERE tenant_id = $1 AND function_name = $2",
        )
        .bind(tenant.0)
        .bind(name.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM kafka_bindings WHERE tenant_id = $1 AND function_name = $2")
            .bind(tenant.0)
            .bind(name.as_str())
            .execute(&mut *tx)
            .await?;
        for table in ["function_aliases", "alias_events"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE function_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes an existing version the active one.
    pub async fn rollback(
        &self,
        tenant: TenantId,
        name: &FunctionName,
        version: Version,
    ) -> Result<()> {
        // One statement: the check that the version exists and the switch happen together,
        // so a concurrent delete cannot make this answer Ok with nothing changed.
        let done = sqlx::query(
            "UPDATE functions SET active_version = $1 \
             WHERE tenant_id = $2 AND name = $3 AND EXISTS \
             (SELECT 1 FROM function_versions v WHERE v.function_id = functions.id AND v.version = $1)",
        )
        .bind(version.0)
        .bind(tenant.0)
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        // Nothing changed: say why (the function is gone, or never had that version).
        self.function(tenant, name).await?;
        Err(Error::UnknownVersion {
            tenant,
            name: name.clone(),
            version,
        })
    }
}
