//! One registry's connection: its base URL (plain HTTP for loopback and insecure registries),
//! its credentials, and the auth handshake per repository and operation.
//!
//! The handshake (`GET /v2/`, then the bearer token flow if the registry asks for it) is done
//! by `oci-client`; the requests themselves are plain `reqwest`, because the registry interface
//! needs what `oci-client` does not expose: the served `Content-Type` of a manifest, status
//! codes to tell a refused mount (202) from a mount (201), and streamed blob copies.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use oci_client::RegistryOperation;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use reqwest::{RequestBuilder, Response, StatusCode, Url};

use super::retry::Failure;
use super::{RegistryError, RegistryErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Pull,
    Push,
}

impl Op {
    fn oci(self) -> RegistryOperation {
        match self {
            Op::Pull => RegistryOperation::Pull,
            Op::Push => RegistryOperation::Push,
        }
    }
}

/// What to put on a request: decided once per (repository, operation) by the handshake.
#[derive(Clone)]
enum AuthHeader {
    Anonymous,
    Basic,
    Bearer(String),
}

pub(crate) struct Connection {
    registry: String,
    base: Url,
    creds: RegistryAuth,
    /// Used only for the auth handshake, so made on first need: building it loads the system's
    /// CA certificates, which an anonymous (or plain-HTTP loopback) registry never needs.
    oci: OnceLock<oci_client::Client>,
    insecure: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
    headers: Mutex<HashMap<(String, Op), AuthHeader>>,
    /// Set once the registry answered the referrers API with 404: a registry that has the API
    /// never does (OCI distribution spec), so the tag-schema fallback is used from then on
    /// without asking again.
    pub(crate) no_referrers_api: AtomicBool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("registry", &self.registry)
            .field("base", &self.base.as_str())
            .field("auth", &crate::oci::auth::describe(&self.creds))
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(
        registry: &str,
        insecure: bool,
        creds: RegistryAuth,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<Self, RegistryError> {
        let scheme = if insecure { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{registry}/")).map_err(|e| {
            RegistryError::invalid(format!("registry {registry:?} is not a valid host: {e}"))
        })?;
        Ok(Self {
            registry: registry.to_owned(),
            base,
            creds,
            oci: OnceLock::new(),
            insecure,
            connect_timeout,
            read_timeout,
            headers: Mutex::new(HashMap::new()),
            no_referrers_api: AtomicBool::new(false),
        })
    }

    pub(crate) fn registry(&self) -> &str {
        &self.registry
    }

    /// `<scheme>://<registry>/v2/<rest>`.
    pub(crate) fn url(&self, rest: &str) -> Url {
        self.base
            .join(&format!("v2/{rest}"))
            .unwrap_or_else(|_| self.base.clone())
    }

    /// A `Location` header (absolute or relative to the registry).
    pub(crate) fn location(&self, location: &str) -> Result<Url, RegistryError> {
        self.base.join(location).map_err(|e| {
            RegistryError::unavailable(format!(
                "registry {} answered an unusable upload location: {e}",
                self.registry
            ))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Op), AuthHeader>> {
        self.headers.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn header(&self, path: &str, op: Op) -> Result<AuthHeader, Failure> {
        if matches!(self.creds, RegistryAuth::Anonymous) {
            return Ok(AuthHeader::Anonymous);
        }
        let key = (path.to_owned(), op);
        if let Some(h) = self.lock().get(&key) {
            return Ok(h.clone());
        }
        let reference =
            oci_client::Reference::with_tag(self.registry.clone(), path.to_owned(), "x".into());
        let oci = self.oci.get_or_init(|| {
            oci_client::Client::new(ClientConfig {
                protocol: if self.insecure {
                    ClientProtocol::Http
                } else {
                    ClientProtocol::Https
                },
                connect_timeout: Some(self.connect_timeout),
                read_timeout: Some(self.read_timeout),
                ..Default::default()
            })
        });
        let header = match oci.auth(&reference, &self.creds, op.oci()).await {
            Ok(Some(token)) => AuthHeader::Bearer(token),
            Ok(None) => match self.creds {
                RegistryAuth::Basic(..) => AuthHeader::Basic,
                RegistryAuth::Bearer(ref t) => AuthHeader::Bearer(t.clone()),
                RegistryAuth::Anonymous => AuthHeader::Anonymous,
            },
            Err(e) => return Err(self.auth_failure(e)),
        };
        self.lock().insert(key, header.clone());
        Ok(header)
    }

    /// The handshake failed: unreachable is transient; a refused token request is a denial.
    /// Only the registry is named: a token endpoint's answer may echo what was sent.
    fn auth_failure(&self, e: OciDistributionError) -> Failure {
        match e {
            OciDistributionError::RequestError(re) => transport_failure(&self.registry, &re),
            OciDistributionError::AuthenticationFailure(_) => Failure::Fatal(RegistryError::new(
                RegistryErrorKind::Denied,
                format!(
                    "registry {} refused the credentials from the docker config (token request \
                     failed)",
                    self.registry
                ),
            )),
            _ => Failure::Transient {
                error: RegistryError::unavailable(format!(
                    "authenticating with registry {} failed",
                    self.registry
                )),
                retry_after: None,
            },
        }
    }

    /// Sends one request for `path` with `op`'s credentials. Transport errors, 5xx and 429 are
    /// transient failures; every other answer is returned for the caller to judge.
    pub(crate) async fn send_once(
        &self,
        path: &str,
        op: Op,
        what: &str,
        request: RequestBuilder,
    ) -> Result<Response, Failure> {
        let header = self.header(path, op).await?;
        let request = match (&header, &self.creds) {
            (AuthHeader::Bearer(token), _) => request.bearer_auth(token),
            (AuthHeader::Basic, RegistryAuth::Basic(user, password)) => {
                request.basic_auth(user, Some(password))
            }
            _ => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| transport_failure(&self.registry, &e))?;
        let status = response.status();
        tracing::trace!(what, %status, "registry answered");
        if status == StatusCode::UNAUTHORIZED && matches!(header, AuthHeader::Bearer(_)) {
            // An expired token: forget it and try again with a fresh one.
            self.lock().remove(&(path.to_owned(), op));
            return Err(Failure::Transient {
                error: RegistryError::new(
                    RegistryErrorKind::Denied,
                    format!("{what}: the registry refused the token (401)"),
                ),
                retry_after: Some(Duration::ZERO),
            });
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.bytes().await.unwrap_or_default();
            return Err(Failure::Transient {
                error: RegistryError::from_status(what, status.as_u16(), &body),
                retry_after,
            });
        }
        Ok(response)
    }
}

/// A request that got no answer: refused or dropped connections and timeouts are transient.
pub(crate) fn transport_failure(registry: &str, e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        RegistryErrorKind::Timeout
    } else {
        RegistryErrorKind::Unavailable
    };
    // The chain names the cause ("Connection refused"); URLs carry no credentials.
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !cause.contains(&text) {
            if !cause.is_empty() {
                cause.push_str(": ");
            }
            cause.push_str(&text);
        }
        source = s.source();
    }
    Failure::Transient {
        error: RegistryError::new(kind, format!("registry {registry} unreachable: {cause}")),
        retry_after: None,
    }
}
