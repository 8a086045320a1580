//! Retries with exponential backoff for transient registry failures.

use std::future::Future;
use std::time::Duration;

use super::RegistryError;

/// How often and how patiently a failing registry call is repeated. Only transient failures are
/// retried: 5xx, 429, refused or dropped connections and timeouts; never a 4xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in total, the first included (at least 1).
    pub attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Six tries, 100 ms doubling to at most 2 s: about 3 s of waiting, enough to ride out a
    /// registry restart, short against the default 30 s run deadline.
    fn default() -> Self {
        Self {
            attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries: one try per call.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before try `attempt + 1` (0-based `attempt` that just failed).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Runs `op` until it succeeds, fails for good, or the tries are used up.
    pub(crate) async fn run<T, F>(
        &self,
        what: &str,
        mut op: impl FnMut() -> F,
    ) -> Result<T, RegistryError>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        let attempts = self.attempts.max(1);
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient { error, retry_after }) => {
                    attempt += 1;
                    if attempt >= attempts {
                        let mut error = error;
                        error.message = format!("{} (after {attempts} tries)", error.message);
                        return Err(error);
                    }
                    let wait = retry_after
                        .map(|d| d.min(self.max_backoff))
                        .unwrap_or_else(|| self.backoff(attempt - 1));
                    tracing::debug!(what, attempt, ?wait, error = %error, "retrying registry call");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// How one try failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another try (the registry may ask for a wait with `Retry-After`).
    Transient {
        error: RegistryError,
        retry_after: Option<Duration>,
    },
    Fatal(RegistryError),
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure::Fatal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryErrorKind;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let waits: Vec<u128> = (0..7).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[tokio::test]
    async fn retries_transient_failures_only() {
        let p = RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut tries = 0;
        let r: Result<u32, _> = p
            .run("x", || {
                tries += 1;
                let n = tries;
                async move {
                    if n < 3 {
                        Err(Failure::Transient {
                            error: RegistryError::unavailable("503"),
                            retry_after: None,
                        })
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r.unwrap(), 3);

        let mut tries = 0;
        let r: Result<(), _> = p
            .run("x", || {
                tries += 1;
                async { Err(Failure::Fatal(RegistryError::not_found("404"))) }
            })
            .await;
        assert_eq!(r.unwrap_err().kind, RegistryErrorKind::NotFound);
        assert_eq!(tries, 1);

        let mut tries = 0;
        let r: Result<(), _> = p
            .run("x", || {
                tries += 1;
                async {
                    Err(Failure::Transient {
                        error: RegistryError::unavailable("503"),
                        retry_after: None,
                    })
                }
            })
            .await;
        assert_eq!(tries, 4);
        assert!(r.unwrap_err().message.contains("after 4 tries"));
    }
}
