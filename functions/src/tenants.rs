//! Tenants, their API keys (several per tenant, each revocable) and whether a tenant is disabled.

use crate::{ApiKey, Error, KeyId, Result, Store, Tenant, TenantId, TenantName, now_ms};

/// A freshly created tenant with its key: the only moment the plaintext key exists.
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub api_key: ApiKey,
}

/// An API key as it may be shown after its creation: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: KeyId,
    /// `gy_` and the first 8 digits.
    pub prefix: String,
    pub name: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A key created through the API: its description and the plaintext, shown once.
#[derive(Debug)]
pub struct CreatedKey {
    pub info: KeyInfo,
    pub api_key: ApiKey,
}

/// What a presented key turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    Tenant(Tenant),
    Revoked,
    Unknown,
}

/// Longest key name.
pub const MAX_KEY_NAME_CHARS: usize = 64;

const TENANT_COLUMNS: &str = "t.id, t.name, t.disabled_at_ms";

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: i64,
    name: String,
    disabled_at_ms: Option<i64>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = Error;
    fn try_from(row: TenantRow) -> Result<Tenant> {
        Ok(Tenant {
            id: TenantId(row.id),
            name: crate::stored(&row.name)?,
            disabled: row.disabled_at_ms.is_some(),
        })
    }
}

/// A key joined with its tenant ([`Store::lookup_key`]).
#[derive(sqlx::FromRow)]
struct KeyOwnerRow {
    #[sqlx(flatten)]
    tenant: TenantRow,
    revoked_at_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    prefix: String,
    name: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl From<KeyRow> for KeyInfo {
    fn from(row: KeyRow) -> KeyInfo {
        KeyInfo {
            id: KeyId(row.id),
            prefix: row.prefix,
            name: row.name,
            created_at_ms: row.created_at_ms,
            revoked_at_ms: row.revoked_at_ms,
        }
    }
}

impl Store {
    /// Creates a tenant with a new random API key; the key is returned once and stored hashed.
    pub async fn create_tenant(&self, name: &TenantName) -> Result<CreatedTenant> {
        let api_key = ApiKey::generate();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO tenants (name, api_key_hash, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name.as_str())
        .bind(api_key.hash().as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id.map(TenantId) else {
            return Err(Error::TenantExists(name.clone()));
        };
        insert_key(&mut tx, id, &api_key, "initial", now).await?;
        tx.commit().await?;
        Ok(CreatedTenant {
            tenant: Tenant {
                id,
                name: name.clone(),
                disabled: false,
            },
            api_key,
        })
    }

    /// Who owns `key`: a tenant, a revoked key, or nobody. One indexed lookup by the key's
    /// SHA-256 (the secret itself is never compared byte by byte).
    pub async fn lookup_key(&self, key: &ApiKey) -> Result<KeyLookup> {
        let row: Option<KeyOwnerRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS}, k.revoked_at_ms FROM api_keys k \
             JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1"
        ))
        .bind(key.hash().as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(KeyLookup::Unknown);
        };
        if row.revoked_at_ms.is_some() {
            return Ok(KeyLookup::Revoked);
        }
        Ok(KeyLookup::Tenant(row.tenant.try_into()?))
    }

    /// A new key for `tenant`, named `name` (for the owner's bookkeeping).
    pub async fn create_key(&self, tenant: TenantId, name: &str) -> Result<CreatedKey> {
        let api_key = ApiKey::generate();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let id = insert_key(&mut tx, tenant, &api_key, name, now).await?;
        tx.commit().await?;
        Ok(CreatedKey {
            info: KeyInfo {
                id,
                prefix: api_key.display_prefix(),
                name: name.to_owned(),
                created_at_ms: now,
                revoked_at_ms: None,
            },
            api_key,
        })
    }

    /// Every key of `tenant`, revoked ones included, oldest first.
    pub async fn list_keys(&self, tenant: TenantId) -> Result<Vec<KeyInfo>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, prefix, name, created_at_ms, revoked_at_ms FROM api_keys \
             WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(KeyInfo::from).collect())
    }

    /// Revokes `key` of `tenant` (at once, on every node: keys are looked up per request).
    /// Revoking a revoked key keeps its first revocation time.
    pub async fn revoke_key(&self, tenant: TenantId, key: KeyId) -> Result<KeyInfo> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE id = $2 AND tenant_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms())
        .bind(key.0)
        .bind(tenant.0)
        .execute(&mut *tx)
        .await?;
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT id, prefix, name, created_at_ms, revoked_at_ms FROM api_keys \
             WHERE id = $1 AND tenant_id = $2",
        )
        .bind(key.0)
        .bind(tenant.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match row {
            Some(row) => Ok(row.into()),
            None => Err(Error::UnknownKey(key)),
        }
    }

    /// Disables or re-enables a tenant; its functions, keys and data are kept either way.
    pub async fn set_tenant_disabled(&self, name: &TenantName, disabled: bool) -> Result<Tenant> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tenants SET disabled_at_ms = CASE WHEN $1 = 1 \
             THEN COALESCE(disabled_at_ms, $2) ELSE NULL END WHERE name = $3",
        )
        .bind(i64::from(disabled))
        .bind(now_ms())
        .bind(name.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Err(Error::UnknownTenant(name.clone()));
        }
        self.tenant_by_name(name).await
    }

    pub async fn tenant_by_name(&self, name: &TenantName) -> Result<Tenant> {
        let row: Option<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.name = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => row.try_into(),
            None => Err(Error::UnknownTenant(name.clone())),
        }
    }

    pub async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        let row: Option<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Tenant::try_from).transpose()
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows: Vec<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants t ORDER BY t.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Tenant::try_from).collect()
    }
}

async fn insert_key(
    tx: &mut crate::store::WriteTx,
    tenant: TenantId,
    key: &ApiKey,
    name: &str,
    now: i64,
) -> Result<KeyId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (tenant_id, prefix, key_hash, name, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(tenant.0)
    .bind(key.display_prefix())
    .bind(key.hash().as_str())
    .bind(name)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(KeyId(id))
}
