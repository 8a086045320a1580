//! The `cluster` interface. Until the environments work brings the real implementation, every
//! call is answered `denied`, naming what was asked and what the run was granted.

use super::{HostState, error};
use crate::bindings::cluster::{self, ObjectRef, PatchKind};
use crate::bindings::types::{Error, ErrorKind};

impl HostState {
    fn cluster_denied(&self, call: &str, target: &str) -> Error {
        let granted = self.ctx.grants.describe_cluster();
        tracing::warn!(call, target, %granted, "denied cluster call");
        error(
            ErrorKind::Denied,
            format!(
                "cluster.{call} on {target} denied: this host does not serve cluster access yet \
                 (granted: {granted})"
            ),
        )
    }
}

fn describe(target: &ObjectRef) -> String {
    match &target.namespace {
        Some(ns) => format!(
            "{}/{} {}/{}",
            target.api_version, target.kind, ns, target.name
        ),
        None => format!("{}/{} {}", target.api_version, target.kind, target.name),
    }
}

/// The kind and name of an object given as JSON, for the denial message only.
fn describe_json(object: &str) -> String {
    serde_json::from_str::<serde_json::Value>(object)
        .ok()
        .map(|v| {
            format!(
                "{} {}",
                v["kind"].as_str().unwrap_or("<no kind>"),
                v["metadata"]["name"].as_str().unwrap_or("<no name>")
            )
        })
        .unwrap_or_else(|| "<invalid JSON object>".into())
}

impl cluster::Host for HostState {
    async fn get(&mut self, target: ObjectRef) -> Result<String, Error> {
        Err(self.cluster_denied("get", &describe(&target)))
    }

    async fn list(
        &mut self,
        api_version: String,
        kind: String,
        namespace: Option<String>,
        _label_selector: Option<String>,
    ) -> Result<Vec<String>, Error> {
        let target = format!(
            "{api_version}/{kind} in {}",
            namespace.as_deref().unwrap_or("all namespaces")
        );
        Err(self.cluster_denied("list", &target))
    }

    async fn create(&mut self, object: String) -> Result<String, Error> {
        Err(self.cluster_denied("create", &describe_json(&object)))
    }

    async fn replace(&mut self, object: String) -> Result<String, Error> {
        Err(self.cluster_denied("replace", &describe_json(&object)))
    }

    async fn apply(
        &mut self,
        object: String,
        _field_manager: String,
        _dry_run: bool,
    ) -> Result<String, Error> {
        Err(self.cluster_denied("apply", &describe_json(&object)))
    }

    async fn patch(
        &mut self,
        target: ObjectRef,
        _kind: PatchKind,
        _patch: String,
    ) -> Result<String, Error> {
        Err(self.cluster_denied("patch", &describe(&target)))
    }

    async fn delete(
        &mut self,
        target: ObjectRef,
        _resource_version: Option<String>,
    ) -> Result<(), Error> {
        Err(self.cluster_denied("delete", &describe(&target)))
    }

    async fn write_kubeconfig_secret(
        &mut self,
        namespace: String,
        service_account: String,
        secret_name: String,
        _expiration_seconds: u64,
    ) -> Result<String, Error> {
        Err(self.cluster_denied(
            "write-kubeconfig-secret",
            &format!("{namespace}/{secret_name} for ServiceAccount {service_account}"),
        ))
    }
}
