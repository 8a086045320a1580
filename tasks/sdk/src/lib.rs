//! Guest SDK for kubectl-release tasks.
//!
//! A task is plain Rust: implement [`Task`] with a [`TaskSpec`] and a `run` over typed
//! [`Params`], return [`Outcome`] or a [`TaskError`], reach the outside world only through the
//! wrappers in [`log`], [`clock`], [`files`], [`registry`] and [`cluster`], and export it with
//! [`export_task!`]:
//!
//! ```ignore
//! use kubectl_release_sdk::prelude::*;
//!
//! struct Echo;
//! impl Task for Echo {
//!     fn describe() -> TaskSpec {
//!         TaskSpec::new("echo", "Echoes its params")
//!             .param(ParamSpec::string("message", "what to echo").default("hi"))
//!             .result(ResultSpec::string("message", "the message"))
//!     }
//!     fn run(input: Input) -> Result<Outcome, TaskError> {
//!         let msg = input.params.string("message")?;
//!         log::info("echoing", &[("len", &msg.len().to_string())]);
//!         Ok(Outcome::succeeded(Results::new().string("message", msg)))
//!     }
//! }
//! export_task!(Echo);
//! ```

pub mod bindings;
mod convert;
mod error;
mod export;
mod host;
mod outcome;
mod params;
mod results;
mod spec;
mod value;

pub use error::{ErrorKind, HostError, TaskError};
pub use export::Task;
pub use host::{clock, cluster, files, log, registry};
pub use outcome::{Input, Outcome, RunIdentity};
pub use params::Params;
pub use results::Results;
pub use spec::{ParamSpec, ResultSpec, TaskSpec};
pub use value::{Value, ValueKind};

/// Everything a task body usually needs, including the host modules.
pub mod prelude {
    pub use crate::{
        ErrorKind, HostError, Input, Outcome, ParamSpec, Params, ResultSpec, Results, RunIdentity,
        Task, TaskError, TaskSpec, Value, ValueKind, clock, cluster, export_task, files, log,
        registry,
    };
}

/// Used by [`export_task!`]'s expansion; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::kubectl_release::task::runner::Guest;
    pub use crate::bindings::kubectl_release::task::types::{
        TaskInput as WitTaskInput, TaskOutcome as WitTaskOutcome, TaskSpec as WitTaskSpec,
    };
    pub use crate::export::{describe, run};
}
