//! The node key and what it does: seal a function's secret before it is stored, open it when
//! an invocation is set up. XChaCha20-Poly1305 (random 192-bit nonce per value) with the
//! secret's name as associated data, so a sealed value neither changes nor moves to another
//! name unnoticed. Nodes of one cluster share the key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use geyser_core::{ConfigName, SealedSecret, SecretBox, SecretError, SecretValue};
use rand::RngCore;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// `[secrets]`: where the node key comes from. `GEYSER_SECRET_KEY` (read by the binary into
/// `key`) wins; else `key_file`; else `<data-dir>/secret.key`, generated (mode 0600) on first
/// start. A key file that does not exist is generated too.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    pub key_file: Option<PathBuf>,
    /// The key itself (hex), from the environment only — never from the config file.
    #[serde(skip)]
    pub key: Option<String>,
}

impl fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("key_file", &self.key_file)
            .field("key", &self.key.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Bytes of a node key.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// Prefix of every sealed value: the format, so a later one can be told apart.
const FORMAT: &str = "v1:";
/// What the key check seals: a database remembers it to tell a wrong key at start.
const CHECK_NAME: &str = "GEYSER_KEY_CHECK";
const CHECK_TEXT: &str = "geyser secret key check";

/// A key that is not 32 bytes of hex.
#[derive(Debug, thiserror::Error)]
#[error("the secret key must be {KEY_BYTES} bytes as {} hex digits (got {got})", KEY_BYTES * 2)]
pub struct BadKey {
    got: String,
}

/// The node key. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct NodeKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeKey(..)")
    }
}

impl NodeKey {
    /// A key from its hex form (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<NodeKey, BadKey> {
        let text = text.trim();
        let bytes = hex::decode(text).ok().filter(|b| b.len() == KEY_BYTES);
        let Some(bytes) = bytes else {
            let got = if hex::decode(text).is_ok() {
                format!("{} bytes", text.len() / 2)
            } else {
                "text that is not hex".to_owned()
            };
            return Err(BadKey { got });
        };
        Ok(NodeKey {
            cipher: XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| BadKey {
                got: "a key of the wrong size".to_owned(),
            })?,
        })
    }

    /// A new random key, in the hex form `from_hex` reads.
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// The value a database keeps to check that later starts use the same key.
    pub fn key_check(&self) -> SealedSecret {
        self.seal(&check_name(), CHECK_TEXT)
    }

    /// Whether `check` (from [`NodeKey::key_check`]) was made with this key.
    pub fn verifies(&self, check: &SealedSecret) -> bool {
        self.open(&check_name(), check)
            .is_ok_and(|value| value.0 == CHECK_TEXT)
    }
}

fn check_name() -> ConfigName {
    ConfigName::parse(CHECK_NAME).expect("a valid config name")
}

impl SecretBox for NodeKey {
    fn seal(&self, name: &ConfigName, value: &str) -> SealedSecret {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_str().as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any message that fits in memory");
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        SealedSecret(format!("{FORMAT}{}", hex::encode(out)))
    }

    fn open(&self, name: &ConfigName, sealed: &SealedSecret) -> Result<SecretValue, SecretError> {
        let fail = || SecretError {
            name: name.to_string(),
        };
        let bytes = sealed
            .0
            .strip_prefix(FORMAT)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() > NONCE_BYTES)
            .ok_or_else(fail)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: name.as_str().as_bytes(),
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plain)
            .map(SecretValue)
            .map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> ConfigName {
        ConfigName::parse(n).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_name() {
        let key = NodeKey::from_hex(&NodeKey::generate_hex()).unwrap();
        let other = NodeKey::from_hex(&NodeKey::generate_hex()).unwrap();
        let sealed = key.seal(&name("API_KEY"), "s3cret");
        assert!(!sealed.0.contains("s3cret"));
        assert_eq!(key.open(&name("API_KEY"), &sealed).unwrap().0, "s3cret");
        assert!(key.open(&name("OTHER"), &sealed).is_err());
        assert!(other.open(&name("API_KEY"), &sealed).is_err());
        // Two seals of one value differ (fresh nonce).
        assert_ne!(key.seal(&name("API_KEY"), "s3cret"), sealed);
        let mut tampered = sealed.0.clone();
        let last = if tampered.pop() == Some('0') {
            '1'
        } else {
            '0'
        };
        tampered.push(last);
        assert!(key.open(&name("API_KEY"), &SealedSecret(tampered)).is_err());
        assert!(
            key.open(&name("API_KEY"), &SealedSecret("v1:zz".into()))
                .is_err()
        );
    }

    #[test]
    fn the_key_check_tells_a_wrong_key() {
        let key = NodeKey::from_hex(&NodeKey::generate_hex()).unwrap();
        let other = NodeKey::from_hex(&NodeKey::generate_hex()).unwrap();
        let check = key.key_check();
        assert!(key.verifies(&check));
        assert!(!other.verifies(&check));
    }

    #[test]
    fn keys_of_the_wrong_size_or_not_hex_are_refused() {
        assert!(
            NodeKey::from_hex(&"ab".repeat(31))
                .unwrap_err()
                .to_string()
                .contains("31 bytes")
        );
        assert!(
            NodeKey::from_hex("not hex")
                .unwrap_err()
                .to_string()
                .contains("not hex")
        );
        assert!(NodeKey::from_hex(&format!(" {}\n", "00".repeat(32))).is_ok());
    }
}
