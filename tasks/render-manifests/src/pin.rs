//! Image pinning from a Snapshot (`components[].{name, containerImage: REPO@sha256:...}`, the
//! object, its `spec`, or just `{components}`), like kustomize's `images:` with a digest: each
//! container and init container image in Deployments, StatefulSets, DaemonSets, Jobs, CronJobs,
//! ReplicaSets and Pods is rewritten to the snapshot's `repo@sha256:...` when
//! - its repository equals the repository of a devfile `image` component's `imageName` and the
//!   snapshot has a component of that image component's name, or
//! - its repository equals a snapshot component's repository.
//!
//! An image nothing matches is left as it is and reported (a warning, not an error: third-party
//! images such as sidecars are normal).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use crate::error::Error;
use crate::fast::Node;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// component name -> `repo@sha256:...`
    pub components: BTreeMap<String, String>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new("InvalidSnapshot", message.into())
}

impl Snapshot {
    pub fn parse(file: &str, text: &str) -> Result<Snapshot, Error> {
        let doc: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| crate::error::yaml_error("InvalidSnapshot", file, &e))?;
        let spec = doc.get("spec").unwrap_or(&doc);
        let list = spec
            .get("components")
            .and_then(Value::as_sequence)
            .ok_or_else(|| invalid(format!("{file}: no components list")))?;
        let mut components = BTreeMap::new();
        for (i, c) in list.iter().enumerate() {
            let name = c.get("name").and_then(Value::as_str);
            let image = c.get("containerImage").and_then(Value::as_str);
            let (Some(name), Some(image)) = (name, image) else {
                return Err(invalid(format!(
                    "{file}: components[{i}] needs name and containerImage"
                )));
            };
            let Some((_, digest)) = image.split_once('@') else {
                return Err(invalid(format!(
                    "{file}: component {name}: containerImage `{image}` is not pinned by digest (REPO@sha256:...)"
                )));
            };
            if !digest.starts_with("sha256:")
                || digest.len() != 71
                || !digest[7..].bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(invalid(format!(
                    "{file}: component {name}: `{digest}` is not a sha256 digest"
                )));
            }
            components.insert(name.to_owned(), image.to_owned());
        }
        Ok(Snapshot { components })
    }
}

/// `reg:5000/a/b:tag@sha256:..` -> `reg:5000/a/b`.
pub fn repository(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(r, _)| r);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => &image[..last_slash + i],
        None => image,
    }
}

/// Where a workload kind keeps its pod spec.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicaSet" => {
            &["spec", "template", "spec"]
        }
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

/// repository -> pinned reference.
#[derive(Clone, Debug, Default)]
pub struct Pins {
    by_repository: BTreeMap<String, String>,
}

impl Pins {
    /// `images`: devfile image component name -> its `imageName` (variables substituted).
    pub fn new(snapshot: &Snapshot, images: &[(String, String)]) -> Pins {
        let mut by_repository = BTreeMap::new();
        for pinned in snapshot.components.values() {
            by_repository.insert(repository(pinned).to_owned(), pinned.clone());
        }
        // Component-name matches win over repository matches.
        for (name, image_name) in images {
            if let Some(pinned) = snapshot.components.get(name) {
                by_repository.insert(repository(image_name).to_owned(), pinned.clone());
            }
        }
        Pins { by_repository }
    }

    pub fn is_empty(&self) -> bool {
        self.by_repository.is_empty()
    }

    /// Rewrites the images of one resource; returns the images left unmatched.
    pub fn apply(&self, resource: &mut Value) -> Vec<String> {
        let mut unmatched = vec![];
        let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
        let Some(path) = pod_spec_path(kind) else {
            return unmatched;
        };
        let mut spec = Some(resource);
        for key in path {
            spec = spec.and_then(|v| v.get_mut(*key));
        }
        let Some(spec) = spec else { return unmatched };
        for list in ["initContainers", "containers"] {
            let Some(containers) = spec.get_mut(list).and_then(Value::as_sequence_mut) else {
                continue;
            };
            for c in containers {
                let Some(Value::String(image)) = c.get_mut("image") else {
                    continue;
                };
                match self.by_repository.get(repository(image)) {
                    Some(pinned) => *image = pinned.clone(),
                    None => unmatched.push(image.clone()),
                }
            }
        }
        unmatched
    }

