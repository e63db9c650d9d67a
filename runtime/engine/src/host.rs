//! The function-version lifetime: validating and compiling components at deploy, and turning an
//! artifact hash into a ready `ProxyPre` on demand — warm from memory, else from the node's
//! disk cache, else compiled from the bytes in the store.

use crate::EngineConfig;
use crate::artifact_cache::ArtifactCache;
use crate::compile::{CompileGate, CompileLimits, CompileRefusal};
use crate::compile_cache::CompileCache;
use crate::engine;
use crate::fair::FairGate;
use crate::handlers::Prepared;
use crate::memory::NodeMemory;
use crate::memory_init::MemoryInit;
use crate::resident::{Resident, Temperature};
use crate::sandbox::InvocationState;
use geyser_core::{ArtifactHash, ArtifactSource, TenantId};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// Why uploaded bytes are not a function Geyser can run. Shown to the uploader as is.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("not a WebAssembly binary (it does not start with the \\0asm magic)")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component: build with `--target wasm32-wasip2` \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error("component imports something Geyser does not provide: {0}")]
    Unlinkable(String),
    #[error(
        "component exports no handler Geyser can call: it needs `wasi:http/incoming-handler`, \
         `geyser:function/event-handler` or `geyser:function/schedule-handler`"
    )]
    NoHandler,
}

/// A function version that could not be made ready to run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the component's bytes: {0}")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored artifact {hash} no longer compiles: {source}")]
    Component {
        hash: ArtifactHash,
        source: ComponentError,
    },
    #[error("compile task failed: {0}")]
    Join(String),
}

/// An engine, its linker and its compiled-artifact cache, for one way of initialising memory.
struct Flavor {
    init: MemoryInit,
    engine: Engine,
    linker: Linker<InvocationState>,
    cache: ArtifactCache,
}

impl Flavor {
    fn new(
        config: &EngineConfig,
        init: MemoryInit,
        compile_cache: Option<Arc<CompileCache>>,
        cache_dir: &Path,
    ) -> Result<Self, crate::Error> {
        let engine = engine::build_engine(config, init, compile_cache)
            .map_err(|e| crate::Error::Setup(format!("{e:#}")))?;
        let linker =
            engine::build_linker(&engine).map_err(|e| crate::Error::Setup(format!("{e:#}")))?;
        let cache = ArtifactCache::open(cache_dir, &engine, init)?;
        Ok(Flavor {
            init,
            engine,
            linker,
            cache,
        })
    }

    /// The compiled form in this flavor's disk cache, linked.
    fn load_cached(&self, hash: &ArtifactHash) -> Option<Result<Prepared, ComponentError>> {
        let started = std::time::Instant::now();
        let component = self.cache.load(&self.engine, hash)?;
        let loaded = started.elapsed();
        let linked = link(&self.linker, &component);
        tracing::debug!(
            artifact = %hash,
            memory_init = self.init.as_str(),
            deserialize_us = loaded.as_micros(),
            link_us = (started.elapsed() - loaded).as_micros(),
            "loaded compiled artifact from the disk cache"
        );
        Some(linked)
    }
}

/// Process-wide host: an engine, linker and compiled-artifact cache per way of initialising
/// memory (each component compiled by the one its data size calls for), and the warm set.
pub struct Host {
    /// Indexed by [`MemoryInit::index`].
    flavors: Arc<[Flavor; 2]>,
    resident: Resident<Prepared>,
    slots: Arc<Semaphore>,
    memory: Arc<NodeMemory>,
    compiles: CompileGate,
    /// Turns of long-running guests (`None` when `long_guest_slots` is off).
    long_guests: Option<Arc<FairGate>>,
    config: EngineConfig,
    cold_starts: AtomicU64,
    /// Invocations waiting in `acquire_slot`.
    queued: AtomicU64,
}

/// The right to run one instance; held for the whole invocation.
pub type InstanceSlot = OwnedSemaphorePermit;

/// Tells a core module or non-wasm bytes from a component by the header, before compiling.
fn check_header(bytes: &[u8]) -> Result<(), ComponentError> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(ComponentError::NotWasm);
    }
    // Bytes 4..8: version 1 layer 0 is a core module; components use layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(ComponentError::CoreModule);
    }
    Ok(())
}

fn compile(
    engine: &Engine,
    linker: &Linker<InvocationState>,
    bytes: &[u8],
) -> Result<(Component, Prepared), ComponentError> {
    check_header(bytes)?;
    let component =
        Component::new(engine, bytes).map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
    let prepared = link(linker, &component)?;
    Ok((component, prepared))
}

fn link(
    linker: &Linker<InvocationState>,
    component: &Component,
) -> Result<Prepared, ComponentError> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| ComponentError::Unlinkable(format!("{e:#}")))?;
    Prepared::classify(pre).ok_or(ComponentError::NoHandler)
}

