//! The promotion request: a Konflux-style Snapshot plus an optional Konflux `data.mapping`, parsed
//! and validated without any I/O. Everything a user can get wrong in the text is caught here,
//! naming the component and the reason, before the first registry call. The CLI uses this too
//! (as an rlib), to derive the run's grants from the same parse.

use std::collections::{BTreeMap, BTreeSet};

use kubectl_release_sdk::TaskError;
use serde_json::Value as Json;

use crate::reference::{ImageRef, validate_repository};
use crate::template::Template;
use crate::time;

pub const INVALID_SNAPSHOT: &str = "InvalidSnapshot";
pub const INVALID_MAPPING: &str = "InvalidMapping";
pub const INVALID_TAG: &str = "InvalidTag";

/// Konflux's apply-mapping default: seconds since the epoch.
pub const DEFAULT_TIMESTAMP_FORMAT: &str = "%s";

/// One component to promote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub component: String,
    pub source: ImageRef,
    pub git_revision: Option<String>,
    /// Where it goes: the mapping's repository, or the source repository (tag in place).
    pub destination: String,
    pub tags: Vec<Template>,
    pub timestamp_format: String,
}

impl Item {
    pub fn in_place(&self) -> bool {
        self.destination == self.source.repository
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub items: Vec<Item>,
    /// Snapshot components the mapping does not list (Konflux drops them too).
    pub unmapped: Vec<String>,
}

/// The registry grants a run of this request needs, and no more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Source repositories that are not also destinations.
    pub pull: BTreeSet<String>,
    /// Destination repositories (push implies pull).
    pub push: BTreeSet<String>,
}

impl Grants {
    /// In `--grant` form: `registry:pull=REPO`, `registry:push=REPO`.
    pub fn to_args(&self) -> Vec<String> {
        let pull = self.pull.iter().map(|r| format!("registry:pull={r}"));
        let push = self.push.iter().map(|r| format!("registry:push={r}"));
        pull.chain(push).collect()
    }
}