    /// [`Pins::apply`] on the fast path's tree.
    pub fn apply_node(&self, resource: &mut Node) -> Vec<String> {
        let mut unmatched = vec![];
        let kind = resource.get("kind").and_then(Node::as_str).unwrap_or("");
        let Some(path) = pod_spec_path(kind) else {
            return unmatched;
        };
        let mut spec = Some(resource);
        for key in path {
            spec = spec.and_then(|v| v.get_mut(key));
        }
        let Some(spec) = spec else { return unmatched };
        for list in ["initContainers", "containers"] {
            let Some(Node::Seq(containers)) = spec.get_mut(list) else {
                continue;
            };
            for c in containers {
                let Some(Node::Str(image)) = c.get_mut("image") else {
                    continue;
                };
                match self.by_repository.get(repository(image)) {
                    Some(pinned) => *image = Cow::Owned(pinned.clone()),
                    None => unmatched.push(image.to_string()),
                }
            }
        }
        unmatched
    }

    /// Pins image references held in Helm values: a string `REPO:TAG` or `REPO@sha256:...`
    /// whose repository matches becomes the pinned reference; a mapping with a string
    /// `repository` that matches and a `digest` key (the common chart convention for digests)
    /// gets that digest. A bare repository string is left alone: charts append `:{{ tag }}` to
    /// it. Returns how many were pinned.
    pub fn apply_values(&self, values: &mut Mapping) -> usize {
        let mut count = 0;
        for (_, v) in values.iter_mut() {
            count += self.pin_value(v);
        }
        count
    }

