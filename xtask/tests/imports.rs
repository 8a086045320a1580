//! Every built component may import only our own contract (no WASI, nothing ambient) and must
//! export the runner. Reads the components `cargo xtask build-tasks` wrote.

use std::path::{Path, PathBuf};

use wasmparser::{Parser, Payload};

const PACKAGE: &str = "kubectl-release:task";
const VERSION: &str = "0.1.0";
const IMPORTABLE: [&str; 6] = ["types", "log", "clock", "files", "registry", "cluster"];
const RUNNER: &str = "kubectl-release:task/runner@0.1.0";

fn tasks_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    target.join("tasks")
}

fn components(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(components(&path));
        } else if path.extension().is_some_and(|e| e == "wasm") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The component's own imports and exports: nested modules' imports are wired inside the
/// component and grant nothing.
fn top_level_names(bytes: &[u8]) -> wasmparser::Result<(Vec<String>, Vec<String>)> {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    exports.push(export?.name.name.to_owned());
                }
            }
            Payload::ImportSection(_) if depth == 0 => {
                panic!("a core module, not a component: run cargo xtask build-tasks");
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

fn is_ours(import: &str) -> bool {
    import
        .strip_prefix(PACKAGE)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.strip_suffix(VERSION))
        .and_then(|rest| rest.strip_suffix('@'))
        .is_some_and(|interface| IMPORTABLE.contains(&interface))
}

#[test]
fn components_import_only_our_contract_and_export_the_runner() {
    let dir = tasks_dir();
    let found = components(&dir);
    assert!(
        !found.is_empty(),
        "no components in {}: run cargo xtask build-tasks",
        dir.display()
    );
    for path in found {
        let bytes = std::fs::read(&path).unwrap();
        let (imports, exports) = top_level_names(&bytes)
            .unwrap_or_else(|e| panic!("{}: not a component: {e}", path.display()));
        let foreign: Vec<_> = imports.iter().filter(|i| !is_ours(i)).collect();
        assert!(
            foreign.is_empty(),
            "{} imports {foreign:?}; only {PACKAGE}@{VERSION} interfaces are allowed",
            path.display()
        );
        assert!(
            exports.iter().any(|e| e == RUNNER),
            "{} does not export {RUNNER} (exports: {exports:?})",
            path.display()
        );
    }
}

#[test]
fn the_filter_tells_ours_from_ambient() {
    assert!(is_ours("kubectl-release:task/files@0.1.0"));
    assert!(!is_ours("kubectl-release:task/files@0.2.0"));
    assert!(!is_ours("kubectl-release:task/runner@0.1.0"));
    assert!(!is_ours("wasi:filesystem/types@0.2.0"));
    assert!(!is_ours("kubectl-release:task/files"));
}
