//! How a run ended, as hosts report it: Tekton condition reasons and CLI exit codes come from here.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::params::Value;

/// Reasons the host itself gives; tasks give their own (CamelCase) reasons when they fail.
pub mod reason {
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    pub const MEMORY_LIMIT: &str = "MemoryLimit";
    pub const TRAP: &str = "Trap";
    pub const OUTPUT_TOO_LARGE: &str = "OutputTooLarge";
    pub const HOST_ERROR: &str = "HostError";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub reason: String,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum RunOutcome {
    Succeeded {
        results: Vec<NamedValue>,
    },
    Failed(Failure),
    Pending {
        #[serde(with = "millis")]
        retry_after: Duration,
        #[serde(skip)]
        state: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedValue {
    pub name: String,
    pub value: Value,
}

impl RunOutcome {
    pub(crate) fn failed(reason: &str, message: impl Into<String>) -> Self {
        RunOutcome::Failed(Failure {
            reason: reason.to_owned(),
            message: message.into(),
        })
    }

    pub fn failure(&self) -> Option<&Failure> {
        match self {
            RunOutcome::Failed(f) => Some(f),
            _ => None,
        }
    }

    pub fn result(&self, name: &str) -> Option<&Value> {
        match self {
            RunOutcome::Succeeded { results } => {
                results.iter().find(|r| r.name == name).map(|r| &r.value)
            }
            _ => None,
        }
    }
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}
