//! Content-addressed component bytes: the hash every cache is keyed by, and where the bytes
//! come from when a node has not compiled them yet.

use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of a component's bytes, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactHash(String);

impl ArtifactHash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(bytes)))
    }

    /// Accepts only 64 lower-case hex digits, so a hash is always safe as a file name.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArtifactHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a source could not give the bytes (the source's own error, boxed).
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Where compiled code can be rebuilt from: the store's copy of the component bytes. Object
/// safe, so the engine holds it as `Arc<dyn ArtifactSource>`.
#[async_trait::async_trait]
pub trait ArtifactSource: Send + Sync {
    async fn artifact_bytes(&self, hash: &ArtifactHash) -> Result<Vec<u8>, SourceError>;

    /// The compiled form another node stored for `engine` (a compatibility key: nodes with a
    /// different wasmtime configuration compile for themselves); `None` when there is none or
    /// the source does not share compiled code.
    async fn compiled(
        &self,
        _engine: &str,
        _hash: &ArtifactHash,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(None)
    }

    /// Whether [`ArtifactSource::store_compiled`] keeps anything (reading a compiled form to
    /// offer it is skipped otherwise).
    fn shares_compiled(&self) -> bool {
        false
    }

    /// Keeps a compiled form for the other nodes (a source that does not share: nothing).
    async fn store_compiled(
        &self,
        _engine: &str,
        _hash: &ArtifactHash,
        _bytes: &[u8],
    ) -> Result<(), SourceError> {
        Ok(())
    }
}