impl Host {
    pub fn new(config: &EngineConfig, cache_dir: &Path) -> Result<Self, crate::Error> {
        // One incremental-compilation cache for both engines: their compiler settings match.
        let compile_cache = (config.compile_cache_mb > 0).then(|| {
            let budget = usize::try_from(config.compile_cache_mb << 20).unwrap_or(usize::MAX);
            Arc::new(CompileCache::new(budget))
        });
        let [copy, cow] = MemoryInit::ALL;
        let flavors = [
            Flavor::new(config, copy, compile_cache.clone(), cache_dir)?,
            Flavor::new(config, cow, compile_cache, cache_dir)?,
        ];
        engine::spawn_epoch_ticker(
            &[&flavors[0].engine, &flavors[1].engine],
            Duration::from_millis(config.epoch_tick_ms),
        )?;
        let slots = usize::try_from(config.max_instances).unwrap_or(usize::MAX);
        Ok(Self {
            flavors: Arc::new(flavors),
            resident: Resident::new(),
            slots: Arc::new(Semaphore::new(slots)),
            memory: Arc::new(NodeMemory::new(
                config.node_memory_bytes(),
                config.memory_high_water_percent,
            )),
            compiles: CompileGate::new(CompileLimits {
                max_concurrent: config.max_concurrent_compiles,
                wait: Duration::from_millis(config.compile_wait_ms),
                timeout: Duration::from_millis(config.compile_timeout_ms),
                threads: config.compile_threads(),
            })?,
            long_guests: config.long_guest_turns().map(FairGate::new),
            config: config.clone(),
            cold_starts: AtomicU64::new(0),
            queued: AtomicU64::new(0),
        })
    }

    /// Whether the compiled-artifact cache can be written (for readiness).
    pub fn cache_ready(&self) -> std::io::Result<()> {
        self.flavors
            .iter()
            .try_for_each(|flavor| flavor.cache.check())
    }

    /// How the component `bytes` would have its memory initialised.
    pub fn memory_init_for(&self, bytes: &[u8]) -> MemoryInit {
        MemoryInit::for_component(bytes, self.config.memory_init_cow_min_bytes())
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The long-guest turns, if guests are throttled at all.
    pub fn long_guests(&self) -> Option<&Arc<FairGate>> {
        self.long_guests.as_ref()
    }

    /// The compile gate (its counts, for metrics).
    pub fn compiles(&self) -> &CompileGate {
        &self.compiles
    }

    /// The node's guest-memory budget and what running guests hold of it.
    pub fn memory(&self) -> &Arc<NodeMemory> {
        &self.memory
    }

    /// Validates and compiles uploaded bytes through the compile gate (on its low-priority
    /// threads, under its deadline), and writes the compiled form to the disk cache. `tenant`
    /// is the deploying tenant (one compile at a time each). The version is not warm until
    /// [`Host::install`].
    pub async fn prepare(
        &self,
        tenant: Option<TenantId>,
        bytes: Arc<Vec<u8>>,
    ) -> Result<(ArtifactHash, Prepared), PrepareError> {
        let flavors = self.flavors.clone();
        let cow_min_bytes = self.config.memory_init_cow_min_bytes();
        self.compiles
            .run(tenant, move || {
                let hash = ArtifactHash::of(&bytes);
                let init = MemoryInit::for_component(&bytes, cow_min_bytes);
                let flavor = &flavors[init.index()];
                let (component, pre) = compile(&flavor.engine, &flavor.linker, &bytes)?;
                tracing::debug!(artifact = %hash, memory_init = init.as_str(), "compiled");
                flavor
                    .cache
                    .store(&hash, &component)
                    .map_err(|e| PrepareError::Cache(format!("{e:#}")))?;
                Ok((hash, pre))
            })
            .await
            .map_err(PrepareError::Refused)?
    }

    /// Validates, compiles and links uploaded bytes on this thread and keeps nothing: the
    /// deploy path's checks, as the fuzz target (and its corpus replay) drives them.
    pub fn validate(&self, bytes: &[u8]) -> Result<geyser_core::Handlers, ComponentError> {
        let flavor = &self.flavors[self.memory_init_for(bytes).index()];
        compile(&flavor.engine, &flavor.linker, bytes).map(|(_, prepared)| prepared.handlers())
    }

    /// Makes a prepared version warm.
    pub fn install(&self, hash: &ArtifactHash, pre: Prepared) {
        self.resident.insert(hash, pre);
    }

    /// The ready-to-instantiate form of an artifact, loading it if it is not warm.
    pub async fn prepared(
        &self,
        hash: &ArtifactHash,
        source: &dyn ArtifactSource,
    ) -> Result<(Prepared, Temperature), LoadError> {
        let result = self
            .resident
            .get_or_load(hash, || self.load(hash, source))
            .await?;
        if result.1 == Temperature::Cold {
            self.cold_starts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(result)
    }

    async fn load(
        &self,
        hash: &ArtifactHash,
        source: &dyn ArtifactSource,
    ) -> Result<Prepared, LoadError> {
        let component_error = |source| LoadError::Component {
            hash: hash.clone(),
            source,
        };
        if let Some(linked) = self.flavors.iter().find_map(|f| f.load_cached(hash)) {
            return linked.map_err(component_error);
        }
        // Not on this node yet (deployed through another node, or the cache was cleared): the
        // compiled form another node shared, else compile it here (and share it).
        if let Some(pre) = self.load_shared(hash, source).await {
            return pre.map_err(component_error);
        }
        let bytes = Arc::new(
            source
                .artifact_bytes(hash)
                .await
                .map_err(LoadError::Source)?,
        );
        tracing::info!(artifact = %hash, "compiling artifact missing from the local cache");
        let (stored_hash, pre) = self.prepare(None, bytes).await.map_err(|e| match e {
            PrepareError::Component(c) => component_error(c),
            PrepareError::Cache(m) => LoadError::Join(m),
            PrepareError::Refused(refusal) => LoadError::Join(refusal.to_string()),
        })?;
        debug_assert_eq!(&stored_hash, hash);
        self.share(hash, source).await;
        Ok(pre)
    }

    /// The compiled form of `hash` another node stored in `source` (for either engine), written
    /// to this node's disk cache and loaded from there; `None` when there is none (or it is
    /// unusable here).
    async fn load_shared(
        &self,
        hash: &ArtifactHash,
        source: &dyn ArtifactSource,
    ) -> Option<Result<Prepared, ComponentError>> {
        for flavor in self.flavors.iter() {
            if let Some(loaded) = Self::load_shared_as(flavor, hash, source).await {
                return Some(loaded);
            }
        }
        None
    }

    async fn load_shared_as(
        flavor: &Flavor,
        hash: &ArtifactHash,
        source: &dyn ArtifactSource,
    ) -> Option<Result<Prepared, ComponentError>> {
        let started = std::time::Instant::now();
        let bytes = match source.compiled(flavor.cache.key(), hash).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(artifact = %hash, error = %err, "reading the shared compiled artifact failed; compiling");
                return None;
            }
        };
        let fetched = started.elapsed();
        if let Err(err) = flavor.cache.store_bytes(hash, &bytes) {
            tracing::warn!(artifact = %hash, error = %err, "cannot cache the shared compiled artifact; compiling");
            return None;
        }
        // `ArtifactCache::load` checks the engine's header and discards a form it refuses.
        let component = flavor.cache.load(&flavor.engine, hash)?;
        tracing::info!(
            artifact = %hash,
            memory_init = flavor.init.as_str(),
            bytes = bytes.len(),
            fetch_us = fetched.as_micros(),
            load_us = (started.elapsed() - fetched).as_micros(),
            "loaded the compiled artifact another node shared"
        );
        Some(link(&flavor.linker, &component))
    }

