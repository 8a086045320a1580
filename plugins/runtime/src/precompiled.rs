//! Native code compiled from a component, cached on disk by the component's digest, so a second
//! process start deserializes (milliseconds) instead of compiling (tens of milliseconds or more).

use std::io::Write;
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
    if let Err(err) = store(&path, &native) {
        // The cache only saves time; a read-only home must not stop a run.
        tracing::warn!(path = %path.display(), error = %err, "could not cache precompiled artifact");
    }
    // SAFETY: `native` was produced just now by this engine.
    let component = unsafe { Component::deserialize(&engine.engine, &native) }
        .map_err(CompileError::Invalid)?;
    Ok((component, LoadPath::Compiled))
}

/// Writes to a temporary file in the same directory, then renames: concurrent processes never
/// see a half-written artifact.
fn store(path: &std::path::Path, native: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("artifact paths have a parent");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(native)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)
}

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = format!(
        ".tmp-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}
