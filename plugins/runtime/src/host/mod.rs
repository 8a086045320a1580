//! Host implementations of the task's imports. Each interface is one file; all of them work on
//! [`HostState`], the per-call store data.

mod clock;
mod cluster;
mod files;
mod log;
mod registry;

use std::sync::Arc;

pub use clock::Clock;
pub use files::FileTrees;
pub use log::{LogLevel, LogLine, LogSink};

use crate::bindings::types;
use crate::cluster::ClusterClient;
use crate::grants::Grants;
use crate::limits::{Limits, MemoryLimiter};
use crate::registry::RegistryClient;

/// Everything a run was given, shared by every call of the run (a `pending` task is called again).
#[derive(Clone)]
pub struct RunContext {
    pub grants: Arc<Grants>,
    pub files: FileTrees,
    pub log: LogSink,
    pub clock: Clock,
    pub limits: Limits,
    /// Registry access for the `registry` interface, shared by runs; `None` answers every
    /// registry call `denied`. Grants are checked before it is used.
    pub registry: Option<Arc<RegistryClient>>,
    /// Kubernetes API access for the `cluster` interface, on the host's identity and shared by
    /// runs; `None` answers every cluster call `denied`. Grants are checked before it is used.
    pub cluster: Option<Arc<ClusterClient>>,
}

impl Default for RunContext {
    fn default() -> Self {
        Self {
            grants: Arc::new(Grants::default()),
            files: FileTrees::default(),
            log: LogSink::tracing(),
            clock: Clock::System,
            limits: Limits::default(),
            registry: None,
            cluster: None,
        }
    }
}

/// Store data for one call of a task: fresh for every call, so nothing leaks between runs.
pub struct HostState {
    pub(crate) ctx: RunContext,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) output_written: u64,
    pub(crate) output_exceeded: bool,
    /// The message of a guest panic, sent by the SDK's panic hook just before it aborts.
    pub(crate) panic_message: Option<String>,
    pub(crate) log_lines: usize,
}

impl HostState {
    pub(crate) fn new(ctx: RunContext) -> Self {
        Self {
            limiter: MemoryLimiter::new(ctx.limits.memory_bytes),
            ctx,
            output_written: 0,
            output_exceeded: false,
            panic_message: None,
            log_lines: 0,
        }
    }
}

impl types::Host for HostState {}

pub(crate) fn error(kind: types::ErrorKind, message: impl Into<String>) -> types::Error {
    types::Error {
        kind,
        message: message.into(),
    }
}
