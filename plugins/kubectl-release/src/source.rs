//! Where a task's component comes from: the binary itself, a file, or a registry.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use kubectl_release_runtime::oci::{OciClient, OciOptions, OciReference};
use kubectl_release_runtime::{LoadedTask, Runtime};

use crate::cli::TaskRef;
use crate::embedded;

/// Where the component was found, for `inspect` and error messages.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    Embedded {
        name: String,
    },
    File {
        path: String,
    },
    Oci {
        reference: String,
        pinned: String,
        from_cache: bool,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Embedded { name } => write!(f, "embedded task {name}"),
            Origin::File { path } => f.write_str(path),
            Origin::Oci { pinned, .. } => write!(f, "oci://{pinned}"),
        }
    }
}

pub async fn load(runtime: &Runtime, task: &TaskRef) -> anyhow::Result<(Arc<LoadedTask>, Origin)> {
    if let Some(module) = &task.module {
        if !module.starts_with("oci://") {
            bail!("--module `{module}` is not an oci:// reference");
        }
        return load_oci(runtime, module).await;
    }
    let name = task.task.as_str();
    if name.starts_with("oci://") {
        return load_oci(runtime, name).await;
    }
    if Path::new(name).is_file() {
        let loaded = runtime.load_file(Path::new(name))?;
        return Ok((
            loaded,
            Origin::File {
                path: name.to_owned(),
            },
        ));
    }
    if let Some(bytes) = embedded::find(name) {
        let loaded = runtime.load_bytes(bytes, &format!("embedded task {name}"))?;
        return Ok((
            loaded,
            Origin::Embedded {
                name: name.to_owned(),
            },
        ));
    }
    let known: Vec<&str> = embedded::names().collect();
    bail!(
        "`{name}` is not an embedded task, a component file, or an oci:// reference (embedded tasks: {})",
        if known.is_empty() {
            "none in this build".to_owned()
        } else {
            known.join(", ")
        }
    )
}

async fn load_oci(runtime: &Runtime, reference: &str) -> anyhow::Result<(Arc<LoadedTask>, Origin)> {
    let parsed: OciReference = reference.parse()?;
    let client = OciClient::new(OciOptions::default());
    let (loaded, pulled) = runtime
        .load_oci(&client, &parsed)
        .await
        .with_context(|| format!("loading {reference}"))?;
    if parsed.digest().is_none() {
        eprintln!("resolved {reference} to {}", pulled.pinned);
    }
    Ok((
        loaded,
        Origin::Oci {
            reference: reference.to_owned(),
            pinned: pulled.pinned,
            from_cache: pulled.from_cache,
        },
    ))
}
