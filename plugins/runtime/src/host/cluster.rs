//! The `cluster` interface: every call is checked against the run's grants before anything is
//! sent to the API server, then served by the run's [`ClusterClient`] on the host's identity. A
//! refusal names what was asked and what the run was granted; a host without cluster access
//! refuses everything.
//!
//! Grant needed per call (grants are `cluster:VERB[,VERB...]=NAMESPACE/KIND`; a cluster-scoped
//! kind, or a list across all namespaces, needs a grant on namespace `*`):
//!
//! | call | needs |
//! | --- | --- |
//! | `get` | `get` on the object's namespace and kind |
//! | `list` | `list` on the namespace (`*` when none is given) and kind |
//! | `create` | `create` |
//! | `replace` | `update` |
//! | `apply` | `apply` (a dry run too: it still reveals what the server would store) |
//! | `patch` | `patch` |
//! | `delete` | `delete` |
//! | `write-kubeconfig-secret` | `token` on `NAMESPACE/ServiceAccount` and `create` on `NAMESPACE/Secret`; overwriting an existing Secret of that name also needs `update` on `NAMESPACE/Secret` (without it: `conflict`) |
//!
//! Kinds are matched by name only (case-insensitively), not by API group.

use std::sync::Arc;

use super::{HostState, error};
use crate::bindings::cluster::{self, ObjectRef, PatchKind};
use crate::bindings::types::{Error, ErrorKind};
use crate::cluster::{ClusterClient, ClusterError, KubeconfigSecret, Object, ObjectKey, PatchType};
use crate::grants::Verb;

/// One grant a call needs: `verb` on `namespace` (`None`: cluster-scoped or all namespaces) and
/// `kind`.
struct Need<'a> {
    verb: Verb,
    namespace: Option<&'a str>,
    kind: &'a str,
    /// The API group (`""` for core).
    group: &'a str,
}

/// The group of an `apiVersion`: `apps` of `apps/v1`, `""` of `v1`.
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

impl HostState {
    /// Checks every grant the call needs, then hands out the client.
    fn cluster_for(
        &self,
        call: &str,
        target: &str,
        needs: &[Need<'_>],
    ) -> Result<Arc<ClusterClient>, Error> {
        let granted = self.ctx.grants.describe_cluster();
        for need in needs {
            if !self
                .ctx
                .grants
                .allows_cluster(need.verb, need.namespace, need.kind, need.group)
            {
                let want = format!(
                    "{} on {}/{}",
                    verb_name(need.verb),
                    need.namespace.unwrap_or("*"),
                    need.kind
                );
                tracing::warn!(call, target, need = %want, %granted, "denied cluster call");
                return Err(error(
                    ErrorKind::Denied,
                    format!(
                        "cluster.{call} on {target} denied: it needs {want} (granted: {granted})"
                    ),
                ));
            }
        }
        self.ctx.cluster.clone().ok_or_else(|| {
            tracing::warn!(
                call,
                target,
                "denied cluster call: no cluster access in this host"
            );
            error(
                ErrorKind::Denied,
                format!(
                    "cluster.{call} on {target} denied: this host does not serve cluster access \
                     (granted: {granted})"
                ),
            )
        })
    }
}

/// The grant-syntax name of a verb, for denial messages.
fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Create => "create",
        Verb::Update => "update",
        Verb::Apply => "apply",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::Token => "token",
    }
}

fn key(call: &str, target: ObjectRef) -> Result<ObjectKey, Error> {
    let key = ObjectKey {
        api_version: target.api_version,
        kind: target.kind,
        namespace: target.namespace,
        name: target.name,
    };
    key.validate().map_err(|e| mapped(call, e))?;
    Ok(key)
}

fn object(call: &str, json: &str) -> Result<Object, Error> {
    Object::parse(json).map_err(|e| mapped(call, e))
}

fn need(verb: Verb, key: &ObjectKey) -> Need<'_> {
    Need {
        verb,
        namespace: key.namespace.as_deref(),
        kind: &key.kind,
        group: group_of(&key.api_version),
    }
}

fn mapped(call: &str, e: ClusterError) -> Error {
    tracing::debug!(call, kind = e.kind(), error = %e, "cluster call failed");
    let kind = match e {
        ClusterError::Denied(_) => ErrorKind::Denied,
        ClusterError::NotFound(_) => ErrorKind::NotFound,
        ClusterError::Conflict(_) => ErrorKind::Conflict,
        ClusterError::Invalid(_) => ErrorKind::Invalid,
        ClusterError::Unavailable(_) => ErrorKind::Unavailable,
        ClusterError::Timeout(_) => ErrorKind::Timeout,
    };
    let message = match e {
        ClusterError::Denied(m)
        | ClusterError::NotFound(m)
        | ClusterError::Conflict(m)
        | ClusterError::Invalid(m)
        | ClusterError::Unavailable(m)
        | ClusterError::Timeout(m) => m,
    };
    // Most messages already start with the call and its object (`get v1/ConfigMap a/b: ...`).
    let message = if message.starts_with(&format!("{call} ")) {
        format!("cluster.{message}")
    } else {
        format!("cluster.{call}: {message}")
    };
    error(kind, message)
}

