//! The node's disk cache of compiled components, keyed by content hash under a directory named
//! for the engine's compatibility hash (a wasmtime upgrade or config change starts a new one).

use crate::memory_init::MemoryInit;
use geyser_core::ArtifactHash;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    /// The engine's compatibility key (the directory's name): compiled code is shared only
    /// between nodes with the same one.
    key: String,
}

impl ArtifactCache {
    /// The cache of `engine`, which initialises memory the `init` way (copy-on-write
    /// artifacts get a key of their own, so that a node loading one knows its engine).
    pub fn open(root: &Path, engine: &Engine, init: MemoryInit) -> std::io::Result<Self> {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let suffix = if init.cow() { "-cow" } else { "" };
        let key = format!("{:016x}{suffix}", hasher.finish());
        let dir = root.join(&key);
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, key })
    }

    /// Whether the cache can be written now (a full or read-only disk cannot): a probe file is
    /// written and removed.
    pub fn check(&self) -> std::io::Result<()> {
        let probe = self.dir.join(format!(".ready-{}", std::process::id()));
        std::fs::write(&probe, b"ok")?;
        match std::fs::remove_file(&probe) {
            // Another check of this process removed it first.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn path(&self, hash: &ArtifactHash) -> PathBuf {
        self.dir.join(format!("{hash}.cwasm"))
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Writes the compiled form atomically (temp file + rename), so a crash never leaves a
    /// truncated artifact that a later load would trust.
    pub fn store(&self, hash: &ArtifactHash, component: &Component) -> wasmtime::Result<()> {
        self.store_bytes(hash, &component.serialize()?)?;
        Ok(())
    }

    /// [`ArtifactCache::store`] of a serialized form (one another node compiled).
    pub fn store_bytes(&self, hash: &ArtifactHash, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self
            .dir
            .join(format!("{hash}.{}.tmp", uuid::Uuid::now_v7()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.path(hash))
    }

    /// The serialized form on disk, to offer to the other nodes.
    pub fn bytes(&self, hash: &ArtifactHash) -> Option<Vec<u8>> {
        std::fs::read(self.path(hash)).ok()
    }

    /// The compiled component, if this node has it. A file the engine refuses (stale or
    /// corrupt) is removed and reported as absent, so the caller recompiles.
    pub fn load(&self, engine: &Engine, hash: &ArtifactHash) -> Option<Component> {
        let path = self.path(hash);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is in this node's private cache directory, was produced by
        // `Component::serialize` on an engine with the same compatibility hash (the directory
        // name), and was written atomically by `store`; wasmtime additionally checks its
        // header and version before use.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(artifact = %hash, error = %err, "discarding unusable compiled artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }
}
