//! The cluster operations behind the `cluster` WIT interface, on the host's own identity.
//!
//! Requests are built with kube's `Request` and sent raw, so an object comes back exactly as the
//! API server wrote it (no round trip through a typed struct that could drop fields), and so no
//! answer is ever parsed by code that logs what it failed to parse (a Secret, a token).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::TokenRequest;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::core::params::{
    DeleteParams, GetParams, ListParams, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use serde_json::{Value, json};

use super::discovery::{DiscoveryCache, ResolvedKind};
use super::kubeconfig::ServerInfo;
use super::object::{check_api_version, check_kind, check_name, check_namespace};
use super::{ClusterError, ClusterSetupError, Object, ObjectKey};

/// The API server's limit on field-manager names.
const MAX_FIELD_MANAGER: usize = 128;
/// How many pages one `list` may take.
const MAX_LIST_PAGES: usize = 200;
/// The TokenRequest API refuses shorter lifetimes.
const MIN_TOKEN_SECONDS: u64 = 600;
/// The key of the kubeconfig in Secrets made by `write-kubeconfig-secret`.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// Annotation on those Secrets: the ServiceAccount the token is for.
pub const SERVICE_ACCOUNT_ANNOTATION: &str = "kubectl-release.dev/service-account";
/// Annotation on those Secrets: when the token expires (RFC 3339).
pub const TOKEN_EXPIRES_ANNOTATION: &str = "kubectl-release.dev/token-expires";

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Longest one task call may take, discovery and retries included; then `timeout`.
    pub call_timeout: Duration,
    /// Field manager of `create`, `replace` and `patch` (`apply` names its own).
    pub field_manager: String,
    /// The API server URL written into kubeconfigs made by `write-kubeconfig-secret`, when their
    /// readers reach it differently from the host (default: the host's own URL).
    pub kubeconfig_server: Option<String>,
    /// Extra tries of idempotent calls (get, list, apply, discovery) that found the API server
    /// unavailable; writes that are not idempotent are never repeated.
    pub retries: u32,
    /// Pause before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
    /// Objects per request of a `list`, which follows the API server's continue tokens.
    pub list_page: u32,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            field_manager: "kubectl-release".into(),
            kubeconfig_server: None,
            retries: 3,
            retry_backoff: Duration::from_millis(200),
            list_page: 500,
        }
    }
}

/// How a `patch` body is read, as in `kubectl patch --type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 7386 JSON merge patch: an object.
    Merge,
    /// RFC 6902 JSON patch: an array of operations.
    Json,
    /// Kubernetes strategic merge patch: an object (built-in kinds only).
    Strategic,
}

/// What `write-kubeconfig-secret` is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeconfigSecret {
    /// Of both the ServiceAccount and the Secret.
    pub namespace: String,
    pub service_account: String,
    pub secret_name: String,
    /// 0 for the API server's default (one hour); else at least 600.
    pub expiration_seconds: u64,
    /// Overwrite a Secret of that name that already exists (else `conflict`).
    pub replace_existing: bool,
}

/// Access to one Kubernetes API server with the host's identity. Cheap to share: runs hold it in
/// an `Arc`; discovery answers are kept for the client's lifetime.
pub struct ClusterClient {
    client: kube::Client,
    server: ServerInfo,
    discovery: DiscoveryCache,
    options: ClusterOptions,
}

impl fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterClient")
            .field("server", &self.server.url)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Sends one request built by kube's [`Request`] and returns the body. A macro, not a function,
/// because kube hands out `http::Request`s and this crate does not name the `http` crate.
macro_rules! send {
    ($self:expr, $what:expr, $request:expr) => {
        async {
            let request = $request.map_err(|e| ClusterError::Invalid(format!("{}: {e}", $what)))?;
            $self
                .client
                .request_text(request)
                .await
                .map_err(|e| ClusterError::from_kube($what, e))
        }
    };
}

