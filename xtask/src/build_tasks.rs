//! `cargo xtask build-tasks`: guest crates -> `target/tasks/*.wasm` components.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::guests::{self, Guest};
use crate::{componentize, toolchain};

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm";

pub fn run(root: &Path, target_dir: &Path) -> Result<()> {
    let started = Instant::now();
    let toolchain = toolchain::ensure()?;
    let guests = guests::discover(root)?;
    let wasm_target_dir = target_dir.join("wasm");
    cargo_build(root, &wasm_target_dir, &toolchain, &guests)?;

    let modules = wasm_target_dir.join(TARGET).join(PROFILE);
    let out = target_dir.join("tasks");
    for guest in &guests {
        let core = modules.join(format!("{}.wasm", guest.lib_name));
        let component = componentize::encode(&core)?;
        let path = out.join(guest.component_path());
        let changed = componentize::write_if_changed(&path, &component.bytes)?;
        println!(
            "{:<40} {:>9} bytes  sha256:{}{}",
            path.strip_prefix(root).unwrap_or(&path).display(),
            component.bytes.len(),
            component.sha256,
            if changed { "" } else { "  (unchanged)" }
        );
    }
    eprintln!(
        "built {} component(s) in {:.1?}",
        guests.len(),
        started.elapsed()
    );
    Ok(())
}

/// One cargo invocation for all guests, so std is built once and they share dependencies.
fn cargo_build(
    root: &Path,
    target_dir: &Path,
    toolchain: &toolchain::Toolchain,
    guests: &[Guest],
) -> Result<()> {
    let mut cargo = Command::new(&toolchain.cargo);
    cargo
        .current_dir(root)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "-Zbuild-std=std,panic_abort",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    for guest in guests {
        cargo.args(["--package", &guest.package]);
    }
    // Without RUSTC, cargo would find rustup's rustc first on PATH, which has no wasm32 std source.
    // RUSTC_BOOTSTRAP unlocks -Zbuild-std on this stable compiler.
    cargo
        .env("RUSTC", &toolchain.rustc)
        .env("RUSTC_BOOTSTRAP", "1")
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER",
            &toolchain.linker,
        )
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    let status = cargo
        .status()
        .with_context(|| format!("running {}", toolchain.cargo.display()))?;
    if !status.success() {
        bail!("guest build failed ({status})");
    }
    Ok(())
}
