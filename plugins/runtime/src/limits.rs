//! Per-run limits and the store-side enforcement of the memory limit.

use std::time::Duration;

/// What one run may use. Defaults fit a release step: seconds of CPU, tens of MiB of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for one call of `run`, host calls included.
    pub deadline: Duration,
    /// Linear memory of the task, in bytes.
    pub memory_bytes: usize,
    /// Total size of the results a run may return (names and values).
    pub result_bytes: usize,
    /// Total bytes a run may write to its output tree.
    pub output_file_bytes: u64,
    /// Registry requests of one `registry.batch` in flight at once: enough to hide round trips,
    /// few enough not to look like a flood to a registry's rate limits.
    pub registry_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30),
            memory_bytes: 256 << 20,
            result_bytes: 1 << 20,
            output_file_bytes: 1 << 30,
            registry_requests: 16,
        }
    }
}

/// Enforces [`Limits::memory_bytes`] and remembers that it did, so that the trap a guest's
/// allocator raises after a refused `memory.grow` is reported as `MemoryLimit`, not as a trap.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub(crate) hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, hit: false }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.limit && maximum.is_none_or(|max| desired <= max);
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a task needing more than this is broken, not busy.
        Ok(desired <= 100_000 && maximum.is_none_or(|max| desired <= max))
    }
}
