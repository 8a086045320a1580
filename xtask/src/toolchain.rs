//! The guest toolchain: Debian's `rustc-web` (its `rust-web-src` makes `-Zbuild-std` work
//! offline, since rustup cannot fetch a wasm32 std here) and rustup's `rust-lld` as the linker.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const PACKAGES: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];
pub const RUSTC: &str = "/usr/bin/rustc";
pub const CARGO: &str = "/usr/bin/cargo";
const STD_SOURCE: &str = "/usr/lib/rustlib/src/rust/library";

pub struct Toolchain {
    pub rustc: PathBuf,
    pub cargo: PathBuf,
    pub linker: PathBuf,
}

/// Installs the Debian packages only when one is missing, so a second run never touches apt.
pub fn ensure() -> Result<Toolchain> {
    let missing = missing_packages()?;
    if !missing.is_empty() || !Path::new(STD_SOURCE).is_dir() {
        install(&missing)?;
    }
    if !Path::new(STD_SOURCE).is_dir() {
        bail!(
            "{STD_SOURCE} is still missing after installing {}",
            PACKAGES.join(" ")
        );
    }
    Ok(Toolchain {
        rustc: RUSTC.into(),
        cargo: CARGO.into(),
        linker: find_linker()?,
    })
}

fn missing_packages() -> Result<Vec<&'static str>> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Status}\n"])
        .args(PACKAGES)
        .output()
        .context("running dpkg-query: the guest build needs Debian's rustc-web (Debian bookworm or later)")?;
    // dpkg-query exits non-zero when a package is unknown; the output still lists the rest.
    let listed = String::from_utf8_lossy(&output.stdout);
    Ok(PACKAGES
        .into_iter()
        .filter(|p| {
            !listed
                .lines()
                .any(|l| l.split_whitespace().eq([*p, "installed"]))
        })
        .collect())
}

fn install(missing: &[&str]) -> Result<()> {
    let packages = if missing.is_empty() {
        PACKAGES.to_vec()
    } else {
        missing.to_vec()
    };
    if !is_root() {
        bail!(
            "the guest toolchain is missing ({}); install it with:\n  sudo apt-get update && sudo apt-get install -y {}",
            packages.join(", "),
            PACKAGES.join(" ")
        );
    }
    eprintln!("installing {} with apt-get", packages.join(" "));
    apt(&["update"])?;
    apt(&[&["install", "-y", "--no-install-recommends"][..], &packages].concat())
}

fn apt(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// rustup's `rust-lld` (beside the host toolchain that runs this xtask), else any wasm-capable
/// lld on `PATH`.
fn find_linker() -> Result<PathBuf> {
    let host_rustc = std::env::var_os("RUSTC").filter(|r| Path::new(r) != Path::new(RUSTC));
    let host_rustc = host_rustc.unwrap_or_else(|| "rustc".into());
    let mut candidates = Vec::new();
    if let (Some(sysroot), Some(host)) = (
        rustc_print(&host_rustc, &["--print", "sysroot"]),
        host_triple(&host_rustc),
    ) {
        candidates.push(
            Path::new(&sysroot)
                .join("lib/rustlib")
                .join(host)
                .join("bin/rust-lld"),
        );
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        candidates.extend(["rust-lld", "wasm-ld"].map(|name| dir.join(name)));
    }
    candidates.into_iter().find(|c| c.is_file()).context(
        "no wasm linker found: expected rustup's rust-lld (`$(rustc --print sysroot)/lib/rustlib/<host>/bin/rust-lld`) \
         or `wasm-ld` on PATH (apt-get install lld)",
    )
}

fn host_triple(rustc: &std::ffi::OsStr) -> Option<String> {
    let version = rustc_print(rustc, &["-vV"])?;
    version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
}

fn rustc_print(rustc: &std::ffi::OsStr, args: &[&str]) -> Option<String> {
    let output = Command::new(rustc).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