    /// Offers this node's compiled form of `hash` to the other nodes (a failure is logged:
    /// they compile for themselves).
    pub async fn share(&self, hash: &ArtifactHash, source: &dyn ArtifactSource) {
        if !source.shares_compiled() {
            return;
        }
        let Some((flavor, bytes)) = self
            .flavors
            .iter()
            .find_map(|flavor| Some((flavor, flavor.cache.bytes(hash)?)))
        else {
            return;
        };
        if let Err(err) = source
            .store_compiled(flavor.cache.key(), hash, &bytes)
            .await
        {
            tracing::warn!(artifact = %hash, error = %err, "sharing the compiled artifact failed");
        }
    }

    /// Waits for a free instance slot, at most the configured queue timeout; `None` at once
    /// when `max_queued` invocations already wait (load is shed instead of piling up).
    pub async fn acquire_slot(&self) -> Option<InstanceSlot> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.queued.load(Ordering::Relaxed) >= self.config.max_queued {
            return None;
        }
        let wait = Duration::from_millis(self.config.queue_timeout_ms);
        // Counted while waiting, however the wait ends (a caller that goes away drops it).
        struct Waiting<'a>(&'a AtomicU64);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.queued);
        match tokio::time::timeout(wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }

    /// Invocations waiting for an instance slot now.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Instances running now.
    pub fn instances_in_use(&self) -> usize {
        usize::try_from(self.config.max_instances).unwrap_or(usize::MAX)
            - self.slots.available_permits()
    }

    pub fn resident_count(&self) -> usize {
        self.resident.count()
    }

    pub fn cold_starts(&self) -> u64 {
        self.cold_starts.load(Ordering::Relaxed)
    }

    /// Drops idle versions; the server calls this periodically.
    pub fn evict_idle(&self) -> usize {
        self.resident.evict_idle(self.config.idle_ttl())
    }
}

/// Hands heap memory freed by evicted versions back to the kernel. glibc keeps freed memory in
/// its arenas: in `bench/density.sh` a node that had 1,000 versions resident stayed at 200 MiB
/// after evicting them all (97 MiB before they were touched); with this, 73 MiB (41 before).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks glibc's own arenas and has no preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Failure to prepare uploaded bytes.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error("cannot write compiled artifact: {0}")]
    Cache(String),
    /// The compile gate refused it, or its deadline passed.
    #[error(transparent)]
    Refused(CompileRefusal),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_tells_modules_from_components() {
        assert!(matches!(
            check_header(b"hello world"),
            Err(ComponentError::NotWasm)
        ));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(ComponentError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
