//! Embeds the catalog task components built by `cargo xtask build-tasks` (in `<target>/tasks/`),
//! so `kubectl release task run <name>` works offline with no registry.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=KUBECTL_RELEASE_TASKS_DIR");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let dir = std::env::var_os("KUBECTL_RELEASE_TASKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../target")
                });
            target.join("tasks")
        });
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut tasks: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    tasks.sort();
    if tasks.is_empty() {
        println!(
            "cargo:warning=no task components in {}: run `cargo xtask build-tasks` first, or `task list` will be empty",
            dir.display()
        );
    }

    let mut code = String::from("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for (name, path) in &tasks {
        println!("cargo:rerun-if-changed={}", path.display());
        let path = path.canonicalize().unwrap();
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
}