impl cluster::Host for HostState {
    async fn get(&mut self, target: ObjectRef) -> Result<String, Error> {
        let key = key("get", target)?;
        let client = self.cluster_for("get", &key.to_string(), &[need(Verb::Get, &key)])?;
        client.get(&key).await.map_err(|e| mapped("get", e))
    }

    async fn list(
        &mut self,
        api_version: String,
        kind: String,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> Result<Vec<String>, Error> {
        let target = format!(
            "{api_version}/{kind} in {}",
            namespace
                .as_deref()
                .map_or("all namespaces".to_owned(), |ns| format!("namespace {ns}"))
        );
        let client = self.cluster_for(
            "list",
            &target,
            &[Need {
                verb: Verb::List,
                namespace: namespace.as_deref(),
                kind: &kind,
                group: group_of(&api_version),
            }],
        )?;
        client
            .list(
                &api_version,
                &kind,
                namespace.as_deref(),
                label_selector.as_deref(),
            )
            .await
            .map_err(|e| mapped("list", e))
    }

    async fn create(&mut self, object_: String) -> Result<String, Error> {
        let o = object("create", &object_)?;
        let client =
            self.cluster_for("create", &o.key.to_string(), &[need(Verb::Create, &o.key)])?;
        client.create(&o).await.map_err(|e| mapped("create", e))
    }

    async fn replace(&mut self, object_: String) -> Result<String, Error> {
        let o = object("replace", &object_)?;
        let client =
            self.cluster_for("replace", &o.key.to_string(), &[need(Verb::Update, &o.key)])?;
        client.replace(&o).await.map_err(|e| mapped("replace", e))
    }

    async fn apply(
        &mut self,
        object_: String,
        field_manager: String,
        dry_run: bool,
    ) -> Result<String, Error> {
        let o = object("apply", &object_)?;
        let client = self.cluster_for("apply", &o.key.to_string(), &[need(Verb::Apply, &o.key)])?;
        client
            .apply(&o, &field_manager, dry_run)
            .await
            .map_err(|e| mapped("apply", e))
    }

    async fn patch(
        &mut self,
        target: ObjectRef,
        kind: PatchKind,
        patch: String,
    ) -> Result<String, Error> {
        let key = key("patch", target)?;
        let client = self.cluster_for("patch", &key.to_string(), &[need(Verb::Patch, &key)])?;
        let kind = match kind {
            PatchKind::Merge => PatchType::Merge,
            PatchKind::Json => PatchType::Json,
            PatchKind::Strategic => PatchType::Strategic,
        };
        client
            .patch(&key, kind, &patch)
            .await
            .map_err(|e| mapped("patch", e))
    }

    async fn delete(
        &mut self,
        target: ObjectRef,
        resource_version: Option<String>,
    ) -> Result<(), Error> {
        let key = key("delete", target)?;
        let client = self.cluster_for("delete", &key.to_string(), &[need(Verb::Delete, &key)])?;
        client
            .delete(
                &key,
                resource_version.as_deref().filter(|rv| !rv.is_empty()),
            )
            .await
            .map_err(|e| mapped("delete", e))
    }

    /// Needs `token` on `NAMESPACE/ServiceAccount` and `create` on `NAMESPACE/Secret`; with
    /// `update` on `NAMESPACE/Secret` as well, an existing Secret of that name is overwritten
    /// (with a fresh token), else taking its name is a `conflict`. The token is minted and
    /// stored by the host and bound to the Secret: the task only ever sees the Secret's name.
    async fn write_kubeconfig_secret(
        &mut self,
        namespace: String,
        service_account: String,
        secret_name: String,
        expiration_seconds: u64,
    ) -> Result<String, Error> {
        let call = "write-kubeconfig-secret";
        let target =
            format!("Secret {namespace}/{secret_name} for ServiceAccount {service_account}");
        let client = self.cluster_for(
            call,
            &target,
            &[
                Need {
                    verb: Verb::Token,
                    namespace: Some(&namespace),
                    kind: "ServiceAccount",
                    group: "",
                },
                Need {
                    verb: Verb::Create,
                    namespace: Some(&namespace),
                    kind: "Secret",
                    group: "",
                },
            ],
        )?;
        let replace_existing =
            self.ctx
                .grants
                .allows_cluster(Verb::Update, Some(&namespace), "Secret", "");
        let request = KubeconfigSecret {
            namespace,
            service_account,
            secret_name,
            expiration_seconds,
            replace_existing,
        };
        client
            .write_kubeconfig_secret(&request)
            .await
            .map_err(|e| mapped(call, e))
    }
}
