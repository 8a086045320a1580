//! Which workspace crates are guests, and what their components are called.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Under `tasks/`: shipped in the catalog and embedded in the CLI.
    Catalog,
    /// Under `tests/fixtures/`: only for tests.
    Fixture,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Guest {
    pub package: String,
    /// The cdylib's file stem (`echo_task`), which is what the linker writes.
    pub lib_name: String,
    pub kind: Kind,
}

impl Guest {
    /// Crate name without the `-task` suffix: `echo-task` ships as `echo.wasm`.
    pub fn task_name(&self) -> &str {
        self.package.strip_suffix("-task").unwrap_or(&self.package)
    }

    /// Where the component goes, relative to `target/tasks`.
    pub fn component_path(&self) -> PathBuf {
        let file = format!("{}.wasm", self.task_name());
        match self.kind {
            Kind::Catalog => PathBuf::from(file),
            Kind::Fixture => Path::new("fixtures").join(file),
        }
    }
}

/// Every cdylib in the workspace under `tasks/` or `tests/fixtures/`, by `cargo metadata`, so a
/// new task crate is picked up by being a workspace member and nothing else.
pub fn discover(root: &Path) -> Result<Vec<Guest>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    let guests = from_metadata(root, &metadata);
    if guests.is_empty() {
        bail!(
            "no cdylib crates under {}/tasks or {}/tests/fixtures",
            root.display(),
            root.display()
        );
    }
    Ok(guests)
}

fn from_metadata(root: &Path, metadata: &serde_json::Value) -> Vec<Guest> {
    let packages = metadata["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut guests: Vec<Guest> = packages
        .iter()
        .filter_map(|package| {
            let manifest = Path::new(package["manifest_path"].as_str()?);
            let kind = if manifest.starts_with(root.join("tasks")) {
                Kind::Catalog
            } else if manifest.starts_with(root.join("tests/fixtures")) {
                Kind::Fixture
            } else {
                return None;
            };
            let lib = package["targets"].as_array()?.iter().find(|target| {
                target["crate_types"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "cdylib"))
            })?;
            Some(Guest {
                package: package["name"].as_str()?.to_owned(),
                lib_name: lib["name"].as_str()?.replace('-', "_"),
                kind,
            })
        })
        .collect();
    guests.sort_by(|a, b| a.package.cmp(&b.package));
    guests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, dir: &str, crate_types: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "name": name,
            "manifest_path": format!("/ws/{dir}/Cargo.toml"),
            "targets": [{ "name": name.replace('-', "_"), "crate_types": crate_types }],
        })
    }

    #[test]
    fn picks_cdylibs_under_tasks_and_fixtures_only() {
        let metadata = serde_json::json!({ "packages": [
            package("kubectl-release-sdk", "tasks/sdk", &["lib"]),
            package("echo-task", "tasks/echo", &["cdylib", "rlib"]),
            package("fixture-task", "tests/fixtures/guest", &["cdylib"]),
            package("kubectl-release-runtime", "plugins/runtime", &["lib"]),
            package("weird", "plugins/weird", &["cdylib"]),
        ]});
        let guests = from_metadata(Path::new("/ws"), &metadata);
        assert_eq!(
            guests,
            [
                Guest {
                    package: "echo-task".into(),
                    lib_name: "echo_task".into(),
                    kind: Kind::Catalog
                },
                Guest {
                    package: "fixture-task".into(),
                    lib_name: "fixture_task".into(),
                    kind: Kind::Fixture
                },
            ]
        );
        assert_eq!(guests[0].component_path(), Path::new("echo.wasm"));
        assert_eq!(
            guests[1].component_path(),
            Path::new("fixtures/fixture.wasm")
        );
    }

    #[test]
    fn names_without_suffix_stay_as_they_are() {
        let g = Guest {
            package: "promote".into(),
            lib_name: "promote".into(),
            kind: Kind::Catalog,
        };
        assert_eq!(g.task_name(), "promote");
    }
}
