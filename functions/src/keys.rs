//! API keys: random secrets shown once, stored only as SHA-256 hashes.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Tenant keys start with this, so a leaked key is recognisable (secret scanners, logs).
pub const PREFIX: &str = "gy_";
/// Keys created before `gy_` keys; still accepted.
const LEGACY_PREFIX: &str = "gsk_";

/// A plaintext API key. Only ever held briefly: when created (to show it once) or when a
/// request presents it. Its `Debug` output is redacted so it never reaches a log.
#[derive(Clone)]
pub struct ApiKey(String);

/// SHA-256 of an API key, hex encoded; what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKey {
    /// A new random key: `gy_` + 32 random bytes (256 bits) in lowercase hex.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", hex::encode(bytes)))
    }

    /// Whether the key has the shape of a tenant key: `gy_` (or the older `gsk_`) and 64
    /// lowercase hex digits. Anything else cannot be a key and is refused before a lookup.
    pub fn is_well_formed(&self) -> bool {
        let digits = self
            .0
            .strip_prefix(PREFIX)
            .or_else(|| self.0.strip_prefix(LEGACY_PREFIX));
        digits.is_some_and(|d| {
            d.len() == 64
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }

    /// What may be shown of a key after its creation: the prefix and the first 8 digits, enough
    /// to tell keys apart, far too little to guess the rest (224 unknown bits remain).
    pub fn display_prefix(&self) -> String {
        let digits_start = if self.0.starts_with(PREFIX) {
            PREFIX.len()
        } else {
            LEGACY_PREFIX.len()
        };
        self.0.chars().take(digits_start + 8).collect()
    }

    pub fn from_presented(key: &str) -> Self {
        Self(key.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// Constant-time comparison, for checking the admin key.
    pub fn matches(&self, other: &ApiKey) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_hash_stably() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), ApiKey::from_presented(a.expose()).hash());
        assert!(a.matches(&ApiKey::from_presented(a.expose())));
        assert!(!a.matches(&b));
        assert_eq!(format!("{a:?}"), "ApiKey(<redacted>)");
    }

    #[test]
    fn keys_are_prefixed_and_checked_for_shape() {
        let key = ApiKey::generate();
        assert!(key.expose().starts_with("gy_"));
        assert_eq!(key.expose().len(), 3 + 64);
        assert!(key.is_well_formed());
        assert_eq!(key.display_prefix(), key.expose()[..11]);
        let legacy = ApiKey::from_presented(&format!("gsk_{}", "a".repeat(64)));
        assert!(legacy.is_well_formed());
        assert_eq!(legacy.display_prefix(), "gsk_aaaaaaaa");
        for bad in [
            "",
            "gy_",
            "gy_abc",
            &format!("gy_{}", "A".repeat(64)),
            &format!("gy_{}", "a".repeat(65)),
            &format!("xx_{}", "a".repeat(64)),
            &format!("gy_{}é", "a".repeat(62)),
        ] {
            assert!(!ApiKey::from_presented(bad).is_well_formed(), "{bad}");
        }
    }
}
