//! Errors of cluster calls, one variant per WIT `error-kind`, so a task can retry, skip or give
//! up precisely. Messages name the call and the object and carry the API server's own reason;
//! never credentials or tokens.

use std::path::PathBuf;

/// Why a cluster call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    /// The API server refused the host's identity (401/403). Grants are checked before a call
    /// gets here, so this is RBAC (or expired host credentials), not the run's grants.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    /// 409 (a create of an existing name, a stale `resourceVersion`, a field-manager conflict)
    /// or a failed precondition.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed: bad JSON, a missing field, an unknown kind, a namespace where
    /// none belongs, or an object the API server rejected (400/422).
    #[error("{0}")]
    Invalid(String),
    /// No connection, 5xx or 429, after the retries of idempotent calls.
    #[error("{0}")]
    Unavailable(String),
    /// No answer within the client's per-call timeout.
    #[error("{0}")]
    Timeout(String),
}

impl ClusterError {
    /// The WIT name of the kind (`not-found`), for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Denied(_) => "denied",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::Invalid(_) => "invalid",
            Self::Unavailable(_) => "unavailable",
            Self::Timeout(_) => "timeout",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::Invalid(m)
            | Self::Unavailable(m)
            | Self::Timeout(m) => m,
        }
    }

    /// The same error, its message prefixed with `what` (`get v1/ConfigMap a/b: ...`).
    pub(crate) fn context(self, what: &str) -> Self {
        let wrap = |m: String| format!("{what}: {m}");
        match self {
            Self::Denied(m) => Self::Denied(wrap(m)),
            Self::NotFound(m) => Self::NotFound(wrap(m)),
            Self::Conflict(m) => Self::Conflict(wrap(m)),
            Self::Invalid(m) => Self::Invalid(wrap(m)),
            Self::Unavailable(m) => Self::Unavailable(wrap(m)),
            Self::Timeout(m) => Self::Timeout(wrap(m)),
        }
    }

    /// Worth another try: the far side may answer next time.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// `what` (e.g. `get v1/ConfigMap team-a/x`) failed with `err` from the kube client.
    pub(crate) fn from_kube(what: &str, err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => Self::from_status(what, status.code, &status.message),
            kube::Error::Discovery(e) => Self::Invalid(format!("{what}: {e}")),
            kube::Error::BuildRequest(e) => Self::Invalid(format!("{what}: {e}")),
            kube::Error::Auth(e) => Self::Unavailable(format!(
                "{what}: the host could not get its own credentials for the API server: {e}"
            )),
            other => {
                let chain = error_chain(&other);
                if timed_out(&other) {
                    Self::Timeout(format!(
                        "{what}: the API server did not answer in time: {chain}"
                    ))
                } else {
                    Self::Unavailable(format!("{what}: the API server is unreachable: {chain}"))
                }
            }
        }
    }

    /// The kind for an HTTP status the API server answered with.
    pub(crate) fn from_status(what: &str, code: u16, reason: &str) -> Self {
        let reason = if reason.is_empty() {
            format!("the API server answered {code}")
        } else {
            format!("{reason} ({code})")
        };
        match code {
            401 | 403 => Self::Denied(format!(
                "{what}: the API server refused the host's identity: {reason}"
            )),
            404 => Self::NotFound(format!("{what}: {reason}")),
            409 | 412 => Self::Conflict(format!("{what}: {reason}")),
            408 | 504 => Self::Timeout(format!("{what}: {reason}")),
            429 | 500..=599 => Self::Unavailable(format!("{what}: {reason}")),
            _ => Self::Invalid(format!("{what}: {reason}")),
        }
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        // hyper and tower often repeat their source's text in their own.
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Why a [`ClusterClient`](super::ClusterClient) could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClusterSetupError {
    #[error("reading kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no Kubernetes configuration found (KUBECONFIG, ~/.kube/config or in-cluster): {0}")]
    Infer(#[source] kube::config::InferConfigError),
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("reading the API server's CA bundle {}: {source}", path.display())]
    CaBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        for (code, kind) in [
            (401, "denied"),
            (403, "denied"),
            (404, "not-found"),
            (409, "conflict"),
            (412, "conflict"),
            (400, "invalid"),
            (422, "invalid"),
            (405, "invalid"),
            (408, "timeout"),
            (504, "timeout"),
            (429, "unavailable"),
            (500, "unavailable"),
            (503, "unavailable"),
        ] {
            assert_eq!(
                ClusterError::from_status("x", code, "").kind(),
                kind,
                "{code}"
            );
        }
    }

    #[test]
    fn refusals_name_the_host_identity() {
        let e = ClusterError::from_status(
            "get v1/ConfigMap a/b",
            403,
            r#"configmaps "b" is forbidden: User "u" cannot get resource "configmaps""#,
        );
        assert_eq!(e.kind(), "denied");
        assert!(
            e.message().starts_with(
                "get v1/ConfigMap a/b: the API server refused the host's identity: configmaps"
            ),
            "{e}"
        );
        assert!(e.message().ends_with("(403)"), "{e}");
    }
}