impl Request {
    /// `snapshot`: a Snapshot (YAML or JSON): the whole object, its `spec`, or `{components: [...]}`.
    /// `mapping`: empty, or Konflux `data.mapping` (YAML or JSON): the mapping itself, or an
    /// object with `mapping` or `data.mapping` in it. `tags`: used when there is no mapping, and
    /// for mapped components when neither the component nor `defaults` has tags.
    pub fn parse(snapshot: &str, mapping: &str, tags: &[String]) -> Result<Request, TaskError> {
        let components = parse_snapshot(snapshot)?;
        let default_tags = parse_templates(tags)
            .map_err(|e| TaskError::new(INVALID_TAG, format!("param `tags`: {e}")))?;
        if mapping.trim().is_empty() {
            if default_tags.is_empty() {
                return Err(TaskError::new(
                    INVALID_TAG,
                    "no tags to apply: give at least one tag",
                ));
            }
            let items = components
                .into_iter()
                .map(|c| {
                    check_static(&c.name, c.git_revision.as_deref(), &default_tags)?;
                    Ok(Item {
                        destination: c.image.repository.clone(),
                        component: c.name,
                        source: c.image,
                        git_revision: c.git_revision,
                        tags: default_tags.clone(),
                        timestamp_format: DEFAULT_TIMESTAMP_FORMAT.to_owned(),
                    })
                })
                .collect::<Result<_, TaskError>>()?;
            return Ok(Request {
                items,
                unmapped: vec![],
            });
        }
        let mapping = parse_mapping(mapping)?;
        let mut by_name: BTreeMap<&str, &SnapshotComponent> = BTreeMap::new();
        for c in &components {
            by_name.insert(&c.name, c);
        }
        for m in &mapping.components {
            if !by_name.contains_key(m.name.as_str()) {
                let known: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
                return Err(TaskError::new(
                    INVALID_MAPPING,
                    format!(
                        "mapping component `{}` is not in the snapshot (snapshot components: {})",
                        m.name,
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut items = vec![];
        let mut unmapped = vec![];
        // Snapshot order, so results line up with the snapshot.
        for c in &components {
            let Some(m) = mapping.components.iter().find(|m| m.name == c.name) else {
                unmapped.push(c.name.clone());
                continue;
            };
            let tags = if !m.tags.is_empty() {
                m.tags.clone()
            } else if !mapping.default_tags.is_empty() {
                mapping.default_tags.clone()
            } else {
                default_tags.clone()
            };
            if tags.is_empty() {
                return Err(TaskError::new(
                    INVALID_TAG,
                    format!(
                        "component `{}`: no tags in the mapping, its defaults or the `tags` param",
                        c.name
                    ),
                ));
            }
            check_static(&c.name, c.git_revision.as_deref(), &tags)?;
            items.push(Item {
                component: c.name.clone(),
                source: c.image.clone(),
                git_revision: c.git_revision.clone(),
                destination: m
                    .repository
                    .clone()
                    .unwrap_or_else(|| c.image.repository.clone()),
                tags,
                timestamp_format: m
                    .timestamp_format
                    .clone()
                    .or_else(|| mapping.default_timestamp_format.clone())
                    .unwrap_or_else(|| DEFAULT_TIMESTAMP_FORMAT.to_owned()),
            });
        }
        if items.is_empty() {
            return Err(TaskError::new(
                INVALID_MAPPING,
                "the mapping maps none of the snapshot's components: nothing to promote",
            ));
        }
        Ok(Request { items, unmapped })
    }

    pub fn grants(&self) -> Grants {
        let push: BTreeSet<String> = self.items.iter().map(|i| i.destination.clone()).collect();
        let pull = self
            .items
            .iter()
            .map(|i| i.source.repository.clone())
            .filter(|r| !push.contains(r))
            .collect();
        Grants { pull, push }
    }

    /// Whether validating this request needs registry reads: a template reads the image config,
    /// or two components share a destination (one tag claimed twice is only known once expanded).
    /// When not, [`Request::parse`] has already checked everything that can be wrong.
    pub fn needs_registry_to_validate(&self) -> bool {
        let mut destinations = BTreeSet::new();
        self.items.iter().any(|i| {
            i.tags.iter().any(Template::needs_config)
                || !destinations.insert(i.destination.as_str())
        })
    }

    /// Keeps only the named components (for splitting a promotion over several runs); unknown
    /// names are an error.
    pub fn only(mut self, names: &[String]) -> Result<Request, TaskError> {
        if names.is_empty() {
            return Ok(self);
        }
        for n in names {
            if !self.items.iter().any(|i| &i.component == n) {
                return Err(TaskError::invalid_param(
                    "components",
                    format!("names `{n}`, which is not a promoted component"),
                ));
            }
        }
        self.items.retain(|i| names.contains(&i.component));
        Ok(self)
    }
}

/// What does not need the registry: `{{ git_sha }}` without a revision fails now, not mid-run.
fn check_static(component: &str, git: Option<&str>, tags: &[Template]) -> Result<(), TaskError> {
    use crate::template::Var;
    for t in tags {
        if git.is_none()
            && t.vars()
                .any(|v| matches!(v, Var::GitSha | Var::GitShortSha))
        {
            return Err(TaskError::new(
                INVALID_TAG,
                format!(
                    "component `{component}`: tag `{}` needs the git revision, but `source.git.revision` is not set",
                    t.raw()
                ),
            ));
        }
    }
    Ok(())
}

fn parse_templates(raw: &[String]) -> Result<Vec<Template>, String> {
    let mut out: Vec<Template> = vec![];
    for r in raw {
        let t = Template::parse(r.trim())?;
        // Duplicates are dropped, as Konflux does.
        if !out.iter().any(|o| o.raw() == t.raw()) {
            out.push(t);
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct SnapshotComponent {
    name: String,
    image: ImageRef,
    git_revision: Option<String>,
}

fn parse_document(text: &str, what: &str, reason: &str) -> Result<Json, TaskError> {
    // YAML 1.2 reads JSON too.
    serde_yaml_ng::from_str::<Json>(text)
        .map_err(|e| TaskError::new(reason, format!("the {what} is not valid YAML or JSON: {e}")))
}

fn parse_snapshot(text: &str) -> Result<Vec<SnapshotComponent>, TaskError> {
    let bad = |m: String| TaskError::new(INVALID_SNAPSHOT, m);
    if text.trim().is_empty() {
        return Err(bad("the snapshot is empty".into()));
    }
    let doc = parse_document(text, "snapshot", INVALID_SNAPSHOT)?;
    let spec = match doc.get("spec") {
        Some(spec) => spec,
        None => &doc,
    };
    let Some(list) = spec.get("components").and_then(Json::as_array) else {
        return Err(bad("the snapshot has no `spec.components` list".into()));
    };
    if list.is_empty() {
        return Err(bad("the snapshot has no components".into()));
    }
    let mut out: Vec<SnapshotComponent> = vec![];
    for (i, c) in list.iter().enumerate() {
        let name = c
            .get("name")
            .and_then(Json::as_str)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| bad(format!("snapshot component #{} has no `name`", i + 1)))?
            .to_owned();
        if out.iter().any(|o| o.name == name) {
            return Err(bad(format!("snapshot component `{name}` is listed twice")));
        }
        let image = c
            .get("containerImage")
            .and_then(Json::as_str)
            .ok_or_else(|| bad(format!("component `{name}` has no `containerImage`")))?;
        let image = ImageRef::parse(image)
            .map_err(|e| bad(format!("component `{name}`: containerImage {e}")))?;
        let git_revision = c
            .pointer("/source/git/revision")
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        out.push(SnapshotComponent {
            name,
            image,
            git_revision,
        });
    }
    Ok(out)
}

#[derive(Debug)]
struct MappingComponent {
    name: String,
    repository: Option<String>,
    tags: Vec<Template>,
    timestamp_format: Option<String>,
}

#[derive(Debug)]
struct Mapping {
    components: Vec<MappingComponent>,
    default_tags: Vec<Template>,
    default_timestamp_format: Option<String>,
}

fn parse_mapping(text: &str) -> Result<Mapping, TaskError> {
    let bad = |m: String| TaskError::new(INVALID_MAPPING, m);
    let doc = parse_document(text, "mapping", INVALID_MAPPING)?;
    let mapping = doc
        .pointer("/data/mapping")
        .or_else(|| doc.get("mapping"))
        .unwrap_or(&doc);
    if !mapping.is_object() {
        return Err(bad("the mapping is not an object with `components`".into()));
    }
    let strings = |v: Option<&Json>, what: &str| -> Result<Vec<String>, TaskError> {
        match v {
            None | Some(Json::Null) => Ok(vec![]),
            Some(Json::Array(items)) => items
                .iter()
                .map(|t| match t {
                    Json::String(s) => Ok(s.clone()),
                    // YAML reads `1.0` as a number; a tag is text.
                    Json::Number(n) => Ok(n.to_string()),
                    other => Err(bad(format!("{what}: `{other}` is not a tag"))),
                })
                .collect(),
            Some(other) => Err(bad(format!("{what} must be a list, got `{other}`"))),
        }
    };
    let format = |v: Option<&Json>, what: &str| -> Result<Option<String>, TaskError> {
        match v.and_then(Json::as_str) {
            None => Ok(None),
            Some(f) => {
                time::check_format(f).map_err(|e| bad(format!("{what}: {e}")))?;
                Ok(Some(f.to_owned()))
            }
        }
    };
    let defaults = mapping.get("defaults");
    let default_tags = parse_templates(&strings(
        defaults.and_then(|d| d.get("tags")),
        "mapping `defaults.tags`",
    )?)
    .map_err(|e| TaskError::new(INVALID_TAG, format!("mapping `defaults.tags`: {e}")))?;
    let default_timestamp_format = format(
        defaults.and_then(|d| d.get("timestampFormat")),
        "mapping `defaults.timestampFormat`",
    )?;
    let list = match mapping.get("components") {
        Some(Json::Array(list)) => list.as_slice(),
        None | Some(Json::Null) => &[],
        Some(_) => return Err(bad("mapping `components` must be a list".into())),
    };
    if list.is_empty() {
        return Err(bad("the mapping lists no components".into()));
    }
    let mut components: Vec<MappingComponent> = vec![];
    for (i, c) in list.iter().enumerate() {
        let name = c
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| bad(format!("mapping component #{} has no `name`", i + 1)))?
            .to_owned();
        if components.iter().any(|o| o.name == name) {
            return Err(bad(format!("mapping component `{name}` is listed twice")));
        }
        let repository = match c.get("repository") {
            None | Some(Json::Null) => None,
            Some(Json::String(r)) => {
                validate_repository(r)
                    .map_err(|e| bad(format!("mapping component `{name}`: {e}")))?;
                Some(r.clone())
            }
            Some(other) => {
                return Err(bad(format!(
                    "mapping component `{name}`: `repository` must be a string, got `{other}`"
                )));
            }
        };
        let tags = parse_templates(&strings(
            c.get("tags"),
            &format!("mapping component `{name}` tags"),
        )?)
        .map_err(|e| TaskError::new(INVALID_TAG, format!("component `{name}`: {e}")))?;
        let timestamp_format = format(
            c.get("timestampFormat"),
            &format!("mapping component `{name}` timestampFormat"),
        )?;
        components.push(MappingComponent {
            name,
            repository,
            tags,
            timestamp_format,
        });
    }
    Ok(Mapping {
        components,
        default_tags,
        default_timestamp_format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn snapshot() -> String {
        format!(
            r#"
apiVersion: appstudio.redhat.com/v1alpha1
kind: Snapshot
metadata: {{name: s1}}
spec:
  application: app
  components:
    - name: api
      containerImage: quay.io/build/api@{A}
      source: {{git: {{url: https://git.example/api, revision: 0123456789abcdef0123456789abcdef01234567}}}}
    - name: worker
      containerImage: quay.io/build/worker@{B}
"#
        )
    }

    fn released() -> Vec<String> {
        vec!["released".to_owned()]
    }

    #[test]
    fn without_a_mapping_every_component_is_tagged_in_place() {
        let r = Request::parse(&snapshot(), "", &released()).unwrap();
        assert_eq!(r.items.len(), 2);
        assert_eq!(r.items[0].component, "api");
        assert_eq!(r.items[0].destination, "quay.io/build/api");
        assert!(r.items[0].in_place());
        assert_eq!(
            r.items[0].git_revision.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(r.items[1].git_revision, None);
        assert_eq!(r.items[1].tags[0].raw(), "released");
        let g = r.grants();
        assert!(g.pull.is_empty());
        assert_eq!(
            g.push.iter().collect::<Vec<_>>(),
            ["quay.io/build/api", "quay.io/build/worker"]
        );
    }

    #[test]
    fn json_and_bare_spec_forms_are_accepted() {
        let json = format!(
            r#"{{"components":[{{"name":"api","containerImage":"quay.io/build/api@{A}"}}]}}"#
        );
        let r = Request::parse(&json, "", &released()).unwrap();
        assert_eq!(r.items[0].source.digest, A);
    }

    #[test]
    fn a_tag_instead_of_a_digest_names_the_component() {
        let text = snapshot().replace(&format!("worker@{B}"), "worker:latest");
        let e = Request::parse(&text, "", &released()).unwrap_err();
        assert_eq!(e.reason, INVALID_SNAPSHOT);
        assert!(e.message.contains("component `worker`"), "{e}");
        assert!(e.message.contains("uses the tag `latest`"), "{e}");
    }

    #[test]
    fn malformed_snapshots_say_what_is_missing() {
        for (text, want) in [
            ("", "empty"),
            ("kind: Snapshot\nspec: {}", "no `spec.components`"),
            ("spec: {components: []}", "no components"),
            (
                "spec: {components: [{containerImage: x}]}",
                "#1 has no `name`",
            ),
            (
                "spec: {components: [{name: a}]}",
                "`a` has no `containerImage`",
            ),
            ("spec: [", "not valid YAML"),
        ] {
            let e = Request::parse(text, "", &released()).unwrap_err();
            assert!(e.message.contains(want), "{text}: {e}");
        }
        let dup = format!(
            "spec: {{components: [{{name: a, containerImage: 'quay.io/a/b@{A}'}}, {{name: a, containerImage: 'quay.io/a/b@{A}'}}]}}"
        );
        assert!(
            Request::parse(&dup, "", &released())
                .unwrap_err()
                .message
                .contains("listed twice")
        );
    }

    #[test]
    fn mapping_joins_by_name_and_falls_back_to_defaults() {
        let mapping = r#"
mapping:
  components:
    - name: api
      repository: registry.example/release/api
      tags: ["v1-{{ git_short_sha }}", latest, latest]
    - name: worker
      repository: registry.example/release/worker
  defaults:
    tags: [stable]
    timestampFormat: "%Y%m%d"
"#;
        let r = Request::parse(&snapshot(), mapping, &released()).unwrap();
        let tags: Vec<_> = r.items[0].tags.iter().map(Template::raw).collect();
        assert_eq!(tags, ["v1-{{ git_short_sha }}", "latest"]);
        assert_eq!(r.items[1].tags[0].raw(), "stable");
        assert_eq!(r.items[1].timestamp_format, "%Y%m%d");
        assert!(!r.items[0].in_place());
        let g = r.grants();
        assert_eq!(
            g.pull.iter().collect::<Vec<_>>(),
            ["quay.io/build/api", "quay.io/build/worker"]
        );
        assert_eq!(
            g.push.iter().collect::<Vec<_>>(),
            [
                "registry.example/release/api",
                "registry.example/release/worker"
            ]
        );
        assert_eq!(
            g.to_args(),
            [
                "registry:pull=quay.io/build/api",
                "registry:pull=quay.io/build/worker",
                "registry:push=registry.example/release/api",
                "registry:push=registry.example/release/worker"
            ]
        );
    }

    #[test]
    fn konflux_data_mapping_shape_and_unmapped_components() {
        let mapping = r#"{"data":{"mapping":{"components":[{"name":"worker","repository":"registry.example/r/w","tags":["v2"]}]}}}"#;
        let r = Request::parse(&snapshot(), mapping, &released()).unwrap();
        assert_eq!(r.items.len(), 1);
        assert_eq!(r.items[0].component, "worker");
        assert_eq!(r.unmapped, ["api"]);
    }

    #[test]
    fn the_tags_param_is_the_last_fallback_and_repository_defaults_to_in_place() {
        let mapping = "components: [{name: api}]";
        let r = Request::parse(&snapshot(), mapping, &["v9".to_owned()]).unwrap();
        assert_eq!(r.items[0].tags[0].raw(), "v9");
        assert!(r.items[0].in_place());
    }

    #[test]
    fn unknown_mapping_component_is_named() {
        let mapping = "components: [{name: api, repository: registry.example/r/api}, {name: frontend, repository: registry.example/r/fe}]";
        let e = Request::parse(&snapshot(), mapping, &released()).unwrap_err();
        assert_eq!(e.reason, INVALID_MAPPING);
        assert!(
            e.message.contains("`frontend` is not in the snapshot"),
            "{e}"
        );
        assert!(e.message.contains("api, worker"), "{e}");
    }

    #[test]
    fn invalid_tags_name_the_component() {
        let mapping =
            "components: [{name: worker, repository: registry.example/r/w, tags: ['bad tag']}]";
        let e = Request::parse(&snapshot(), mapping, &released()).unwrap_err();
        assert_eq!(e.reason, INVALID_TAG);
        assert!(e.message.contains("component `worker`"), "{e}");
        assert!(e.message.contains("contains ` `"), "{e}");
        let e = Request::parse(&snapshot(), "", &["-x".to_owned()]).unwrap_err();
        assert!(e.message.contains("param `tags`"), "{e}");
        let e = Request::parse(&snapshot(), "", &[]).unwrap_err();
        assert!(e.message.contains("no tags"), "{e}");
    }

    #[test]
    fn git_templates_need_a_revision() {
        let e = Request::parse(&snapshot(), "", &["{{ git_sha }}".to_owned()]).unwrap_err();
        assert!(e.message.contains("component `worker`"), "{e}");
        assert!(e.message.contains("source.git.revision"), "{e}");
    }

    #[test]
    fn bad_mappings_are_refused() {
        for (m, want) in [
            ("components: []", "lists no components"),
            ("components: [{name: api, repository: API}]", "registry"),
            ("components: [{name: api}, {name: api}]", "listed twice"),
            ("components: [{name: api, tags: v1}]", "must be a list"),
            ("components: [{name: api, timestampFormat: '%Q'}]", "`%Q`"),
            (
                "components: [{name: worker}]\ndefaults: {tags: ['{{ nope }}']}",
                "unknown variable",
            ),
            ("[1, 2]", "not an object"),
        ] {
            let e = Request::parse(&snapshot(), m, &released()).unwrap_err();
            assert!(e.message.contains(want), "{m}: {e}");
        }
        let numbers = "components: [{name: api, tags: [1.5]}]";
        assert_eq!(
            Request::parse(&snapshot(), numbers, &released())
                .unwrap()
                .items[0]
                .tags[0]
                .raw(),
            "1.5"
        );
    }

    #[test]
    fn knows_when_validation_needs_the_registry() {
        let plain = Request::parse(&snapshot(), "", &["v-{{ digest_sha }}".to_owned()]);
        assert!(!plain.unwrap().needs_registry_to_validate());
        let labels = Request::parse(&snapshot(), "", &["{{ labels.v }}".to_owned()]);
        assert!(labels.unwrap().needs_registry_to_validate());
        let shared = "components: [{name: api, repository: registry.example/r/x}, {name: worker, repository: registry.example/r/x}]";
        assert!(
            Request::parse(&snapshot(), shared, &released())
                .unwrap()
                .needs_registry_to_validate()
        );
    }

    #[test]
    fn only_keeps_the_named_components() {
        let r = Request::parse(&snapshot(), "", &released()).unwrap();
        let only = r.clone().only(&["worker".to_owned()]).unwrap();
        assert_eq!(only.items.len(), 1);
        assert_eq!(r.clone().only(&[]).unwrap().items.len(), 2);
        assert!(
            r.only(&["nope".to_owned()])
                .unwrap_err()
                .message
                .contains("`nope`")
        );
    }
}
