//! The component's face: params -> [`render`] over the `files` import -> the output tree, or a
//! Flux artifact pushed through the `registry` import (blobs, then the manifest by digest, then
//! the tag). Everything is rendered and built before the first write or push, so bad input
//! leaves nothing behind.

use kubectl_release_sdk::prelude::*;

use crate::artifact::{self, Artifact};
use crate::helm;
use crate::objects::{self, ConfigKind, ConfigRef};
use crate::render::{Rendered, Request, Source, render};

pub const TASK_NAME: &str = "render-manifests";

pub struct RenderManifests;

/// The Flux artifact: what it says about itself, and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// (repository, tag) to push to; `None`: not pushed.
    pub push: Option<(String, String)>,
    /// Output-tree path for the content layer (the `.tar.gz` Flux extracts, byte for byte what
    /// is pushed); `None`: not written. What `flux build artifact` writes, for a local build.
    pub archive: Option<String>,
    pub source: String,
    pub revision: String,
    /// Seconds since the epoch; `None`: the host's clock.
    pub created: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Args {
    pub request: Request,
    pub write: bool,
    /// With `write`: every resource into this one file, as a YAML stream in file-name order,
    /// instead of one file each. What the CLI prints: a thousand file writes and reads through
    /// the host cost far more than the rendering.
    pub stream: Option<String>,
    pub bundle: Option<Bundle>,
    /// `oci://REGISTRY/REPO:TAG` and namespace: also write its OCIRepository and Kustomization.
    pub flux_source: Option<(String, String)>,
    /// ConfigMaps and Secrets whose values go into `request.config_from`, in order.
    pub config_from: Vec<ConfigRef>,
    /// Their namespace; `None`: the run's.
    pub namespace: Option<String>,
}

/// `[oci://]REGISTRY/REPO:TAG` -> (repository, tag).
pub fn parse_target(target: &str) -> Option<(String, String)> {
    let target = target.strip_prefix("oci://").unwrap_or(target);
    let slash = target.rfind('/')?;
    let colon = target[slash..].rfind(':')? + slash;
    let (repo, tag) = (&target[..colon], &target[colon + 1..]);
    (!repo.is_empty() && !tag.is_empty() && !target.contains('@'))
        .then(|| (repo.to_owned(), tag.to_owned()))
}

