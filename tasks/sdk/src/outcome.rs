use std::time::Duration;

use crate::{Params, Results, TaskError};

/// What `run` receives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Input {
    pub params: Params,
    pub run: RunIdentity,
    /// The state of the last [`Outcome::Pending`]; `None` on the first call.
    pub state: Option<Vec<u8>>,
}

/// Who is running: a CustomRun in the controller, a synthetic identity in the CLI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunIdentity {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// 0 for the first attempt, then one more per retry.
    pub attempt: u32,
}

/// How a run ended, or that it wants to be called again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded(Results),
    Failed(TaskError),
    /// The host calls `run` again after `retry_after`, handing `state` back, without holding a
    /// thread meanwhile (a claim on a full pool, a rollout).
    Pending {
        retry_after: Duration,
        state: Vec<u8>,
    },
}

impl Outcome {
    pub fn succeeded(results: Results) -> Self {
        Outcome::Succeeded(results)
    }

    pub fn failed(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Outcome::Failed(TaskError::new(reason, message))
    }

    pub fn pending(retry_after: Duration, state: impl Into<Vec<u8>>) -> Self {
        Outcome::Pending {
            retry_after,
            state: state.into(),
        }
    }
}

impl From<TaskError> for Outcome {
    fn from(e: TaskError) -> Self {
        Outcome::Failed(e)
    }
}

impl From<Result<Outcome, TaskError>> for Outcome {
    fn from(r: Result<Outcome, TaskError>) -> Self {
        r.unwrap_or_else(Outcome::Failed)
    }
}
