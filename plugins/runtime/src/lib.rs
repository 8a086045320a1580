//! The host side of kubectl-release: everything between "a reference to a task component" and
//! "the outcome of one run". The types follow the WASM lifecycle:
//!
//! [`EngineBuilder`] → [`TaskEngine`] (one per process) → [`Runtime::load_bytes`] →
//! [`LoadedTask`] (one per digest: compiled once, pre-linked once) → [`LoadedTask::call`]
//! (a fresh store per call, limits and grants from a [`RunContext`]) → [`RunOutcome`].

mod bindings;
pub mod cluster;
pub mod contract;
pub mod digest;
pub mod engine;
mod fsutil;
pub mod grants;
pub mod host;
pub mod limits;
pub mod oci;
pub mod outcome;
pub mod params;
pub mod paths;
pub mod precompiled;
pub mod registry;
mod run;
mod suggest;
mod task;

pub use cluster::{ClusterClient, ClusterOptions};
pub use digest::Digest;
pub use engine::{EngineBuilder, TaskEngine};
pub use grants::Grants;
pub use host::{Clock, FileTrees, LogLevel, LogLine, LogSink, RunContext};
pub use limits::Limits;
pub use outcome::{Failure, NamedValue, RunOutcome};
pub use params::{GivenValue, ParamSpec, ResultSpec, TaskSpec, Value, ValueKind};
pub use precompiled::LoadPath;
pub use registry::RegistryClient;
pub use run::{DescribeError, RunIdentity};
pub use task::{LoadError, LoadedTask, Runtime};
