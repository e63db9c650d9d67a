//! Content-addressed component bytes. Stored in the database so that any node can fetch a
//! version it has never seen; each node caches the compiled form on its own disk, and on
//! PostgreSQL (a cluster) the first node to compile a version stores the compiled form here
//! too, so the others load it instead of compiling (keyed by the engine's compatibility key).

use crate::{ArtifactHash, ArtifactSource, Backend, Error, Result, Store, now_ms};
use geyser_core::SourceError;

#[async_trait::async_trait]
impl ArtifactSource for Store {
    async fn artifact_bytes(&self, hash: &ArtifactHash) -> Result<Vec<u8>, SourceError> {
        self.artifact(hash).await.map_err(Into::into)
    }

    async fn compiled(
        &self,
        engine: &str,
        hash: &ArtifactHash,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let bytes: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT bytes FROM compiled_artifacts WHERE engine = $1 AND sha256 = $2",
        )
        .bind(engine)
        .bind(hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::from)?;
        Ok(bytes)
    }

    fn shares_compiled(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    async fn store_compiled(
        &self,
        engine: &str,
        hash: &ArtifactHash,
        bytes: &[u8],
    ) -> Result<(), SourceError> {
        // One machine has its disk cache; only a cluster gains from a shared copy.
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO compiled_artifacts (engine, sha256, bytes, created_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (engine, sha256) DO NOTHING",
        )
        .bind(engine)
        .bind(hash.as_str())
        .bind(bytes)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(Error::from)?;
        Ok(())
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
