//! A task component made ready to run: content-addressed, compiled once, pre-linked once.
//! [`Runtime`] keeps one [`LoadedTask`] per digest; every run gets a fresh `Store` from it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use wasmtime::component::{HasSelf, Linker};

use crate::Digest;
use crate::bindings::{Task, TaskPre};
use crate::contract::{self, ContractError};
use crate::engine::TaskEngine;
use crate::host::HostState;
use crate::oci::{OciClient, OciError, OciReference, PulledComponent};
use crate::params::TaskSpec;
use crate::precompiled::{self, CompileError, LoadPath};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {source}")]
    Compile {
        origin: String,
        #[source]
        source: CompileError,
    },
    #[error("{origin}: {source}")]
    Contract {
        origin: String,
        #[source]
        source: ContractError,
    },
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error("{origin}: cannot link the component to this host: {source:#}")]
    Link {
        origin: String,
        #[source]
        source: wasmtime::Error,
    },
}

/// A component checked against the contract and pre-linked against the host's imports.
pub struct LoadedTask {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) pre: TaskPre<HostState>,
    pub(crate) spec: tokio::sync::OnceCell<TaskSpec>,
    digest: Digest,
    size: usize,
    load_path: LoadPath,
    contract_version: &'static str,
    imports: Vec<String>,
}

impl LoadedTask {
    /// The sha256 of the component's bytes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this process compiled the component or read a precompiled artifact.
    pub fn load_path(&self) -> LoadPath {
        self.load_path
    }

    /// The version of the `kubectl-release:task` package the component was built for.
    pub fn contract_version(&self) -> &'static str {
        self.contract_version
    }

    /// The interfaces the component imports, e.g. `kubectl-release:task/files@0.1.0`.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

/// Loads components and keeps them by digest. One per process (or per controller).
pub struct Runtime {
    engine: TaskEngine,
    linker: Linker<HostState>,
    tasks: Mutex<HashMap<Digest, Arc<LoadedTask>>>,
}

impl Runtime {
    pub fn new(engine: TaskEngine) -> Result<Self, wasmtime::Error> {
        let mut linker = Linker::new(engine.engine());
        Task::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
        Ok(Self {
            engine,
            linker,
            tasks: Mutex::new(HashMap::new()),
        })
    }

    pub fn engine(&self) -> &TaskEngine {
        &self.engine
    }

    pub fn load_file(&self, path: &Path) -> Result<Arc<LoadedTask>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// Pulls `reference` (a tag is resolved to a digest first; every byte is verified against
    /// its digest; a digest already in the component cache costs no network call) and loads it.
    pub async fn load_oci(
        &self,
        client: &OciClient,
        reference: &OciReference,
    ) -> Result<(Arc<LoadedTask>, PulledComponent), LoadError> {
        let pulled = client.pull_component(reference).await?;
        let task = self.load_bytes(&pulled.bytes, &pulled.pinned)?;
        Ok((task, pulled))
    }

    /// Loads `bytes`; `origin` (a path, a reference, a task name) goes into error messages.
    pub fn load_bytes(&self, bytes: &[u8], origin: &str) -> Result<Arc<LoadedTask>, LoadError> {
        let digest = Digest::of(bytes);
        if let Some(task) = self.tasks.lock().expect("task map poisoned").get(&digest) {
            return Ok(task.clone());
        }
        let (component, load_path) =
            precompiled::load(&self.engine, &digest, bytes).map_err(|source| {
                LoadError::Compile {
                    origin: origin.to_owned(),
                    source,
                }
            })?;
        let engine = self.engine.engine();
        let contract_version =
            contract::check(engine, &component).map_err(|source| LoadError::Contract {
                origin: origin.to_owned(),
                source,
            })?;
        let link_err = |source| LoadError::Link {
            origin: origin.to_owned(),
            source,
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(link_err)?;
        let pre = TaskPre::new(instance_pre).map_err(link_err)?;
        let imports = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let task = Arc::new(LoadedTask {
            engine: engine.clone(),
            pre,
            spec: tokio::sync::OnceCell::new(),
            digest: digest.clone(),
            size: bytes.len(),
            load_path,
            contract_version,
            imports,
        });
        self.tasks
            .lock()
            .expect("task map poisoned")
            .entry(digest)
            .or_insert(task.clone());
        Ok(task)
    }
}
