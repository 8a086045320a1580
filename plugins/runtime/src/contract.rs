//! Which versions of the task contract this host serves, and the check a component must pass
//! before anything of it is instantiated.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package every task is built against.
pub const PACKAGE: &str = "kubectl-release:task";
/// Versions of [`PACKAGE`] this host can run. A task built for another one is refused at load.
pub const SERVED_VERSIONS: &[&str] = &["0.1.0"];
const RUNNER: &str = "runner";
const IMPORTABLE: &[&str] = &["types", "log", "clock", "files", "registry", "cluster"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContractError {
    #[error(
        "the component was built for {PACKAGE}@{component}, but this host serves {PACKAGE}@{served}; \
         rebuild the task against a served version or use a host that serves {component}"
    )]
    UnsupportedVersion { component: String, served: String },
    #[error(
        "the component does not export {PACKAGE}/{RUNNER}: it is not a kubectl-release task \
         (it exports: {exports})"
    )]
    NotATask { exports: String },
    #[error(
        "the component imports `{import}`, which this host does not provide: tasks may import \
         only {PACKAGE} interfaces (no WASI, nothing ambient)"
    )]
    ForeignImport { import: String },
}

/// Checks the component's exports and imports against [`SERVED_VERSIONS`], naming both versions
/// when they differ so that the fix is obvious.
pub fn check(engine: &Engine, component: &Component) -> Result<&'static str, ContractError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let runner_prefix = format!("{PACKAGE}/{RUNNER}@");
    let version = exports
        .iter()
        .find_map(|name| name.strip_prefix(&runner_prefix))
        .ok_or_else(|| ContractError::NotATask {
            exports: if exports.is_empty() {
                "nothing".to_owned()
            } else {
                exports.join(", ")
            },
        })?;
    let served = SERVED_VERSIONS
        .iter()
        .copied()
        .find(|v| *v == version)
        .ok_or_else(|| ContractError::UnsupportedVersion {
            component: version.to_owned(),
            served: SERVED_VERSIONS.join(", "),
        })?;

    for (import, _) in ty.imports(engine) {
        let allowed = import
            .strip_prefix(PACKAGE)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split_once('@'))
            .is_some_and(|(iface, v)| IMPORTABLE.contains(&iface) && v == served);
        if !allowed {
            return Err(ContractError::ForeignImport {
                import: import.to_owned(),
            });
        }
    }
    Ok(served)
}
