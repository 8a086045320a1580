//! Where the Snapshot comes from: a file, or a `Snapshot` object in the cluster read with the
//! user's kubeconfig (as kubectl would). Either way the task gets the same JSON or YAML text, so
//! validation and grants do not depend on the source.

use std::path::Path;

use anyhow::Context;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;

/// Konflux's `appstudio.redhat.com/v1alpha1` `Snapshot`.
fn snapshot_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("appstudio.redhat.com", "v1alpha1", "Snapshot"),
        "snapshots",
    )
}

pub fn from_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading the snapshot file {}", path.display()))
}

/// `namespace`: the kubeconfig context's namespace when `None`.
pub async fn from_cluster(name: &str, namespace: Option<&str>) -> anyhow::Result<String> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG or ~/.kube/config)")?;
    let namespace = namespace.unwrap_or(client.default_namespace()).to_owned();
    let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &snapshot_resource());
    let object = api
        .get(name)
        .await
        .map_err(|e| match &e {
            kube::Error::Api(status) if status.code == 404 => anyhow::anyhow!(
                "snapshot {namespace}/{name} not found (is the Snapshot CRD installed, and is this the right namespace?)"
            ),
            _ => anyhow::Error::new(e).context(format!("reading snapshot {namespace}/{name}")),
        })?;
    serde_json::to_string(&object).context("encoding the snapshot")
}
