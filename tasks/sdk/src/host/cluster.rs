//! Kubernetes API access. Objects travel as JSON text; the host checks namespace and kind against
//! the run's grants and authenticates with its own identity.

use crate::HostError;
use crate::bindings::kubectl_release::task::cluster as wit;

pub use wit::{ObjectRef, PatchKind};

impl ObjectRef {
    pub fn namespaced(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    pub fn cluster_scoped(api_version: &str, kind: &str, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }
}

pub fn get(target: &ObjectRef) -> Result<String, HostError> {
    wit::get(target).map_err(Into::into)
}

/// The JSON of each item; `label_selector` as in `kubectl -l`.
pub fn list(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    label_selector: Option<&str>,
) -> Result<Vec<String>, HostError> {
    wit::list(api_version, kind, namespace, label_selector).map_err(Into::into)
}

/// Fails with `conflict` if the object exists.
pub fn create(object: &str) -> Result<String, HostError> {
    wit::create(object).map_err(Into::into)
}

/// Compare-and-swap on `metadata.resourceVersion`: `conflict` if someone changed it first.
pub fn replace(object: &str) -> Result<String, HostError> {
    wit::replace(object).map_err(Into::into)
}

/// Server-side apply; `dry_run` asks the server to validate only.
pub fn apply(object: &str, field_manager: &str, dry_run: bool) -> Result<String, HostError> {
    wit::apply(object, field_manager, dry_run).map_err(Into::into)
}

pub fn patch(target: &ObjectRef, kind: PatchKind, patch: &str) -> Result<String, HostError> {
    wit::patch(target, kind, patch).map_err(Into::into)
}

/// `resource_version` makes the delete conditional.
pub fn delete(target: &ObjectRef, resource_version: Option<&str>) -> Result<(), HostError> {
    wit::delete(target, resource_version).map_err(Into::into)
}

/// Has the host mint a ServiceAccount token and store a kubeconfig using it in a Secret, so the
/// token never passes through the task. Returns the Secret's name.
pub fn write_kubeconfig_secret(
    namespace: &str,
    service_account: &str,
    secret_name: &str,
    expiration_seconds: u64,
) -> Result<String, HostError> {
    wit::write_kubeconfig_secret(namespace, service_account, secret_name, expiration_seconds)
        .map_err(Into::into)
}
