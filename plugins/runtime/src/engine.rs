//! One wasmtime [`Engine`] per process, configured for running untrusted tasks side by side.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::paths;

/// How often the epoch advances. A run is stopped at most one tick after its deadline, and a
/// busy guest yields to the executor once per tick so other runs keep going.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
#[error("could not configure the wasm engine: {0:#}")]
pub struct EngineError(#[source] wasmtime::Error);

/// Builds a [`TaskEngine`]. The pool is sized for `max_concurrent_runs` and every memory is
/// capped at `max_memory_bytes`; per-run limits can only be lower.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    cache_dir: PathBuf,
    max_concurrent_runs: u32,
    max_memory_bytes: usize,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            cache_dir: paths::cache_root(),
            max_concurrent_runs: 32,
            max_memory_bytes: 1 << 30,
        }
    }
}

impl EngineBuilder {
    /// The root of the on-disk caches (precompiled artifacts go under `precompiled/`).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }

    pub fn max_concurrent_runs(mut self, runs: u32) -> Self {
        self.max_concurrent_runs = runs.max(1);
        self
    }

    pub fn max_memory_bytes(mut self, bytes: usize) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    pub fn build(self) -> Result<TaskEngine, EngineError> {
        // wit-component adds a few shim instances next to the task's own module.
        const CORE_INSTANCES_PER_TASK: u32 = 4;
        let slots = self.max_concurrent_runs;

        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots * CORE_INSTANCES_PER_TASK)
            .max_core_instances_per_component(CORE_INSTANCES_PER_TASK * 2)
            .total_memories(slots * CORE_INSTANCES_PER_TASK)
            .total_tables(slots * CORE_INSTANCES_PER_TASK)
            .total_stacks(slots)
            .max_memory_size(self.max_memory_bytes);

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .parallel_compilation(true)
            .max_wasm_stack(1 << 20)
            .async_stack_size(2 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(EngineError)?;
        spawn_epoch_ticker(&engine);

        let compat = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        };
        Ok(TaskEngine {
            engine,
            precompiled_dir: self.cache_dir.join("precompiled").join(compat),
            cache_dir: self.cache_dir,
        })
    }
}

/// The engine plus where artifacts compiled by exactly this engine configuration are cached.
#[derive(Clone)]
pub struct TaskEngine {
    pub(crate) engine: Engine,
    pub(crate) precompiled_dir: PathBuf,
    pub(crate) cache_dir: PathBuf,
}

impl TaskEngine {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn cache_dir(&self) -> &std::path::Path {
        &self.cache_dir
    }
}

fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
