//! `[quotas]`: the per-tenant quotas every tenant gets unless the admin overrides them
//! (`PUT /v1/quotas?tenant=NAME`), and how often a node rereads the overrides.

use geyser_core::Quotas;
use serde::{Deserialize, Deserializer};

/// The section: every field of [`Quotas`] (the defaults) beside `refresh_ms`.
#[derive(Debug, Clone)]
pub struct QuotaConfig {
    pub defaults: Quotas,
    /// How often a node rereads the admin's overrides (a change through the node applies at once).
    pub refresh_ms: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            defaults: Quotas::default(),
            refresh_ms: 1000,
        }
    }
}

/// `refresh_ms` is taken out of the table and the rest must be exactly [`Quotas`]' fields
/// (serde's `flatten` would silently accept a misspelt quota).
impl<'de> Deserialize<'de> for QuotaConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(deserializer)?;
        let refresh_ms = match table.remove("refresh_ms") {
            None => QuotaConfig::default().refresh_ms,
            Some(value) => u64::deserialize(value).map_err(D::Error::custom)?,
        };
        let defaults = Quotas::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(QuotaConfig {
            defaults,
            refresh_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_reads_quotas_and_refresh_and_refuses_a_misspelt_key() {
        let config: QuotaConfig =
            toml::from_str("max_concurrency = 7\nrefresh_ms = 250\nrate_per_second = 1.5").unwrap();
        assert_eq!(config.defaults.max_concurrency, 7);
        assert_eq!(config.defaults.rate_per_second, 1.5);
        assert_eq!(
            config.defaults.max_functions,
            Quotas::default().max_functions
        );
        assert_eq!(config.refresh_ms, 250);
        let err = toml::from_str::<QuotaConfig>("max_concurency = 7").unwrap_err();
        assert!(err.to_string().contains("max_concurency"), "{err}");
        let err = toml::from_str::<QuotaConfig>("refresh_ms = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }
}
