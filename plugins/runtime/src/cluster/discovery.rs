//! apiVersion + kind → the resource to call (plural, scope), asked of the API server once per
//! client and kept. Only answers are kept: a kind that is missing now (a CRD not installed yet)
//! is asked again next time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::core::discovery::Scope;
use kube::core::{ApiResource, GroupVersion, GroupVersionKind};
use kube::discovery::pinned_kind;

use super::ClusterError;

/// A kind as the API server serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

impl ResolvedKind {
    /// The collection's URL path, in `namespace` or cluster-wide.
    pub(crate) fn url_path(&self, namespace: Option<&str>) -> String {
        let ar = &self.resource;
        let root = if ar.group.is_empty() { "api" } else { "apis" };
        match namespace {
            Some(ns) => format!("/{root}/{}/namespaces/{ns}/{}", ar.api_version, ar.plural),
            None => format!("/{root}/{}/{}", ar.api_version, ar.plural),
        }
    }

    /// Namespaced kinds need a namespace and cluster-scoped kinds refuse one; `all_namespaces`
    /// lets a list of a namespaced kind go without.
    pub(crate) fn check_scope(
        &self,
        what: &str,
        namespace: Option<&str>,
        all_namespaces: bool,
    ) -> Result<(), ClusterError> {
        let kind = &self.resource.kind;
        match (self.namespaced, namespace) {
            (true, None) if !all_namespaces => Err(ClusterError::Invalid(format!(
                "{what}: {kind} is namespaced, but no namespace was given"
            ))),
            (false, Some(ns)) => Err(ClusterError::Invalid(format!(
                "{what}: {kind} is cluster-scoped, but namespace `{ns}` was given"
            ))),
            _ => Ok(()),
        }
    }
}

#[derive(Default)]
pub(crate) struct DiscoveryCache {
    known: Mutex<HashMap<(String, String), Arc<ResolvedKind>>>,
}

impl DiscoveryCache {
    pub(crate) fn cached(&self, api_version: &str, kind: &str) -> Option<Arc<ResolvedKind>> {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(api_version.to_owned(), kind.to_owned()))
            .cloned()
    }

    /// Asks the API server for the resource list of `api_version` and finds `kind` in it.
    pub(crate) async fn resolve(
        &self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Arc<ResolvedKind>, ClusterError> {
        if let Some(known) = self.cached(api_version, kind) {
            return Ok(known);
        }
        let gv: GroupVersion = api_version.parse().map_err(|e| {
            ClusterError::Invalid(format!("apiVersion `{api_version}` is not valid: {e}"))
        })?;
        let gvk = GroupVersionKind::gvk(&gv.group, &gv.version, kind);
        let what = format!("discovery of {api_version}/{kind}");
        let (resource, caps) = match pinned_kind(client, &gvk).await {
            Ok(found) => found,
            Err(kube::Error::Discovery(_)) => {
                return Err(ClusterError::Invalid(format!(
                    "the API server serves no kind `{kind}` in {api_version} (kinds are \
                     case-sensitive, e.g. ConfigMap)"
                )));
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(ClusterError::Invalid(format!(
                    "the API server does not serve apiVersion {api_version}"
                )));
            }
            Err(e) => return Err(ClusterError::from_kube(&what, e)),
        };
        let resolved = Arc::new(ResolvedKind {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        });
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((api_version.to_owned(), kind.to_owned()), resolved.clone());
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(group: &str, version: &str, kind: &str, plural: &str) -> ResolvedKind {
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        ResolvedKind {
            resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced: true,
        }
    }

    #[test]
    fn url_paths_of_core_and_group_kinds() {
        let cm = resolved("", "v1", "ConfigMap", "configmaps");
        assert_eq!(cm.url_path(Some("a")), "/api/v1/namespaces/a/configmaps");
        assert_eq!(cm.url_path(None), "/api/v1/configmaps");
        let d = resolved("apps", "v1", "Deployment", "deployments");
        assert_eq!(
            d.url_path(Some("a")),
            "/apis/apps/v1/namespaces/a/deployments"
        );
    }

    #[test]
    fn scope_is_checked() {
        let mut cm = resolved("", "v1", "ConfigMap", "configmaps");
        assert!(cm.check_scope("get", None, false).is_err());
        cm.check_scope("list", None, true).unwrap();
        cm.check_scope("get", Some("a"), false).unwrap();
        cm.namespaced = false;
        let e = cm.check_scope("get", Some("a"), false).unwrap_err();
        assert!(e.message().contains("cluster-scoped"), "{e}");
    }
}
