//! Topic names and tenant namespaces: a tenant binds and publishes only topics under
//! `<tenant>.`, so no tenant can read or write another's records.

use crate::TenantName;

/// Why a topic name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error(
        "invalid topic name {0:?}: use 1 to 249 characters from a-z, A-Z, 0-9, '.', '_' and '-'"
    )]
    Invalid(String),
    #[error(
        "topic {topic:?} belongs to another namespace; tenant {tenant} may only use topics starting with \"{tenant}.\""
    )]
    Foreign { tenant: String, topic: String },
}

/// The namespace every topic of `tenant` starts with.
pub fn tenant_prefix(tenant: &TenantName) -> String {
    format!("{tenant}.")
}

/// Kafka's own rules for a topic name.
pub fn check_name(topic: &str) -> Result<(), TopicError> {
    let valid = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(TopicError::Invalid(topic.to_owned()))
    }
}

/// A topic a tenant may bind: valid and under its prefix, with something after the prefix.
pub fn check_owned(tenant: &TenantName, topic: &str) -> Result<(), TopicError> {
    check_name(topic)?;
    let prefix = tenant_prefix(tenant);
    if topic.len() > prefix.len() && topic.starts_with(&prefix) {
        Ok(())
    } else {
        Err(TopicError::Foreign {
            tenant: tenant.to_string(),
            topic: topic.to_owned(),
        })
    }
}

/// The topic a guest's `publish(topic)` writes to: names under the tenant's prefix are kept,
/// any other name is placed under it (`report-ready` → `acme.report-ready`).
pub fn qualify(tenant: &TenantName, topic: &str) -> Result<String, TopicError> {
    let prefix = tenant_prefix(tenant);
    let full = if topic.starts_with(&prefix) {
        topic.to_owned()
    } else {
        format!("{prefix}{topic}")
    };
    check_owned(tenant, &full)?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> TenantName {
        TenantName::parse("acme").unwrap()
    }

    #[test]
    fn tenants_own_their_prefix_only() {
        assert!(check_owned(&acme(), "acme.orders").is_ok());
        assert!(matches!(
            check_owned(&acme(), "globex.orders"),
            Err(TopicError::Foreign { .. })
        ));
        assert!(check_owned(&acme(), "acme.").is_err());
        assert!(check_owned(&acme(), "acmeorders").is_err());
        assert!(matches!(
            check_owned(&acme(), "acme.bad topic"),
            Err(TopicError::Invalid(_))
        ));
    }

    #[test]
    fn publish_names_land_in_the_namespace() {
        assert_eq!(
            qualify(&acme(), "report-ready").unwrap(),
            "acme.report-ready"
        );
        assert_eq!(qualify(&acme(), "acme.x").unwrap(), "acme.x");
        assert_eq!(qualify(&acme(), "globex.x").unwrap(), "acme.globex.x");
        assert!(qualify(&acme(), "no/slash").is_err());
        assert!(qualify(&acme(), "").is_err());
    }
}
