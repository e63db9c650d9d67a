//! Releases: which version of a function a call runs. A call names the function alone (its
//! alias `live`, the active version), a version (`@3`) or an alias (`@beta`). An alias points at
//! a version and may send a share of its calls to a canary version — at random, or by the hash
//! of a request header so one user stays on one version — and name the error rate and latency
//! at which the node takes the canary's share back by itself.

use crate::{ActiveFunction, InvalidName, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The alias every function has: its active version.
pub const LIVE: &str = "live";

/// Name of an alias: the name rule of functions, and not all digits (`@3` is a version).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);

impl AliasName {
    pub fn parse(name: &str) -> Result<Self, InvalidName> {
        crate::names::check("alias", name)?;
        if name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidName {
                kind: "alias",
                name: name.to_owned(),
            });
        }
        Ok(AliasName(name.to_owned()))
    }

    pub fn live() -> Self {
        AliasName(LIVE.to_owned())
    }

    pub fn is_live(&self) -> bool {
        self.0 == LIVE
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AliasName {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, InvalidName> {
        Self::parse(s)
    }
}

/// What a call names after its function: nothing (`live`), a version, or an alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    Version(Version),
    Alias(AliasName),
}

impl Selector {
    pub fn live() -> Self {
        Selector::Alias(AliasName::live())
    }

    /// The text after `@`: digits are a version (from 1), anything else an alias name.
    pub fn parse(text: &str) -> Result<Self, InvalidName> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<i64>() {
                Ok(n) if n >= 1 => Ok(Selector::Version(Version(n))),
                _ => Err(InvalidName {
                    kind: "version",
                    name: text.chars().take(80).collect(),
                }),
            };
        }
        AliasName::parse(text).map(Selector::Alias)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Version(v) => write!(f, "{}", v.0),
            Selector::Alias(a) => f.write_str(a.as_str()),
        }
    }
}

crate::text_enum! {
    /// What happened to an alias.
    pub enum AliasEventKind ("alias event") {
        /// Set or changed through the API.
        Set = "set",
        /// Its canary became its version.
        Promoted = "promoted",
        /// The node took the canary's share back (the detail says why).
        RolledBack = "rolled-back",
    }
}

/// A rule an alias's setting broke; the text names the field. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAlias(pub String);

/// When the node takes a canary's share back: after `min_requests` calls of the canary in the
/// window, its error rate (trap, timeout, memory limit, 5xx) above `error_rate`, or its p99 wall
/// time above `p99_ms` — each only when the stable version does better over the same window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackOn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<u64>,
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
}

fn default_min_requests() -> u64 {
    20
}

/// The share of an alias's calls that goes to another version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub version: i64,
    pub weight: f64,
    /// A request header whose value's hash decides the version, so one caller stays on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_on: Option<RollbackOn>,
}

impl Canary {
    pub fn version(&self) -> Version {
        Version(self.version)
    }
}

/// An alias's setting, as `PUT /v1/functions/{name}/aliases/{alias}` takes it and the store
/// keeps it (for `live`, `version` is the function's active version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasSpec {
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// `live` only: whether a deploy (or a configuration change) makes its new version the
    /// alias's version. `false` for blue/green: deploy, test on `@N`, then shift. Left out of a
    /// change, it keeps its value (at first, `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promote: Option<bool>,
}

impl AliasSpec {
    /// Whether deploys move the alias (`live` only).
    pub fn auto_promotes(&self) -> bool {
        self.auto_promote.unwrap_or(true)
    }

    pub fn version(&self) -> Version {
        Version(self.version)
    }

    /// The rules that need no database: a weight in [0, 1], a canary other than the version,
    /// a header name, sane rollback thresholds. Whether the versions exist is the store's check.
    pub fn check(&self) -> Result<(), InvalidAlias> {
        let bad = |text: String| Err(InvalidAlias(text));
        if self.version < 1 {
            return bad(format!("version: {} is not a version", self.version));
        }
        let Some(canary) = &self.canary else {
            return Ok(());
        };
        if canary.version < 1 {
            return bad(format!(
                "canary.version: {} is not a version",
                canary.version
            ));
        }
        if canary.version == self.version {
            return bad(format!(
                "canary.version: the canary must differ from the alias's version {}",
                self.version
            ));
        }
        if !(0.0..=1.0).contains(&canary.weight) {
            return bad(format!(
                "canary.weight: {} is outside [0, 1]",
                canary.weight
            ));
        }
        if let Some(header) = &canary.sticky
            && header_name(header).is_none()
        {
            return bad(format!("canary.sticky: {header:?} is not a header name"));
        }
        if let Some(rule) = &canary.rollback_on {
            if rule.error_rate.is_none() && rule.p99_ms.is_none() {
                return bad("canary.rollback_on: name error_rate, p99_ms or both".to_owned());
            }
            if let Some(rate) = rule.error_rate
                && !(0.0..=1.0).contains(&rate)
            {
                return bad(format!(
                    "canary.rollback_on.error_rate: {rate} is outside [0, 1]"
                ));
            }
            if rule.p99_ms == Some(0) {
                return bad("canary.rollback_on.p99_ms: must be above 0".to_owned());
            }
            if rule.min_requests == 0 {
                return bad("canary.rollback_on.min_requests: must be at least 1".to_owned());
            }
        }
        Ok(())
    }
}

