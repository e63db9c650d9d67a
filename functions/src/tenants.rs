//! Tenants and their API keys.

use crate::{ApiKey, Error, Result, Store, TenantId, TenantName, now_ms};
use sqlx::Row;

/// A tenant as the rest of the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: TenantName,
}

/// A freshly created tenant with its key: the only moment the plaintext key exists.
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub api_key: ApiKey,
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant> {
    let name: String = row.try_get("name")?;
    Ok(Tenant {
        id: TenantId(row.try_get("id")?),
        name: TenantName::parse(&name).map_err(|e| Error::Corrupt(e.to_string()))?,
    })
}

impl Store {
    /// Creates a tenant with a new random API key; the key is returned once and stored hashed.
    pub async fn create_tenant(&self, name: &TenantName) -> Result<CreatedTenant> {
        let api_key = ApiKey::generate();
        let row = sqlx::query(
            "INSERT INTO tenants (name, api_key_hash, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name.as_str())
        .bind(api_key.hash().as_str())
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(Error::TenantExists(name.clone()));
        };
        Ok(CreatedTenant {
            tenant: Tenant {
                id: TenantId(row.try_get("id")?),
                name: name.clone(),
            },
            api_key,
        })
    }

    /// The tenant owning `key`, if any.
    pub async fn tenant_by_key(&self, key: &ApiKey) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name FROM tenants WHERE api_key_hash = $1")
            .bind(key.hash().as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn tenant_by_name(&self, name: &TenantName) -> Result<Tenant> {
        let row = sqlx::query("SELECT id, name FROM tenants WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => tenant_from_row(&row),
            None => Err(Error::UnknownTenant(name.clone())),
        }
    }

    pub async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name FROM tenants WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }
}
