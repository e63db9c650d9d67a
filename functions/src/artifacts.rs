//! Content-addressed component bytes. Stored in the database so that any node can fetch and
//! compile a version it has never seen; each node caches the compiled form on its own disk.

use crate::{ArtifactHash, ArtifactSource, Error, Result, Store, now_ms};
use geyser_core::SourceError;

#[async_trait::async_trait]
impl ArtifactSource for Store {
    async fn artifact_bytes(&self, hash: &ArtifactHash) -> Result<Vec<u8>, SourceError> {
        self.artifact(hash).await.map_err(Into::into)
    }
}

impl Store {
    /// The component bytes stored under `hash`.
    pub async fn artifact(&self, hash: &ArtifactHash) -> Result<Vec<u8>> {
        let bytes: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT bytes FROM artifacts WHERE sha256 = $1")
                .bind(hash.as_str())
                .fetch_optional(&self.pool)
                .await?;
        match bytes {
            Some(bytes) => Ok(bytes),
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
