//! Native code compiled from a component, cached on disk by the component's digest, so a second
//! process start deserializes (milliseconds) instead of compiling (tens of milliseconds or more).

use std::path::PathBuf;

use wasmtime::component::Component;

use crate::Digest;
use crate::engine::TaskEngine;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("not a valid component: {0:#}")]
    Invalid(#[source] wasmtime::Error),
}

/// How a component came to be in memory; shown by `task inspect` and measured by the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPath {
    /// Compiled now and written to the disk cache.
    Compiled,
    /// Deserialized from the disk cache.
    Deserialized,
}

fn artifact_path(engine: &TaskEngine, digest: &Digest) -> PathBuf {
    engine
        .precompiled_dir
        .join(format!("{}.cwasm", digest.hex()))
}

/// Returns the component for `bytes` (whose digest is `digest`), from the disk cache if an
/// artifact compiled by this engine configuration is there, else by compiling and caching it.
pub fn load(
    engine: &TaskEngine,
    digest: &Digest,
    bytes: &[u8],
) -> Result<(Component, LoadPath), CompileError> {
    let path = artifact_path(engine, digest);
    if path.exists() {
        // SAFETY: the file was written by `store` below from `Engine::precompile_component` of an
        // engine with the same compatibility hash (it is in the directory name), in a cache
        // directory only this user writes to. wasmtime re-checks the header and refuses
        // artifacts of another version or configuration; we then recompile.
        match unsafe { Component::deserialize_file(&engine.engine, &path) } {
            Ok(component) => return Ok((component, LoadPath::Deserialized)),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "discarding unusable precompiled artifact");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let native = engine
        .engine
        .precompile_component(bytes)
        .map_err(CompileError::Invalid)?;
    if let Err(err) = crate::fsutil::write_atomic(&path, &native) {
        // The cache only saves time; a read-only home must not stop a run.
        tracing::warn!(path = %path.display(), error = %err, "could not cache precompiled artifact");
    }
    // SAFETY: `native` was produced just now by this engine.
    let component = unsafe { Component::deserialize(&engine.engine, &native) }
        .map_err(CompileError::Invalid)?;
    Ok((component, LoadPath::Compiled))
}