impl Args {
    pub fn from_params(params: &Params) -> Result<Args, TaskError> {
        let text = |name: &str| -> Result<String, TaskError> {
            Ok(params
                .optional_string(name)?
                .unwrap_or_default()
                .trim()
                .to_owned())
        };
        let list = |name: &str| -> Result<Vec<String>, TaskError> {
            Ok(params.optional_array(name)?.unwrap_or_default())
        };
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let devfile = non_empty(text("devfile")?).unwrap_or_else(|| "devfile.yaml".into());
        let mut request = Request {
            devfile,
            env: non_empty(text("env")?),
            config_dir: non_empty(text("config-dir")?).unwrap_or_else(|| "config".into()),
            config_from: vec![],
            values: list("values")?,
            set: list("set")?,
            vars: list("vars")?,
            snapshot: non_empty(text("snapshot")?),
            helm: None,
        };
        let write = match params.get("write") {
            None => true,
            Some(_) => params.bool("write")?,
        };
        let push = match non_empty(text("push")?) {
            None => None,
            Some(target) => Some(parse_target(&target).ok_or_else(|| {
                TaskError::invalid_param(
                    "push",
                    format!("`{target}` is not oci://REGISTRY/REPO:TAG"),
                )
            })?),
        };
        let archive = non_empty(text("archive")?);
        let bundle = if push.is_none() && archive.is_none() {
            None
        } else {
            let source = non_empty(text("source")?).ok_or_else(|| {
                TaskError::invalid_param("source", "required with push or archive")
            })?;
            let revision = non_empty(text("revision")?).ok_or_else(|| {
                TaskError::invalid_param("revision", "required with push or archive")
            })?;
            let created = match non_empty(text("created")?) {
                None => None,
                Some(s) => Some(s.parse::<i64>().map_err(|_| {
                    TaskError::invalid_param(
                        "created",
                        format!("`{s}` is not seconds since the epoch"),
                    )
                })?),
            };
            Some(Bundle {
                push,
                archive,
                source,
                revision,
                created,
            })
        };
        let helm = match non_empty(text("helm-release")?) {
            None => {
                for other in ["chart", "chart-version", "chart-source", "target-namespace"] {
                    if !text(other)?.is_empty() {
                        return Err(TaskError::invalid_param(other, "needs helm-release"));
                    }
                }
                None
            }
            Some(name) => {
                let (chart, version, source) = (
                    text("chart")?,
                    text("chart-version")?,
                    text("chart-source")?,
                );
                let (namespace, target) = (text("helm-namespace")?, text("target-namespace")?);
                fn opt(s: &str) -> Option<&str> {
                    (!s.is_empty()).then_some(s)
                }
                Some(helm::Spec::parse(&helm::Flags {
                    name: &name,
                    namespace: opt(&namespace).unwrap_or("flux-system"),
                    target_namespace: opt(&target),
                    chart: opt(&chart),
                    version: opt(&version),
                    source: opt(&source),
                })?)
            }
        };
        request.helm = helm;
        let flux_source = match non_empty(text("flux-source")?) {
            None => None,
            Some(target) => {
                if parse_target(&target).is_none() {
                    return Err(TaskError::invalid_param(
                        "flux-source",
                        format!("`{target}` is not oci://REGISTRY/REPO:TAG"),
                    ));
                }
                let ns = non_empty(text("flux-namespace")?).unwrap_or_else(|| "flux-system".into());
                Some((target, ns))
            }
        };
        let config_from = list("config-from")?
            .iter()
            .filter(|r| !r.trim().is_empty())
            .map(|r| ConfigRef::parse(r).map_err(|e| TaskError::invalid_param("config-from", e)))
            .collect::<Result<_, _>>()?;
        Ok(Args {
            request,
            write,
            stream: non_empty(text("stream")?),
            bundle,
            flux_source,
            config_from,
            namespace: non_empty(text("namespace")?),
        })
    }
}

/// Reads each object with `get` (kind, namespace, name -> the object's JSON; the `cluster`
/// import in the component) and turns it into its values layer, in order. Secrets' values are
/// never logged; each Secret read adds a warning that its values end up in plain text.
pub fn read_config(
    refs: &[ConfigRef],
    namespace: &str,
    get: &mut dyn FnMut(&str, &str, &str) -> Result<String, HostError>,
) -> Result<(Vec<serde_yaml_ng::Mapping>, Vec<String>), TaskError> {
    let mut layers = Vec::with_capacity(refs.len());
    let mut warnings = vec![];
    for r in refs {
        let what = r.describe(namespace);
        let json = get(r.kind.api_kind(), namespace, &r.name).map_err(|e| match e.kind {
            ErrorKind::NotFound => TaskError::new("ConfigNotFound", format!("{what} not found")),
            _ => TaskError::new(e.kind.reason(), format!("reading {what}: {}", e.message)),
        })?;
        layers.push(objects::values_of(r, namespace, &json)?);
        if r.kind == ConfigKind::Secret {
            warnings.push(format!(
                "values from {what} end up in plain text in the rendered output (and in an artifact made of it)"
            ));
        }
    }
    Ok((layers, warnings))
}

/// The registry writes a bundle makes (the host's import, or a recorder in tests).
pub trait Publish {
    fn put_blob(&mut self, repository: &str, contents: &[u8]) -> Result<String, HostError>;
    /// Several blobs; the host uploads them at once. This default, one after the other.
    fn put_blobs(&mut self, repository: &str, blobs: &[&[u8]]) -> Result<(), HostError> {
        for blob in blobs {
            self.put_blob(repository, blob)?;
        }
        Ok(())
    }
    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HostError>;
}

