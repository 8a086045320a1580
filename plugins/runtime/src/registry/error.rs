//! Errors of registry calls, classified the way the WIT `error-kind` does so a task can retry,
//! skip or give up precisely. Messages name the call, the reference and the registry's own
//! reason; never credentials, tokens or token-endpoint answers.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryErrorKind {
    /// 401/403: the registry refused the credentials (or their absence).
    Denied,
    NotFound,
    Conflict,
    /// The request is malformed or the content was refused (bad reference, digest mismatch).
    Invalid,
    /// 5xx, 429 or no connection, after the retries.
    Unavailable,
    Timeout,
}

impl RegistryErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::NotFound => "not-found",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
        }
    }
}

impl fmt::Display for RegistryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct RegistryError {
    pub kind: RegistryErrorKind,
    pub message: String,
}

impl RegistryError {
    pub fn new(kind: RegistryErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(RegistryErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(RegistryErrorKind::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(RegistryErrorKind::Unavailable, message)
    }

    /// The kind for an HTTP status the registry answered with (after retries).
    pub(crate) fn kind_for_status(status: u16) -> RegistryErrorKind {
        match status {
            401 | 403 => RegistryErrorKind::Denied,
            404 => RegistryErrorKind::NotFound,
            409 | 412 => RegistryErrorKind::Conflict,
            408 => RegistryErrorKind::Timeout,
            429 | 500..=599 => RegistryErrorKind::Unavailable,
            _ => RegistryErrorKind::Invalid,
        }
    }

    /// An unexpected answer to `what`, with the registry's error codes and messages (from the
    /// OCI error envelope when there is one, else the start of the body).
    pub(crate) fn from_status(what: &str, status: u16, body: &[u8]) -> Self {
        let kind = Self::kind_for_status(status);
        let mut message = format!("{what}: the registry answered {status}");
        if let Some(reason) = describe_body(body) {
            message.push_str(": ");
            message.push_str(&reason);
        }
        if kind == RegistryErrorKind::Denied {
            message.push_str(
                " (check the credentials for this registry in the docker config or its \
                 credential helper)",
            );
        }
        Self::new(kind, message)
    }
}

/// `CODE: message` for each entry of an OCI error envelope; else the body's first line, short.
fn describe_body(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if body.is_empty() {
        return None;
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body)
        && !env.errors.is_empty()
    {
        let parts: Vec<String> = env
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect();
        return Some(truncate(&parts.join("; "), 300));
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(truncate(line, 200))
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        use RegistryErrorKind::*;
        for (status, kind) in [
            (401, Denied),
            (403, Denied),
            (404, NotFound),
            (409, Conflict),
            (400, Invalid),
            (405, Invalid),
            (429, Unavailable),
            (503, Unavailable),
        ] {
            assert_eq!(RegistryError::kind_for_status(status), kind, "{status}");
        }
    }

    #[test]
    fn envelope_is_summarised() {
        let e = RegistryError::from_status(
            "put-manifest x:y",
            400,
            br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:00"}]}"#,
        );
        assert_eq!(e.kind, RegistryErrorKind::Invalid);
        assert_eq!(
            e.message,
            "put-manifest x:y: the registry answered 400: MANIFEST_BLOB_UNKNOWN: blob unknown to registry"
        );
    }
}
