//! Validated names of tenants and functions: `[a-z0-9-]{1,63}`, so they are safe in URLs,
//! topic prefixes and log lines without escaping.

use std::fmt;

/// A name that broke the naming rule.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {kind} name {name:?}: use 1 to 63 characters of a-z, 0-9 and '-'")]
pub struct InvalidName {
    pub kind: &'static str,
    pub name: String,
}

pub(crate) fn check(kind: &'static str, name: &str) -> Result<(), InvalidName> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InvalidName {
            kind,
            name: name.chars().take(80).collect(),
        })
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(name: &str) -> Result<Self, InvalidName> {
                check($kind, name)?;
                Ok(Self(name.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, InvalidName> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// Deserialized through [`Self::parse`]: a stored or sent name that breaks the rule is
        /// refused.
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// Name of a tenant, unique across the installation.
    TenantName,
    "tenant"
);
name_type!(
    /// Name of a function, unique within its tenant.
    FunctionName,
    "function"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(TenantName::parse("acme-2").is_ok());
        assert!(TenantName::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        for bad in ["", "Acme", "a_b", "a/b", "é", &"a".repeat(64)] {
            let err = FunctionName::parse(bad).unwrap_err();
            assert_eq!(err.kind, "function");
        }
    }
}