    fn pin_value(&self, value: &mut Value) -> usize {
        match value {
            Value::String(s) => {
                let repo = repository(s);
                if repo.len() == s.len() {
                    return 0;
                }
                match self.by_repository.get(repo) {
                    Some(pinned) if pinned != s => {
                        *s = pinned.clone();
                        1
                    }
                    _ => 0,
                }
            }
            Value::Mapping(m) => {
                let mut count = 0;
                let pinned = m
                    .get("repository")
                    .and_then(Value::as_str)
                    .filter(|_| m.contains_key("digest"))
                    .and_then(|r| self.by_repository.get(r));
                if let Some(pinned) = pinned {
                    let digest = pinned.split_once('@').map_or("", |(_, d)| d).to_owned();
                    m.insert(Value::from("digest"), Value::from(digest));
                    count += 1;
                }
                for (k, v) in m.iter_mut() {
                    if k.as_str() != Some("digest") {
                        count += self.pin_value(v);
                    }
                }
                count
            }
            Value::Sequence(items) => items.iter_mut().map(|v| self.pin_value(v)).sum(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn snapshot() -> Snapshot {
        let text = format!(
            "apiVersion: appstudio.redhat.com/v1alpha1\nkind: Snapshot\nspec:\n  components:\n  - name: prod-image\n    containerImage: quay.io/ci/app@{D1}\n  - name: worker\n    containerImage: quay.io/team/worker@{D2}\n"
        );
        Snapshot::parse("snap.yaml", &text).unwrap()
    }

    #[test]
    fn repository_strips_tag_and_digest() {
        assert_eq!(repository("reg:5000/a/b:v1"), "reg:5000/a/b");
        assert_eq!(repository("reg:5000/a/b"), "reg:5000/a/b");
        assert_eq!(repository("nginx:1.2@sha256:x"), "nginx");
    }

    #[test]
    fn pins_by_component_name_and_by_repository_in_every_workload() {
        let pins = Pins::new(
            &snapshot(),
            &[("prod-image".to_owned(), "go-image:latest".to_owned())],
        );
        for (kind, prefix) in [
            ("Deployment", "spec:\n  template:\n    spec:\n"),
            ("StatefulSet", "spec:\n  template:\n    spec:\n"),
            ("DaemonSet", "spec:\n  template:\n    spec:\n"),
            ("Job", "spec:\n  template:\n    spec:\n"),
            ("ReplicaSet", "spec:\n  template:\n    spec:\n"),
            (
                "CronJob",
                "spec:\n  jobTemplate:\n   spec:\n    template:\n     spec:\n",
            ),
            ("Pod", "spec:\n"),
        ] {
            let indent = " ".repeat(
                prefix.lines().last().unwrap().len()
                    - prefix.lines().last().unwrap().trim_start().len()
                    + 2,
            );
            let text = format!(
                "kind: {kind}\n{prefix}{indent}initContainers:\n{indent}- image: quay.io/team/worker:v9\n{indent}containers:\n{indent}- image: go-image:latest\n{indent}- image: docker.io/istio/proxy:1\n"
            );
            let mut doc: Value = serde_yaml_ng::from_str(&text).unwrap();
            let unmatched = pins.apply(&mut doc);
            assert_eq!(unmatched, ["docker.io/istio/proxy:1"], "{kind}");
            let out = serde_yaml_ng::to_string(&doc).unwrap();
            assert!(
                out.contains(&format!("quay.io/ci/app@{D1}")),
                "{kind}: {out}"
            );
            assert!(
                out.contains(&format!("quay.io/team/worker@{D2}")),
                "{kind}: {out}"
            );
        }
    }

    #[test]
    fn the_fast_tree_is_pinned_like_a_value() {
        let pins = Pins::new(
            &snapshot(),
            &[("prod-image".to_owned(), "go-image:latest".to_owned())],
        );
        let text = "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers:\n          - image: quay.io/team/worker:v9\n          containers:\n          - image: go-image:latest\n          - image: docker.io/istio/proxy:1\n";
        let mut value: Value = serde_yaml_ng::from_str(text).unwrap();
        let mut node = crate::fast::parse_stream(text).unwrap().remove(0);
        assert_eq!(pins.apply(&mut value), pins.apply_node(&mut node));
        assert_eq!(node.to_value(), value);
        assert!(
            serde_yaml_ng::to_string(&value)
                .unwrap()
                .contains(&format!("quay.io/ci/app@{D1}"))
        );
    }

    #[test]
    fn pins_image_references_in_helm_values() {
        let pins = Pins::new(
            &snapshot(),
            &[("prod-image".to_owned(), "go-image:latest".to_owned())],
        );
        let mut values: Mapping = serde_yaml_ng::from_str(
            "image: go-image:latest\nsidecars: [quay.io/team/worker:v1, docker.io/istio/proxy:1]\nworker: {repository: quay.io/team/worker, tag: v1, digest: ''}\nbare: {repository: quay.io/team/worker, tag: v1}\nname: quay.io/team/worker\n",
        )
        .unwrap();
        assert_eq!(pins.apply_values(&mut values), 3);
        let out = serde_yaml_ng::to_string(&values).unwrap();
        assert_eq!(
            out,
            format!(
                "image: quay.io/ci/app@{D1}\nsidecars:\n- quay.io/team/worker@{D2}\n- docker.io/istio/proxy:1\nworker:\n  repository: quay.io/team/worker\n  tag: v1\n  digest: {D2}\nbare:\n  repository: quay.io/team/worker\n  tag: v1\nname: quay.io/team/worker\n"
            )
        );
    }

    #[test]
    fn snapshot_must_pin_by_digest() {
        let err = Snapshot::parse(
            "s.yaml",
            "components:\n- name: a\n  containerImage: quay.io/a:v1\n",
        )
        .unwrap_err();
        assert_eq!(err.reason, "InvalidSnapshot");
        assert!(err.message.contains("not pinned by digest"));
    }
}