/// A header name as HTTP spells it (token characters), lower-cased; `None` if it is not one.
fn header_name(name: &str) -> Option<String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    (!name.is_empty() && name.len() <= 100 && name.bytes().all(token))
        .then(|| name.to_ascii_lowercase())
}

/// The canary of a resolved route.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryRoute {
    pub function: ActiveFunction,
    pub weight: f64,
    /// Lower-cased header name.
    pub sticky: Option<String>,
    pub rollback_on: Option<RollbackOn>,
    /// When the alias was set (a new setting is watched afresh).
    pub set_at_ms: i64,
}

/// What a call resolves to: the version it runs unless the canary takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub stable: ActiveFunction,
    /// The alias the call went through (`None` when it named a version).
    pub alias: Option<AliasName>,
    /// Only when its weight is above zero.
    pub canary: Option<CanaryRoute>,
}

/// Which side of an alias a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Stable,
    Canary,
}

impl Route {
    /// Which side one call goes to. `header` reads a request header (for sticky routing); a
    /// call without the sticky header is routed at random, like one of a non-sticky canary.
    pub fn arm<'h>(&self, header: impl FnOnce(&str) -> Option<&'h [u8]>) -> Arm {
        let Some(canary) = &self.canary else {
            return Arm::Stable;
        };
        let draw = match canary.sticky.as_deref().and_then(header) {
            Some(value) => sticky_draw(self.stable.name.as_str(), value),
            None => rand::random::<f64>(),
        };
        if draw < canary.weight {
            Arm::Canary
        } else {
            Arm::Stable
        }
    }

    /// The version `arm` runs.
    pub fn into_function(self, arm: Arm) -> ActiveFunction {
        match (arm, self.canary) {
            (Arm::Canary, Some(canary)) => canary.function,
            _ => self.stable,
        }
    }

    /// The version a call without request headers runs (a cron tick, a Kafka record, a
    /// manual delivery): the canary takes its share at random.
    pub fn pick_without_headers(self) -> ActiveFunction {
        let arm = self.arm(|_| None);
        self.into_function(arm)
    }
}

/// A number in [0, 1) fixed by the function and the header value, the same on every node.
pub fn sticky_draw(function: &str, value: &[u8]) -> f64 {
    let mut hash = Sha256::new();
    hash.update(function.as_bytes());
    hash.update([0]);
    hash.update(value);
    let digest = hash.finalize();
    let mut top = [0u8; 8];
    top.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(top) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> AliasSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn selectors_are_versions_or_aliases() {
        assert_eq!(Selector::parse("3").unwrap(), Selector::Version(Version(3)));
        assert_eq!(
            Selector::parse("beta").unwrap(),
            Selector::Alias(AliasName::parse("beta").unwrap())
        );
        assert!(Selector::parse("0").is_err());
        assert!(Selector::parse("").is_err());
        assert!(Selector::parse("99999999999999999999").is_err());
        assert!(Selector::parse("Beta").is_err());
        assert!(AliasName::parse("42").is_err());
        assert!(AliasName::parse("v2").is_ok());
    }

    #[test]
    fn alias_rules_name_the_field() {
        assert!(spec(r#"{"version": 1}"#).check().is_ok());
        let err = |json: &str| spec(json).check().unwrap_err().0;
        assert!(
            err(r#"{"version": 1, "canary": {"version": 1, "weight": 0.5}}"#)
                .starts_with("canary.version")
        );
        assert!(
            err(r#"{"version": 1, "canary": {"version": 2, "weight": 1.5}}"#)
                .starts_with("canary.weight")
        );
        assert!(
            err(r#"{"version": 1, "canary": {"version": 2, "weight": -0.1}}"#)
                .starts_with("canary.weight")
        );
        assert!(
            err(r#"{"version": 1, "canary": {"version": 2, "weight": 0.1, "sticky": "a b"}}"#)
                .starts_with("canary.sticky")
        );
        assert!(
            err(r#"{"version": 1, "canary": {"version": 2, "weight": 0.1, "rollback_on": {}}}"#)
                .starts_with("canary.rollback_on")
        );
        assert!(err(r#"{"version": 0}"#).starts_with("version"));
        assert!(serde_json::from_str::<AliasSpec>(r#"{"version": 1, "wieght": 1}"#).is_err());
    }

    #[test]
    fn sticky_draws_are_stable_and_spread() {
        assert_eq!(sticky_draw("f", b"user-1"), sticky_draw("f", b"user-1"));
        let below = (0..4000)
            .filter(|i| sticky_draw("f", format!("user-{i}").as_bytes()) < 0.25)
            .count();
        // 1000 expected; 5 standard deviations (27.4 each) either side.
        assert!((863..=1137).contains(&below), "{below}");
    }
}
