//! `--flux-source`: the `OCIRepository` and `Kustomization` a cluster needs to pull and apply a
//! published bundle. Written next to the rendered manifests, never into the bundle itself.

use serde_json::json;

use crate::task::parse_target;

/// `target`: `oci://REGISTRY/REPO:TAG`. Returns (file name, YAML) pairs, or `None` when
/// `target` is not of that form.
pub fn source_objects(target: &str, namespace: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let (repository, tag) = parse_target(target)?;
    let name = repository.rsplit('/').next()?.to_owned();
    let repo = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "5m", "url": format!("oci://{repository}"), "ref": {"tag": tag}},
    });
    let kustomization = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "sourceRef": {"kind": "OCIRepository", "name": name},
            "path": "./",
            "prune": true,
            "wait": true,
        },
    });
    let yaml = |v: &serde_json::Value| serde_yaml_ng::to_string(v).ok().map(String::into_bytes);
    Some(vec![
        (
            format!("source.toolkit.fluxcd.io_v1_ocirepository_{namespace}_{name}.yaml")
                .to_lowercase(),
            yaml(&repo)?,
        ),
        (
            format!("kustomize.toolkit.fluxcd.io_v1_kustomization_{namespace}_{name}.yaml")
                .to_lowercase(),
            yaml(&kustomization)?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_a_source_and_a_kustomization() {
        let files = source_objects("oci://reg.example/team/shop-config:v1", "flux-system").unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].0,
            "source.toolkit.fluxcd.io_v1_ocirepository_flux-system_shop-config.yaml"
        );
        let repo = std::str::from_utf8(&files[0].1).unwrap();
        assert!(
            repo.contains("url: oci://reg.example/team/shop-config"),
            "{repo}"
        );
        assert!(repo.contains("tag: v1"), "{repo}");
        let k = std::str::from_utf8(&files[1].1).unwrap();
        assert!(
            k.contains("kind: OCIRepository") && k.contains("name: shop-config"),
            "{k}"
        );
        assert!(source_objects("reg.example/no-tag", "x").is_none());
    }
}