impl ClusterClient {
    /// A client for the cluster `config` describes (e.g. from [`kube::Config::infer`]).
    pub fn new(config: kube::Config, options: ClusterOptions) -> Result<Self, ClusterSetupError> {
        let mut server = ServerInfo::from_config(&config)?;
        if let Some(url) = &options.kubeconfig_server {
            server.url = url.trim_end_matches('/').to_owned();
        }
        let client = kube::Client::try_from(config).map_err(ClusterSetupError::Client)?;
        Ok(Self {
            client,
            server,
            discovery: DiscoveryCache::default(),
            options,
        })
    }

    /// A client for the current context of the kubeconfig file at `path`.
    pub async fn from_kubeconfig(
        path: &Path,
        options: ClusterOptions,
    ) -> Result<Self, ClusterSetupError> {
        let err = |source| ClusterSetupError::Kubeconfig {
            path: path.to_owned(),
            source,
        };
        let kubeconfig = Kubeconfig::read_from(path).map_err(err)?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(err)?;
        Self::new(config, options)
    }

    /// A client as `kubectl` would make one: `KUBECONFIG` or `~/.kube/config`, else the
    /// in-cluster service account (the controller).
    pub async fn try_default(options: ClusterOptions) -> Result<Self, ClusterSetupError> {
        let config = kube::Config::infer()
            .await
            .map_err(ClusterSetupError::Infer)?;
        Self::new(config, options)
    }

    /// The API server URL, as written into kubeconfigs.
    pub fn server_url(&self) -> &str {
        &self.server.url
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    /// The resource behind `api_version` + `kind` (plural, scope), asked once and kept.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Arc<ResolvedKind>, ClusterError> {
        check_api_version(api_version)?;
        check_kind(kind)?;
        let what = format!("discovery of {api_version}/{kind}");
        self.bounded(&what, self.discover(api_version, kind)).await
    }

    /// The object as JSON.
    pub async fn get(&self, target: &ObjectKey) -> Result<String, ClusterError> {
        target.validate()?;
        let what = format!("get {target}");
        self.bounded(&what, async {
            let path = self.collection(&what, target, false).await?;
            self.retrying(|| {
                send!(
                    self,
                    &what,
                    Request::new(&path).get(&target.name, &GetParams::default())
                )
            })
            .await
        })
        .await
    }

