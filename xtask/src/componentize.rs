//! Core module (with wit-bindgen's component-type section) -> validated component.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wit_component::ComponentEncoder;

pub struct Component {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

pub fn encode(core_module: &Path) -> Result<Component> {
    let module =
        std::fs::read(core_module).with_context(|| format!("reading {}", core_module.display()))?;
    let bytes = ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .with_context(|| format!("turning {} into a component", core_module.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(Component { bytes, sha256 })
}

/// Rewrites only when the bytes change, so whatever embeds the file (the CLI) is not rebuilt
/// by a no-op run.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let dir = path.parent().context("component path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}