pub struct HostRegistry;

impl Publish for HostRegistry {
    fn put_blob(&mut self, repository: &str, contents: &[u8]) -> Result<String, HostError> {
        registry::put_blob(repository, contents)
    }
    fn put_blobs(&mut self, repository: &str, blobs: &[&[u8]]) -> Result<(), HostError> {
        let calls: Vec<registry::Call> = blobs
            .iter()
            .map(|b| {
                registry::Call::PutBlob(registry::BlobPut {
                    repository: repository.to_owned(),
                    contents: b.to_vec(),
                })
            })
            .collect();
        for reply in registry::batch(&calls) {
            reply?;
        }
        Ok(())
    }
    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HostError> {
        registry::put_manifest(reference, media_type, bytes)
    }
}

/// The artifact of `rendered`; `now` stands in for an unset `created`.
pub fn build(rendered: &Rendered, bundle: &Bundle, now: i64) -> Artifact {
    artifact::build(
        &rendered.files,
        &bundle.source,
        &bundle.revision,
        bundle.created.unwrap_or(now),
    )
}

/// Pushes blobs, then the manifest by digest, then the tag; returns the digest.
pub fn publish(
    p: &mut dyn Publish,
    a: &Artifact,
    repo: &str,
    tag: &str,
) -> Result<String, TaskError> {
    p.put_blobs(repo, &[&a.config, &a.layer])?;
    let stored = p.put_manifest(
        &format!("{repo}@{}", a.digest),
        artifact::MANIFEST_MEDIA_TYPE,
        &a.manifest,
    )?;
    if stored != a.digest {
        return Err(TaskError::new(
            "Unavailable",
            format!(
                "the registry stored the manifest as {stored}, expected {}",
                a.digest
            ),
        ));
    }
    p.put_manifest(
        &format!("{repo}:{tag}"),
        artifact::MANIFEST_MEDIA_TYPE,
        &a.manifest,
    )?;
    Ok(a.digest.clone())
}

/// The files as one YAML stream, `---` between documents.
pub fn stream(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(files.iter().map(|(_, b)| b.len() + 4).sum());
    for (i, (_, bytes)) in files.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"---\n");
        }
        out.extend_from_slice(bytes);
    }
    out
}

pub fn results(rendered: &Rendered, digest: &str) -> Results {
    Results::new()
        .string("digest", digest)
        .array("files", rendered.files.iter().map(|(n, _)| n.clone()))
        .array("resources", rendered.resources.clone())
}

struct HostFiles;