    /// Each matching object as JSON, with `apiVersion` and `kind` filled in (a list's items do
    /// not carry them). `namespace: None` lists every namespace.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<String>, ClusterError> {
        check_api_version(api_version)?;
        check_kind(kind)?;
        if let Some(ns) = namespace {
            check_namespace(ns)?;
        }
        let what = format!(
            "list {api_version}/{kind} in {}",
            namespace.map_or("all namespaces".to_owned(), |ns| format!("namespace {ns}"))
        );
        let mut params = ListParams {
            label_selector: label_selector.filter(|s| !s.is_empty()).map(str::to_owned),
            limit: Some(self.options.list_page.max(1)),
            ..ListParams::default()
        };
        self.bounded(&what, async {
            let resolved = self
                .discover(api_version, kind)
                .await
                .map_err(|e| e.context(&what))?;
            resolved.check_scope(&what, namespace, true)?;
            let path = resolved.url_path(namespace);
            // Page by page, as kubectl does, so a large list is not one huge answer.
            let mut items = Vec::new();
            for _ in 0..MAX_LIST_PAGES {
                let text = self
                    .retrying(|| send!(self, &what, Request::new(&path).list(&params)))
                    .await?;
                let mut list: Value = serde_json::from_str(&text).map_err(|e| {
                    ClusterError::Unavailable(format!(
                        "{what}: the API server's answer is not JSON: {e}"
                    ))
                })?;
                match list.get_mut("items").map(Value::take) {
                    Some(Value::Array(page)) => items.extend(page),
                    Some(Value::Null) | None => {}
                    Some(_) => {
                        return Err(ClusterError::Unavailable(format!(
                            "{what}: the API server's answer has no list of items"
                        )));
                    }
                }
                match list["metadata"]["continue"].as_str() {
                    Some(token) if !token.is_empty() => {
                        params.continue_token = Some(token.to_owned());
                    }
                    _ => return Ok(finish_items(items, &resolved)),
                }
            }
            Err(ClusterError::Unavailable(format!(
                "{what}: more than {} objects",
                self.options.list_page.max(1) as usize * MAX_LIST_PAGES
            )))
        })
        .await
    }

    /// Creates `object`; `conflict` if its name is taken.
    pub async fn create(&self, object: &Object) -> Result<String, ClusterError> {
        let what = format!("create {}", object.key);
        let params = PostParams {
            field_manager: Some(self.options.field_manager.clone()),
            ..PostParams::default()
        };
        let body = serde_json::to_vec(&object.value).expect("a JSON value serialises");
        self.bounded(&what, async {
            let path = self.collection(&what, &object.key, false).await?;
            send!(self, &what, Request::new(&path).create(&params, body)).await
        })
        .await
    }

    /// Compare-and-swap: `object` must carry the `metadata.resourceVersion` it was read at, and
    /// the write fails with `conflict` if the object changed since.
    pub async fn replace(&self, object: &Object) -> Result<String, ClusterError> {
        let what = format!("replace {}", object.key);
        if object.resource_version().is_none() {
            return Err(ClusterError::Invalid(format!(
                "{what}: the object has no `metadata.resourceVersion`; replace is a \
                 compare-and-swap on the version it was read at (use apply or patch to write \
                 without one)"
            )));
        }
        let params = PostParams {
            field_manager: Some(self.options.field_manager.clone()),
            ..PostParams::default()
        };
        let body = serde_json::to_vec(&object.value).expect("a JSON value serialises");
        self.bounded(&what, async {
            let path = self.collection(&what, &object.key, false).await?;
            send!(
                self,
                &what,
                Request::new(&path).replace(&object.key.name, &params, body)
            )
            .await
        })
        .await
    }

    /// Server-side apply as `field_manager`, not forced: fields another manager owns give
    /// `conflict`. `dry_run` has the server validate and answer without storing anything.
    pub async fn apply(
        &self,
        object: &Object,
        field_manager: &str,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        let what = format!(
            "apply{} {} as {field_manager:?}",
            if dry_run { " (dry run)" } else { "" },
            object.key
        );
        if field_manager.is_empty() || field_manager.len() > MAX_FIELD_MANAGER {
            return Err(ClusterError::Invalid(format!(
                "{what}: the field manager must be 1 to {MAX_FIELD_MANAGER} characters"
            )));
        }
        let params = PatchParams {
            field_manager: Some(field_manager.to_owned()),
            dry_run,
            ..PatchParams::default()
        };
        let patch = Patch::Apply(&object.value);
        self.bounded(&what, async {
            let path = self.collection(&what, &object.key, false).await?;
            // Applying the same object twice has the same effect: safe to repeat.
            self.retrying(|| {
                send!(
                    self,
                    &what,
                    Request::new(&path).patch(&object.key.name, &params, &patch)
                )
            })
            .await
        })
        .await
    }

    /// Patches `target` with `patch` (JSON text) read as `kind`.
    pub async fn patch(
        &self,
        target: &ObjectKey,
        kind: PatchType,
        patch: &str,
    ) -> Result<String, ClusterError> {
        target.validate()?;
        let label = match kind {
            PatchType::Merge => "merge",
            PatchType::Json => "json",
            PatchType::Strategic => "strategic",
        };
        let what = format!("patch ({label}) {target}");
        let body: Value = serde_json::from_str(patch).map_err(|e| {
            ClusterError::Invalid(format!("{what}: the patch is not valid JSON: {e}"))
        })?;
        let shape_ok = match kind {
            PatchType::Json => body.is_array(),
            PatchType::Merge | PatchType::Strategic => body.is_object(),
        };
        if !shape_ok {
            return Err(ClusterError::Invalid(format!(
                "{what}: a {label} patch is {}",
                if kind == PatchType::Json {
                    "a JSON array of operations"
                } else {
                    "a JSON object"
                }
            )));
        }
        let params = PatchParams {
            field_manager: Some(self.options.field_manager.clone()),
            ..PatchParams::default()
        };
        // kube types JSON patches with the `json-patch` crate; the body is already checked JSON,
        // so it goes as a merge patch whose content type is then corrected.
        let wrapped = match kind {
            PatchType::Strategic => Patch::Strategic(&body),
            PatchType::Merge | PatchType::Json => Patch::Merge(&body),
        };
        self.bounded(&what, async {
            let path = self.collection(&what, target, false).await?;
            let request = Request::new(&path)
                .patch(&target.name, &params, &wrapped)
                .map(|mut request| {
                    if kind == PatchType::Json {
                        request.headers_mut().insert(
                            reqwest::header::CONTENT_TYPE,
                            reqwest::header::HeaderValue::from_static(
                                "application/json-patch+json",
                            ),
                        );
                    }
                    request
                });
            send!(self, &what, request).await
        })
        .await
    }

    /// Deletes `target` (dependents in the background); with `resource_version`, only if the
    /// object is still at that version, else `conflict`.
    pub async fn delete(
        &self,
        target: &ObjectKey,
        resource_version: Option<&str>,
    ) -> Result<(), ClusterError> {
        target.validate()?;
        let what = match resource_version {
            Some(rv) => format!("delete {target} at resourceVersion {rv}"),
            None => format!("delete {target}"),
        };
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: resource_version.map(|rv| Preconditions {
                resource_version: Some(rv.to_owned()),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        self.bounded(&what, async {
            let path = self.collection(&what, target, false).await?;
            send!(
                self,
                &what,
                Request::new(&path).delete(&target.name, &params)
            )
            .await
            .map(drop)
        })
        .await
    }

    /// Mints a token for the ServiceAccount (TokenRequest API) and stores a kubeconfig using it
    /// in the Secret; returns the Secret's name. The token is bound to the Secret, so deleting
    /// the Secret revokes it. Neither the token nor the kubeconfig leaves this function except
    /// into the Secret: they are not returned, logged or put in error messages.
    ///
    /// Steps: the ServiceAccount must exist (`not-found`); the Secret is created (or, with
    /// `replace_existing`, an existing one is taken over, else `conflict`); a token bound to it
    /// is requested; the kubeconfig is written into it by compare-and-swap. A Secret this call
    /// created is deleted again if a later step fails.
    pub async fn write_kubeconfig_secret(
        &self,
        request: &KubeconfigSecret,
    ) -> Result<String, ClusterError> {
        let KubeconfigSecret {
            namespace,
            service_account,
            secret_name,
            expiration_seconds,
            replace_existing,
        } = request;
        let what = format!(
            "write-kubeconfig-secret {namespace}/{secret_name} for ServiceAccount \
             {service_account}"
        );
        check_namespace(namespace)?;
        check_name("ServiceAccount name", service_account)?;
        check_name("Secret name", secret_name)?;
        if *expiration_seconds != 0 && *expiration_seconds < MIN_TOKEN_SECONDS {
            return Err(ClusterError::Invalid(format!(
                "{what}: expiration-seconds {expiration_seconds} is below the API server's \
                 minimum of {MIN_TOKEN_SECONDS} (0 takes its default of one hour)"
            )));
        }
        let expiration = match i64::try_from(*expiration_seconds) {
            Ok(0) => None,
            Ok(s) => Some(s),
            Err(_) => {
                return Err(ClusterError::Invalid(format!(
                    "{what}: expiration-seconds {expiration_seconds} is out of range"
                )));
            }
        };
        let sa_path = format!("/api/v1/namespaces/{namespace}/serviceaccounts");
        let secrets = format!("/api/v1/namespaces/{namespace}/secrets");
        self.bounded(&what, async {
            self.retrying(|| {
                send!(
                    self,
                    &what,
                    Request::new(&sa_path).get(service_account, &GetParams::default())
                )
            })
            .await?;

            let (secret, created) = self
                .secret_for_token(&what, &secrets, request, *replace_existing)
                .await?;
            let written = self
                .fill_kubeconfig_secret(&what, &sa_path, &secrets, request, secret, expiration)
                .await;
            if let Err(e) = written {
                if let Some(uid) = created {
                    self.remove_created_secret(&secrets, secret_name, uid).await;
                }
                return Err(e);
            }
            tracing::info!(
                namespace = %namespace,
                secret = %secret_name,
                service_account = %service_account,
                "wrote a kubeconfig Secret"
            );
            Ok(secret_name.clone())
        })
        .await
    }

    /// The Secret the token will be bound to, as JSON, and its uid if this call created it.
    async fn secret_for_token(
        &self,
        what: &str,
        secrets: &str,
        request: &KubeconfigSecret,
        replace_existing: bool,
    ) -> Result<(Value, Option<String>), ClusterError> {
        let fresh = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": request.secret_name,
                "namespace": request.namespace,
                "labels": { "app.kubernetes.io/managed-by": "kubectl-release" },
                "annotations": { SERVICE_ACCOUNT_ANNOTATION: request.service_account },
            },
            "type": "Opaque",
        });
        let params = PostParams {
            field_manager: Some(self.options.field_manager.clone()),
            ..PostParams::default()
        };
        let body = serde_json::to_vec(&fresh).expect("a JSON value serialises");
        let created = send!(self, what, Request::new(secrets).create(&params, body)).await;
        let (text, created) = match created {
            Ok(text) => (text, true),
            Err(ClusterError::Conflict(_)) if replace_existing => {
                let text = send!(
                    self,
                    what,
                    Request::new(secrets).get(&request.secret_name, &GetParams::default())
                )
                .await?;
                (text, false)
            }
            Err(ClusterError::Conflict(m)) => {
                return Err(ClusterError::Conflict(format!(
                    "{m}; overwriting an existing Secret also needs update on {}/Secret",
                    request.namespace
                )));
            }
            Err(e) => return Err(e),
        };
        let secret: Value = serde_json::from_str(&text).map_err(|_| {
            ClusterError::Unavailable(format!("{what}: the API server's answer is not JSON"))
        })?;
        let uid = secret["metadata"]["uid"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ClusterError::Unavailable(format!("{what}: the Secret came back without a uid"))
            })?
            .to_owned();
        Ok((secret, created.then_some(uid)))
    }

    /// Requests a token bound to `secret` and writes the kubeconfig into it.
    async fn fill_kubeconfig_secret(
        &self,
        what: &str,
        sa_path: &str,
        secrets: &str,
        request: &KubeconfigSecret,
        mut secret: Value,
        expiration: Option<i64>,
    ) -> Result<(), ClusterError> {
        let token_request = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [],
                "expirationSeconds": expiration,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "name": request.secret_name,
                    "uid": secret["metadata"]["uid"],
                },
            },
        });
        let body = serde_json::to_vec(&token_request).expect("a JSON value serialises");
        let text = send!(
            self,
            what,
            Request::new(sa_path).create_subresource(
                "token",
                &request.service_account,
                &PostParams::default(),
                body
            )
        )
        .await?;
        // Parsed here, never by a client that would log an answer it cannot read.
        let minted: TokenRequest = serde_json::from_str(&text).map_err(|_| {
            ClusterError::Unavailable(format!(
                "{what}: the API server's TokenRequest answer could not be read"
            ))
        })?;
        drop(text);
        let status = minted.status.unwrap_or_default();
        let Some(token) = status.token.filter(|t| !t.is_empty()) else {
            return Err(ClusterError::Unavailable(format!(
                "{what}: the API server minted no token"
            )));
        };
        let kubeconfig =
            self.server
                .kubeconfig(&request.namespace, &request.service_account, &token);
        drop(token);
        let expires = status
            .expiration_timestamp
            .map(|t| t.0.to_string())
            .unwrap_or_default();

        // `stringData` overrides the same key of `data`; other keys of a taken-over Secret stay.
        secret["stringData"] = json!({ KUBECONFIG_KEY: kubeconfig });
        let meta = &mut secret["metadata"];
        meta["annotations"][SERVICE_ACCOUNT_ANNOTATION] = request.service_account.clone().into();
        meta["annotations"][TOKEN_EXPIRES_ANNOTATION] = expires.into();
        // Server-owned bookkeeping is not sent back; resourceVersion stays for the swap.
        if let Some(meta) = meta.as_object_mut() {
            meta.remove("managedFields");
        }
        let params = PostParams {
            field_manager: Some(self.options.field_manager.clone()),
            ..PostParams::default()
        };
        let body = serde_json::to_vec(&secret).expect("a JSON value serialises");
        // The answer holds the kubeconfig: dropped unread.
        send!(
            self,
            what,
            Request::new(secrets).replace(&request.secret_name, &params, body)
        )
        .await
        .map(drop)
    }

    /// Best effort: the call already failed for a reason worth reporting, this only keeps a
    /// half-made Secret from staying behind.
    async fn remove_created_secret(&self, secrets: &str, name: &str, uid: String) {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: None,
                uid: Some(uid),
            }),
            ..DeleteParams::default()
        };
        let what = format!("delete of the unfinished Secret {name}");
        if let Err(e) = send!(self, &what, Request::new(secrets).delete(name, &params)).await {
            tracing::warn!(error = %e, "could not remove an unfinished kubeconfig Secret");
        }
    }

    /// The collection URL of `target`'s kind in its namespace, after checking the scope.
    async fn collection(
        &self,
        what: &str,
        target: &ObjectKey,
        all_namespaces: bool,
    ) -> Result<String, ClusterError> {
        let resolved = self
            .discover(&target.api_version, &target.kind)
            .await
            .map_err(|e| e.context(what))?;
        let namespace = target.namespace.as_deref();
        resolved.check_scope(what, namespace, all_namespaces)?;
        Ok(resolved.url_path(namespace))
    }

    async fn discover(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Arc<ResolvedKind>, ClusterError> {
        self.retrying(|| self.discovery.resolve(&self.client, api_version, kind))
            .await
    }

    /// Runs `op`, and again after a pause while it finds the API server unavailable. Only for
    /// idempotent calls: a write whose answer was lost may have happened. The whole call's
    /// timeout ([`Self::bounded`]) still applies.
    async fn retrying<T, F, Fut>(&self, op: F) -> Result<T, ClusterError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ClusterError>>,
    {
        let mut pause = self.options.retry_backoff;
        let mut tries = 0;
        loop {
            match op().await {
                Err(e) if e.is_transient() && tries < self.options.retries => {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "cluster call unavailable, retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                done => return done,
            }
        }
    }

    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        let limit = self.options.call_timeout;
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(ClusterError::Timeout(format!(
                "{what}: no answer from the API server within {limit:?}"
            )))
        })
    }
}

/// Items of a list page lack `apiVersion` and `kind`; a task gets whole objects.
fn finish_items(items: Vec<Value>, resolved: &ResolvedKind) -> Vec<String> {
    items
        .into_iter()
        .map(|mut item| {
            if let Some(fields) = item.as_object_mut() {
                fields
                    .entry("apiVersion")
                    .or_insert_with(|| resolved.resource.api_version.clone().into());
                fields
                    .entry("kind")
                    .or_insert_with(|| resolved.resource.kind.clone().into());
            }
            item.to_string()
        })
        .collect()
}
