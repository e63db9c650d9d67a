//! A function version's configuration: its variables, its secrets (sealed: only a
//! [`SecretBox`] opens them) and the hosts it may call. Kept per version, so a rollback
//! restores the configuration with the code.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Most variables (and, separately, secrets) a version may have.
pub const MAX_CONFIG_ENTRIES: usize = 64;
/// Longest value of one variable or secret, in bytes.
pub const MAX_CONFIG_VALUE_BYTES: usize = 4096;
/// Most entries in an allow-list of outbound hosts.
pub const MAX_OUTBOUND_HOSTS: usize = 32;
const MAX_CONFIG_NAME_LEN: usize = 64;
const MAX_HOST_LEN: usize = 253;

/// Why a configuration was refused; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(pub String);

/// The name of a variable or secret: `[A-Z_][A-Z0-9_]*`, at most 64 characters, so it is a
/// valid environment variable name in every guest language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConfigName(String);

impl ConfigName {
    pub fn parse(name: &str) -> Result<Self, InvalidConfig> {
        let mut bytes = name.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if first_ok && rest_ok && name.len() <= MAX_CONFIG_NAME_LEN {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidConfig(format!(
                "invalid name {:?}: use 1 to {MAX_CONFIG_NAME_LEN} characters of A-Z, 0-9 and '_', not starting with a digit",
                name.chars().take(80).collect::<String>()
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ConfigName {
    type Error = InvalidConfig;
    fn try_from(s: String) -> Result<Self, InvalidConfig> {
        Self::parse(&s)
    }
}

impl From<ConfigName> for String {
    fn from(name: ConfigName) -> String {
        name.0
    }
}

/// A value checked against [`MAX_CONFIG_VALUE_BYTES`] and free of NUL bytes (an environment
/// variable cannot hold one).
pub fn check_value(field: &str, name: &ConfigName, value: &str) -> Result<(), InvalidConfig> {
    if value.len() > MAX_CONFIG_VALUE_BYTES {
        return Err(InvalidConfig(format!(
            "{field}.{name}: value of {} bytes exceeds the limit of {MAX_CONFIG_VALUE_BYTES}",
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(InvalidConfig(format!(
            "{field}.{name}: value contains a NUL byte"
        )));
    }
    Ok(())
}

crate::text_enum! {
    /// The scheme of an outbound call.
    pub enum OutboundScheme ("scheme") {
        Http = "http",
        Https = "https",
    }
}

impl OutboundScheme {
    pub fn default_port(self) -> u16 {
        match self {
            OutboundScheme::Http => 80,
            OutboundScheme::Https => 443,
        }
    }
}

/// One entry of `allowed_outbound_hosts`: `scheme://host[:port]`, where `host` may start with
/// `*.` to allow every subdomain (not the domain itself). Without a port, the scheme's default
/// port is the only one allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OutboundHost {
    pub scheme: OutboundScheme,
    /// Lower case; `*.example.com` for a wildcard.
    pub host: String,
    pub port: u16,
    /// Whether the entry gave the port (so it is written back as it was given).
    explicit_port: bool,
}

fn host_label_ok(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl OutboundHost {
    pub fn parse(entry: &str) -> Result<Self, InvalidConfig> {
        let bad = |why: &str| {
            InvalidConfig(format!(
                "allowed_outbound_hosts: {:?} is not scheme://host[:port] ({why})",
                entry.chars().take(120).collect::<String>()
            ))
        };
        let (scheme, rest) = entry.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme: OutboundScheme = scheme
            .parse()
            .map_err(|_| bad("the scheme must be http or https"))?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
                if port == 0 {
                    return Err(bad("bad port"));
                }
                (host, Some(port))
            }
            None => (rest, None),
        };
        let host = host.to_ascii_lowercase();
        let name = host.strip_prefix("*.").unwrap_or(&host);
        if host.len() > MAX_HOST_LEN || !name.split('.').all(host_label_ok) {
            return Err(bad("bad host name; no paths, users or IPv6 literals"));
        }
        Ok(Self {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
            explicit_port: port.is_some(),
        })
    }

    /// Whether a call to `scheme://host:port` is covered by this entry.
    pub fn allows(&self, scheme: OutboundScheme, host: &str, port: u16) -> bool {
        if scheme != self.scheme || port != self.port {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == self.host,
        }
    }
}

impl fmt::Display for OutboundHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.explicit_port {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl TryFrom<String> for OutboundHost {
    type Error = InvalidConfig;
    fn try_from(s: String) -> Result<Self, InvalidConfig> {
        Self::parse(&s)
    }
}

impl From<OutboundHost> for String {
    fn from(host: OutboundHost) -> String {
        host.to_string()
    }
}

/// A secret as it is stored: sealed by the node key. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(pub String);

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// A secret's plaintext, only as long as an invocation is being set up. `Debug` redacts it.
pub struct SecretValue(pub String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(..)")
    }
}

/// A sealed secret that did not open: wrong key, or a stored value that was tampered with.
#[derive(Debug, Clone, thiserror::Error)]
#[error("secret {name} could not be opened with this node's secret key")]
pub struct SecretError {
    pub name: String,
}

/// Seals and opens secrets under the node key. The name is bound to the sealed value, so a
/// sealed value moved to another name does not open.
pub trait SecretBox: Send + Sync {
    fn seal(&self, name: &ConfigName, value: &str) -> SealedSecret;
    fn open(&self, name: &ConfigName, sealed: &SealedSecret) -> Result<SecretValue, SecretError>;
}

/// A version's configuration as it is stored (secrets sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FunctionConfig {
    pub variables: BTreeMap<ConfigName, String>,
    pub secrets: BTreeMap<ConfigName, SealedSecret>,
    pub allowed_outbound_hosts: Vec<OutboundHost>,
}

impl FunctionConfig {
    pub fn is_empty(&self) -> bool {
        self.variables.is_empty()
            && self.secrets.is_empty()
            && self.allowed_outbound_hosts.is_empty()
    }

    /// Whether any entry of the allow-list covers `scheme://host:port`.
    pub fn allows_outbound(&self, scheme: OutboundScheme, host: &str, port: u16) -> bool {
        self.allowed_outbound_hosts
            .iter()
            .any(|entry| entry.allows(scheme, host, port))
    }

    /// The limits every stored configuration keeps: entry counts, and no name that is both a
    /// variable and a secret (a guest would see only one of them).
    pub fn check(&self) -> Result<(), InvalidConfig> {
        if self.variables.len() > MAX_CONFIG_ENTRIES {
            return Err(InvalidConfig(format!(
                "variables: {} entries exceed the limit of {MAX_CONFIG_ENTRIES}",
                self.variables.len()
            )));
        }
        if self.secrets.len() > MAX_CONFIG_ENTRIES {
            return Err(InvalidConfig(format!(
                "secrets: {} entries exceed the limit of {MAX_CONFIG_ENTRIES}",
                self.secrets.len()
            )));
        }
        if self.allowed_outbound_hosts.len() > MAX_OUTBOUND_HOSTS {
            return Err(InvalidConfig(format!(
                "allowed_outbound_hosts: {} entries exceed the limit of {MAX_OUTBOUND_HOSTS}",
                self.allowed_outbound_hosts.len()
            )));
        }
        if let Some(name) = self
            .variables
            .keys()
            .find(|n| self.secrets.contains_key(*n))
        {
            return Err(InvalidConfig(format!(
                "{name} is both a variable and a secret; unset one of them"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_environment_rule() {
        for ok in ["A", "_", "API_KEY", "X1", "_9"] {
            assert!(ConfigName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "1A", "API-KEY", "A B", "É", &"A".repeat(65)] {
            assert!(ConfigName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outbound_hosts_parse_and_match() {
        let exact = OutboundHost::parse("https://api.example.com").unwrap();
        assert!(exact.allows(OutboundScheme::Https, "API.example.com", 443));
        assert!(!exact.allows(OutboundScheme::Https, "api.example.com", 8443));
        assert!(!exact.allows(OutboundScheme::Http, "api.example.com", 443));
        assert!(!exact.allows(OutboundScheme::Https, "x.api.example.com", 443));
        assert_eq!(exact.to_string(), "https://api.example.com");

        let wild = OutboundHost::parse("http://*.example.com:8080").unwrap();
        assert!(wild.allows(OutboundScheme::Http, "a.example.com", 8080));
        assert!(wild.allows(OutboundScheme::Http, "a.b.example.com", 8080));
        assert!(!wild.allows(OutboundScheme::Http, "example.com", 8080));
        assert!(!wild.allows(OutboundScheme::Http, "badexample.com", 8080));
        assert_eq!(wild.to_string(), "http://*.example.com:8080");

        let local = OutboundHost::parse("http://127.0.0.1:9000").unwrap();
        assert!(local.allows(OutboundScheme::Http, "127.0.0.1", 9000));

        for bad in [
            "example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://",
            "https://*.",
            "https://[::1]:80",
            "https://a..b",
        ] {
            assert!(OutboundHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_may_not_be_both_a_variable_and_a_secret() {
        let name = ConfigName::parse("TOKEN").unwrap();
        let mut config = FunctionConfig::default();
        config.variables.insert(name.clone(), "a".into());
        assert!(config.check().is_ok());
        config.secrets.insert(name, SealedSecret("x".into()));
        assert!(config.check().unwrap_err().0.contains("TOKEN"));
    }

    #[test]
    fn stored_form_round_trips_and_refuses_unknown_fields() {
        let mut config = FunctionConfig::default();
        config
            .variables
            .insert(ConfigName::parse("URL").unwrap(), "http://x".into());
        config
            .allowed_outbound_hosts
            .push(OutboundHost::parse("https://*.example.com").unwrap());
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<FunctionConfig>(&text).unwrap(),
            config
        );
        assert!(serde_json::from_str::<FunctionConfig>(r#"{"nope": 1}"#).is_err());
        assert_eq!(
            serde_json::from_str::<FunctionConfig>("{}").unwrap(),
            FunctionConfig::default()
        );
    }
}
