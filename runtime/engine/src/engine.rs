//! The process lifetime: a wasmtime `Engine` (pooling allocator, epoch interruption, async
//! support) and a `Linker` for each way of initialising memory ([`MemoryInit`]), which every
//! function version is pre-instantiated against.

use crate::EngineConfig;
use crate::compile_cache::CompileCache;
use crate::memory_init::MemoryInit;
use crate::sandbox::InvocationState;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Core instances a component may contain: the main module plus wit-component shims.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;

/// Builds the engine. The pool reserves `max_instances` slots up front so instantiation never
/// calls `mmap`; memories are capped at `max_memory_mb` by the pool and per function by the
/// store's limiter. `compile_cache` is shared by the engines of both ways (their compiler
/// settings are the same). With `pagemap_scan` on a kernel that has it, a reused slot restores
/// only the pages its last guest wrote; without it, a copying engine keeps nothing resident
/// (each kept byte would be `memset` on every reuse).
pub fn build_engine(
    cfg: &EngineConfig,
    init: MemoryInit,
    compile_cache: Option<Arc<CompileCache>>,
) -> wasmtime::Result<Engine> {
    if cfg.pagemap_scan {
        match engine_with(cfg, init, compile_cache.clone(), true) {
            Ok(engine) => return Ok(engine),
            Err(err) => tracing::info!(
                error = %err,
                "PAGEMAP_SCAN is not available (Linux 6.7+); reused memory slots are reset without it"
            ),
        }
    }
    engine_with(cfg, init, compile_cache, false)
}

fn engine_with(
    cfg: &EngineConfig,
    init: MemoryInit,
    compile_cache: Option<Arc<CompileCache>>,
    pagemap_scan: bool,
) -> wasmtime::Result<Engine> {
    let keep_resident = match (init.cow(), pagemap_scan) {
        (true, _) => cfg.keep_resident_cow_bytes,
        (false, true) => cfg.keep_resident_bytes,
        (false, false) => 0,
    };
    let mut pool = PoolingAllocationConfig::default();
    let instances = cfg.max_instances;
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_stacks(instances)
        .max_memories_per_component(4)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memory_size(usize::try_from(u64::from(cfg.max_memory_mb) << 20).unwrap_or(usize::MAX))
        // How much of a reused memory is restored and kept rather than handed back with
        // `madvise` (measured: see `EngineConfig`).
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(64 << 10)
        .pagemap_scan(if pagemap_scan {
            Enabled::Yes
        } else {
            Enabled::No
        });

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .max_wasm_stack(1 << 20)
        .memory_init_cow(init.cow())
        .parallel_compilation(true);
    if let Some(cache) = compile_cache {
        config.enable_incremental_compilation(cache)?;
    }
    Engine::new(&config)
}

/// The linker of an engine: WASI 0.2, wasi:http, wasi:config and the `geyser:function` capabilities.
pub fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<InvocationState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_config::add_to_linker(&mut linker, InvocationState::wasi_config)?;
    crate::capabilities::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Advances the engines' epochs every `tick` on one dedicated thread, which ends when they are
/// dropped. Deadlines are counted in ticks.
pub fn spawn_epoch_ticker(engines: &[&Engine], tick: Duration) -> std::io::Result<()> {
    let weak: Vec<_> = engines.iter().map(|engine| engine.weak()).collect();
    std::thread::Builder::new()
        .name("geyser-epoch".into())
        .spawn(move || {
            loop {
                let mut alive = false;
                for engine in weak.iter().filter_map(|weak| weak.upgrade()) {
                    engine.increment_epoch();
                    alive = true;
                }
                if !alive {
                    break;
                }
                std::thread::sleep(tick);
            }
        })?;
    Ok(())
}
