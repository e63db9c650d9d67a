//! Changes one node makes that others must see at once: announced with PostgreSQL's
//! `NOTIFY geyser_changes` after they commit, and received by every node's listener
//! ([`Store::listen_changes`]). Polling (route cache TTL, quota and budget refresh, Kafka
//! reconcile) stays the fallback: a notification missed while a listener reconnects costs at
//! most one polling interval. On SQLite (one machine) there is nothing to announce.

use crate::{Backend, FunctionName, Result, Store, TenantId, TenantName, stored};

/// The PostgreSQL channel every node listens on.
pub const CHANNEL: &str = "geyser_changes";

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A function's versions, aliases or configuration (deploy, rollback, delete, alias set,
    /// promote, canary rolled back, config): its routes are stale.
    Function {
        tenant: TenantName,
        function: FunctionName,
    },
    /// Everything of a tenant (disabled, enabled).
    Tenant { tenant: TenantName },
    /// Quota overrides of some tenant.
    Quotas,
    /// A tenant's budget.
    Budget { tenant: TenantId },
    /// Kafka topic bindings.
    KafkaBindings,
}

impl Change {
    /// The notification's payload: `function tenant name`, `tenant name`, `quotas`,
    /// `budget id`, `kafka`.
    pub fn payload(&self) -> String {
        match self {
            Change::Function { tenant, function } => format!("function {tenant} {function}"),
            Change::Tenant { tenant } => format!("tenant {tenant}"),
            Change::Quotas => "quotas".into(),
            Change::Budget { tenant } => format!("budget {}", tenant.0),
            Change::KafkaBindings => "kafka".into(),
        }
    }

    /// The change a payload names; `None` for one this node does not understand (a newer
    /// node's), which the polling fallback covers.
    pub fn parse(payload: &str) -> Option<Change> {
        let mut words = payload.split(' ');
        let change = match (words.next()?, words.next(), words.next()) {
            ("function", Some(tenant), Some(function)) => Change::Function {
                tenant: stored(tenant).ok()?,
                function: stored(function).ok()?,
            },
            ("tenant", Some(tenant), None) => Change::Tenant {
                tenant: stored(tenant).ok()?,
            },
            ("quotas", None, None) => Change::Quotas,
            ("budget", Some(id), None) => Change::Budget {
                tenant: TenantId(id.parse().ok()?),
            },
            ("kafka", None, None) => Change::KafkaBindings,
            _ => return None,
        };
        words.next().is_none().then_some(change)
    }
}

/// The notifications of [`CHANNEL`], as a PostgreSQL connection of its own receives them.
pub struct ChangeListener {
    listener: sqlx::postgres::PgListener,
}

impl ChangeListener {
    /// The next change. `Ok(None)` after the connection was lost and made again — changes
    /// announced meanwhile are not known, so the caller treats everything as changed.
    pub async fn next(&mut self) -> Result<Option<Change>> {
        loop {
            match self.listener.try_recv().await? {
                Some(notification) => {
                    if let Some(change) = Change::parse(notification.payload()) {
                        return Ok(Some(change));
                    }
                    tracing::debug!(payload = notification.payload(), "unknown change ignored");
                }
                None => return Ok(None),
            }
        }
    }
}

impl Store {
    /// Tells every node listening that `change` was committed (PostgreSQL only).
    pub async fn announce(&self, change: &Change) -> Result<()> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(change.payload())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A listener for the changes other nodes announce; `None` on SQLite.
    pub async fn listen_changes(&self) -> Result<Option<ChangeListener>> {
        let Some(url) = self.url_for_listening() else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeListener { listener }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_reads_back_from_its_payload() {
        for change in [
            Change::Function {
                tenant: TenantName::parse("acme").unwrap(),
                function: FunctionName::parse("hello").unwrap(),
            },
            Change::Tenant {
                tenant: TenantName::parse("acme").unwrap(),
            },
            Change::Quotas,
            Change::Budget {
                tenant: TenantId(7),
            },
            Change::KafkaBindings,
        ] {
            assert_eq!(Change::parse(&change.payload()), Some(change));
        }
        for junk in [
            "",
            "function acme",
            "function a b c",
            "budget x",
            "quotas now",
            "Tenant a",
        ] {
            assert_eq!(Change::parse(junk), None, "{junk:?}");
        }
    }
}
