//! Content-addressed component bytes. Stored in the database so that any node can fetch and
//! compile a version it has never seen; each node caches the compiled form on its own disk.

use crate::{Error, Result, Store, now_ms};
use sha2::{Digest, Sha256};
use sqlx::Row;
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

/// Where compiled code can be rebuilt from: the store's copy of the component bytes.
pub trait ArtifactSource {
    fn artifact_bytes(
        &self,
        hash: &ArtifactHash,
    ) -> impl std::future::Future<Output = Result<Vec<u8>>> + Send;
}

impl ArtifactSource for Store {
    async fn artifact_bytes(&self, hash: &ArtifactHash) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT bytes FROM artifacts WHERE sha256 = $1")
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(row.try_get("bytes")?),
            None => Err(Error::UnknownArtifact(hash.clone())),
        }
    }
}

pub(crate) async fn put_artifact(
    tx: &mut sqlx::AnyConnection,
    hash: &ArtifactHash,
    bytes: &[u8],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO artifacts (sha256, bytes, size_bytes, created_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(hash.as_str())
    .bind(bytes)
    .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
    .bind(now_ms())
    .execute(tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_hex_sha256_and_parse_rejects_paths() {
        let h = ArtifactHash::of(b"abc");
        assert_eq!(
            h.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ArtifactHash::parse(h.as_str()), Some(h));
        assert_eq!(ArtifactHash::parse("../etc/passwd"), None);
    }
}
