use std::fmt;

/// Why a task failed: `reason` is one CamelCase word (the condition reason a CustomRun shows),
/// `message` is for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError {
    pub reason: String,
    pub message: String,
}

impl TaskError {
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        TaskError {
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A param is missing, has the wrong shape, or a value the task cannot use.
    pub fn invalid_param(name: &str, problem: impl fmt::Display) -> Self {
        TaskError::new("InvalidParam", format!("param `{name}` {problem}"))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for TaskError {}

/// Lets `?` on a host call end the run with a failure whose reason is the error kind
/// (`Denied`, `NotFound`, ...); tasks that want a more specific reason map it themselves.
impl From<HostError> for TaskError {
    fn from(e: HostError) -> Self {
        TaskError::new(e.kind.reason(), e.message)
    }
}

/// What every host call can fail with; the kinds let a task retry, skip or give up precisely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The run's grants do not allow the call.
    Denied,
    NotFound,
    /// Someone else changed the object first.
    Conflict,
    /// The request itself is malformed.
    Invalid,
    /// The far side failed or could not be reached, after the host's own retries.
    Unavailable,
    Timeout,
}

impl ErrorKind {
    /// The WIT name (`not-found`), stable for logs and results.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Denied => "denied",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
        }
    }

    /// The CamelCase form used as a failure reason (`NotFound`).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::Denied => "Denied",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::Invalid => "Invalid",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Timeout => "Timeout",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed host call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostError {
    pub kind: ErrorKind,
    pub message: String,
}

impl HostError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        HostError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for HostError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_error_becomes_a_failure_named_after_its_kind() {
        let e = TaskError::from(HostError::new(ErrorKind::NotFound, "no such tag"));
        assert_eq!(e, TaskError::new("NotFound", "no such tag"));
    }

    #[test]
    fn display_forms() {
        assert_eq!(
            HostError::new(ErrorKind::Denied, "push to x").to_string(),
            "denied: push to x"
        );
        assert_eq!(
            TaskError::invalid_param("size", "must be a number").to_string(),
            "InvalidParam: param `size` must be a number"
        );
    }
}