impl Source for HostFiles {
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, TaskError> {
        match files::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Task for RenderManifests {
    fn describe() -> TaskSpec {
        let strings = || Value::array(Vec::<String>::new());
        TaskSpec::new(
            TASK_NAME,
            "Renders a devfile's deploy manifests (variables, layered config, images pinned from a snapshot) to the output tree, or publishes them as a Flux OCI artifact",
        )
        .param(ParamSpec::string("devfile", "The devfile, in the input tree").default("devfile.yaml"))
        .param(ParamSpec::string("env", "Environment: <config-dir>/base.yaml then <config-dir>/<env>.yaml; empty: base.yaml only").default(""))
        .param(ParamSpec::string("config-dir", "Values directory, relative to the devfile").default("config"))
        .param(ParamSpec::array("config-from", "ConfigMaps and Secrets in `namespace` to take values from (configmap/NAME, cm/NAME or secret/NAME), in increasing precedence, after <config-dir>/<env>.yaml and before the values files. A key ending in .yaml, .yml or .json holds a values document; any other key a.b.c is set like --set a.b.c=VALUE; keys apply in sorted order; Secret data is base64-decoded (and ends up in plain text in the output). Needs cluster:get on NAMESPACE/ConfigMap or NAMESPACE/Secret").default(strings()))
        .param(ParamSpec::string("namespace", "Namespace of the config-from objects; empty: the run's namespace").default(""))
        .param(ParamSpec::array("values", "More values files in the input tree, in increasing precedence").default(strings()))
        .param(ParamSpec::array("set", "path.to.key=value overrides, after every values file").default(strings()))
        .param(ParamSpec::array("vars", "name=value devfile variable overrides (highest precedence)").default(strings()))
        .param(ParamSpec::string("snapshot", "A Snapshot file in the input tree whose images are pinned; empty: no pinning").default(""))
        .param(ParamSpec::string("write", "\"true\": write one file per resource to the output tree").default("true"))
        .param(ParamSpec::string("stream", "With write: all resources into this one file of the output tree instead, as a YAML stream (`---` between documents, in file name order); empty: one file each").default(""))
        .param(ParamSpec::string("push", "Publish as a Flux artifact to oci://REGISTRY/REPO:TAG; empty: do not").default(""))
        .param(ParamSpec::string("archive", "Write the artifact's content layer (tar.gz) to this path in the output tree; empty: do not").default(""))
        .param(ParamSpec::string("source", "org.opencontainers.image.source (required with push or archive)").default(""))
        .param(ParamSpec::string("revision", "org.opencontainers.image.revision, BRANCH@sha1:COMMIT (required with push or archive)").default(""))
        .param(ParamSpec::string("helm-release", "Render a Flux HelmRelease of this name carrying the merged values, instead of the devfile's manifests; empty: do not").default(""))
        .param(ParamSpec::string("chart", "The HelmRelease's chart: oci://REG/REPO:VERSION (or @sha256:...), or a chart name in chart-source").default(""))
        .param(ParamSpec::string("chart-version", "Chart version or semver range (an OCI chart without a tag, or a chart-source chart)").default(""))
        .param(ParamSpec::string("chart-source", "KIND/[NAMESPACE/]NAME: HelmRepository, GitRepository or Bucket holding chart; or, without chart, the OCIRepository, HelmChart or ExternalArtifact to reference").default(""))
        .param(ParamSpec::string("helm-namespace", "Namespace of the HelmRelease (and of the chart's OCIRepository)").default("flux-system"))
        .param(ParamSpec::string("target-namespace", "spec.targetNamespace of the HelmRelease; empty: its own namespace").default(""))
        .param(ParamSpec::string("flux-source", "Also write the OCIRepository and Kustomization that pull oci://REGISTRY/REPO:TAG; empty: do not").default(""))
        .param(ParamSpec::string("flux-namespace", "Namespace of those two objects").default("flux-system"))
        .param(ParamSpec::string("created", "org.opencontainers.image.created, seconds since the epoch (SOURCE_DATE_EPOCH); empty: now").default(""))
        .result(ResultSpec::string("digest", "The artifact's manifest digest (pushed or archived); empty without either"))
        .result(ResultSpec::array("files", "Rendered files, one per resource, sorted"))
        .result(ResultSpec::array("resources", "Kind/[namespace/]name of every resource, in render order"))
    }

    fn run(input: Input) -> Result<Outcome, TaskError> {
        let mut args = Args::from_params(&input.params)?;
        if !args.config_from.is_empty() {
            let namespace = match &args.namespace {
                Some(ns) => ns.clone(),
                None if !input.run.namespace.is_empty() => input.run.namespace.clone(),
                None => {
                    return Err(TaskError::invalid_param(
                        "namespace",
                        "is required with config-from (this run has no namespace of its own)",
                    ));
                }
            };
            let mut get = |kind: &str, namespace: &str, name: &str| {
                cluster::get(&cluster::ObjectRef::namespaced("v1", kind, namespace, name))
            };
            let (layers, warnings) = read_config(&args.config_from, &namespace, &mut get)?;
            for w in &warnings {
                log::warn(w, &[]);
            }
            args.request.config_from = layers;
        }
        let mut rendered = render(&mut HostFiles, &args.request)?;
        for w in &rendered.warnings {
            log::warn(w, &[]);
        }
        let digest = match &args.bundle {
            None => String::new(),
            Some(bundle) => {
                let a = build(&rendered, bundle, clock::now().seconds);
                if let Some(path) = &bundle.archive {
                    files::write(path, &a.layer)?;
                }
                if let Some((repo, tag)) = &bundle.push {
                    publish(&mut HostRegistry, &a, repo, tag)?;
                    log::info(
                        &format!("pushed {repo}:{tag}@{}", a.digest),
                        &[("digest", &a.digest)],
                    );
                }
                a.digest
            }
        };
        if let Some((target, namespace)) = &args.flux_source
            && let Some(objects) = crate::flux::source_objects(target, namespace)
        {
            rendered.files.extend(objects);
            rendered.files.sort();
        }
        if args.write {
            match &args.stream {
                Some(path) => files::write(path, &stream(&rendered.files))?,
                None => {
                    for (name, bytes) in &rendered.files {
                        files::write(name, bytes)?;
                    }
                }
            }
        }
        Ok(Outcome::succeeded(results(&rendered, &digest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_is_valid() {
        RenderManifests::describe().check().unwrap();
    }

    #[test]
    fn parses_targets() {
        assert_eq!(
            parse_target("oci://127.0.0.1:5000/team/app:v1"),
            Some(("127.0.0.1:5000/team/app".into(), "v1".into()))
        );
        assert_eq!(parse_target("127.0.0.1:5000/team/app"), None);
        assert_eq!(parse_target("reg/app@sha256:00"), None);
    }

    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Publish for Recorder {
        fn put_blob(&mut self, repository: &str, contents: &[u8]) -> Result<String, HostError> {
            self.0.push(format!("blob {repository}"));
            Ok(artifact::digest(contents))
        }
        fn put_manifest(
            &mut self,
            reference: &str,
            _: &str,
            bytes: &[u8],
        ) -> Result<String, HostError> {
            self.0.push(format!(
                "manifest {}",
                reference.split_once('@').map_or(reference, |(r, _)| r)
            ));
            Ok(artifact::digest(bytes))
        }
    }

    #[test]
    fn publishes_blobs_then_manifest_then_tag() {
        let rendered = Rendered {
            files: vec![("v1_service_a.yaml".into(), b"kind: Service\n".to_vec())],
            ..Rendered::default()
        };
        let bundle = Bundle {
            push: Some(("r/app".into(), "v1".into())),
            archive: None,
            source: "s".into(),
            revision: "main@sha1:0".into(),
            created: Some(0),
        };
        let mut rec = Recorder::default();
        let a = build(&rendered, &bundle, 99);
        let digest = publish(&mut rec, &a, "r/app", "v1").unwrap();
        assert_eq!(
            rec.0,
            [
                "blob r/app",
                "blob r/app",
                "manifest r/app",
                "manifest r/app:v1"
            ]
        );
        assert_eq!(digest, build(&rendered, &bundle, 12345).digest);
        assert_ne!(
            digest,
            build(
                &rendered,
                &Bundle {
                    created: None,
                    ..bundle.clone()
                },
                12345
            )
            .digest
        );
    }

    #[test]
    fn a_stream_separates_documents() {
        let files = vec![
            ("a.yaml".to_owned(), b"a: 1\n".to_vec()),
            ("b.yaml".to_owned(), b"b: 2\n".to_vec()),
        ];
        assert_eq!(stream(&files), b"a: 1\n---\nb: 2\n");
        assert_eq!(stream(&files[..1]), b"a: 1\n");
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .fold(Params::new(), |p, (k, v)| p.with(*k, Value::from(*v)))
    }

    #[test]
    fn bundle_and_helm_params_parse_and_fail_early() {
        let args = Args::from_params(&params(&[
            ("archive", "out/layer.tgz"),
            ("source", "https://git/x"),
            ("revision", "main@sha1:0"),
            ("helm-release", "shop"),
            ("chart", "oci://reg/charts/shop:1.0.0"),
        ]))
        .unwrap();
        let bundle = args.bundle.unwrap();
        assert_eq!(bundle.push, None);
        assert_eq!(bundle.archive.as_deref(), Some("out/layer.tgz"));
        let helm = args.request.helm.unwrap();
        assert_eq!(
            (helm.name.as_str(), helm.namespace.as_str()),
            ("shop", "flux-system")
        );

        let err = Args::from_params(&params(&[("archive", "a.tgz")])).unwrap_err();
        assert!(err.message.contains("source"), "{}", err.message);
        let err = Args::from_params(&params(&[("chart", "oci://reg/c:1")])).unwrap_err();
        assert!(
            err.message.contains("needs helm-release"),
            "{}",
            err.message
        );
        assert!(Args::from_params(&params(&[])).unwrap().bundle.is_none());
    }

    #[test]
    fn config_from_params_parse_and_refuse_other_kinds() {
        let p = Params::new()
            .with(
                "config-from",
                Value::array(["configmap/portal", "Secret/db"]),
            )
            .with("namespace", Value::from("team-a"));
        let args = Args::from_params(&p).unwrap();
        let got: Vec<String> = args.config_from.iter().map(|r| r.canonical()).collect();
        assert_eq!(got, ["configmap/portal", "secret/db"]);
        assert_eq!(args.namespace.as_deref(), Some("team-a"));
        let p = Params::new().with("config-from", Value::array(["deployment/x"]));
        let err = Args::from_params(&p).unwrap_err();
        assert_eq!(err.reason, "InvalidParam");
        assert!(
            err.message.contains("unknown kind `deployment`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn config_objects_are_read_in_order_and_failures_name_them() {
        let refs = [
            ConfigRef::parse("cm/portal").unwrap(),
            ConfigRef::parse("secret/db").unwrap(),
        ];
        let mut asked = vec![];
        let mut get = |kind: &str, ns: &str, name: &str| {
            asked.push(format!("{kind} {ns}/{name}"));
            Ok(match kind {
                "ConfigMap" => r#"{"data":{"replicas":"2","password":"from-cm"}}"#.to_owned(),
                _ => r#"{"data":{"password":"czNjcjN0"}}"#.to_owned(),
            })
        };
        let (layers, warnings) = read_config(&refs, "team-a", &mut get).unwrap();
        assert_eq!(asked, ["ConfigMap team-a/portal", "Secret team-a/db"]);
        let mut merged = serde_yaml_ng::Mapping::new();
        for l in layers {
            crate::config::merge(&mut merged, l);
        }
        assert_eq!(
            serde_yaml_ng::to_string(&merged).unwrap(),
            "password: s3cr3t\nreplicas: 2\n"
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("values from secret team-a/db end up in plain text"));
        assert!(!warnings[0].contains("s3cr3t"));

        let mut missing =
            |_: &str, _: &str, _: &str| Err(HostError::new(ErrorKind::NotFound, "404"));
        let err = read_config(&refs, "team-a", &mut missing).unwrap_err();
        assert_eq!(err.reason, "ConfigNotFound");
        assert_eq!(err.message, "configmap team-a/portal not found");
        assert!(crate::INPUT_REASONS.contains(&err.reason.as_str()));

        let mut denied = |_: &str, _: &str, _: &str| {
            Err(HostError::new(
                ErrorKind::Denied,
                "get v1/ConfigMap team-a/portal: forbidden (403)",
            ))
        };
        let err = read_config(&refs, "team-a", &mut denied).unwrap_err();
        assert_eq!(err.reason, "Denied");
        assert_eq!(
            err.message,
            "reading configmap team-a/portal: get v1/ConfigMap team-a/portal: forbidden (403)"
        );
    }
}
