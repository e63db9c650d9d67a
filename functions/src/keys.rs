//! API keys: random secrets shown once, stored only as SHA-256 hashes.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// A plaintext API key. Only ever held briefly: when created (to show it once) or when a
/// request presents it. Its `Debug` output is redacted so it never reaches a log.
#[derive(Clone)]
pub struct ApiKey(String);

/// SHA-256 of an API key, hex encoded; what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKey {
    /// A new random key: `gsk_` + 32 random bytes in hex.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("gsk_{}", hex::encode(bytes)))
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
}
