//! The component's face: params -> [`render`] over the `files` import -> the output tree, or a
//! Flux artifact pushed through the `registry` import (blobs, then the manifest by digest, then
//! the tag). Everything is rendered and built before the first write or push, so bad input
//! leaves nothing behind.

use kubectl_release_sdk::prelude::*;

use crate::artifact;
use crate::render::{Rendered, Request, Source, render};

pub const TASK_NAME: &str = "render-manifests";

pub struct RenderManifests;

/// Where and what to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub repository: String,
    pub tag: String,
    pub source: String,
    pub revision: String,
    /// Seconds since the epoch; `None`: the host's clock.
    pub created: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Args {
    pub request: Request,
    pub write: bool,
    pub bundle: Option<Bundle>,
    /// `oci://REGISTRY/REPO:TAG` and namespace: also write its OCIRepository and Kustomization.
    pub flux_source: Option<(String, String)>,
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
        let request = Request {
            devfile,
            env: non_empty(text("env")?),
            config_dir: non_empty(text("config-dir")?).unwrap_or_else(|| "config".into()),
            values: list("values")?,
            set: list("set")?,
            vars: list("vars")?,
            snapshot: non_empty(text("snapshot")?),
        };
        let write = match params.get("write") {
            None => true,
            Some(_) => params.bool("write")?,
        };
        let bundle = match non_empty(text("push")?) {
            None => None,
            Some(target) => {
                let (repository, tag) = parse_target(&target).ok_or_else(|| {
                    TaskError::invalid_param(
                        "push",
                        format!("`{target}` is not oci://REGISTRY/REPO:TAG"),
                    )
                })?;
                let source = non_empty(text("source")?)
                    .ok_or_else(|| TaskError::invalid_param("source", "required with push"))?;
                let revision = non_empty(text("revision")?)
                    .ok_or_else(|| TaskError::invalid_param("revision", "required with push"))?;
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
                    repository,
                    tag,
                    source,
                    revision,
                    created,
                })
            }
        };
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
        Ok(Args {
            request,
            write,
            bundle,
            flux_source,
        })
    }
}

/// The registry writes a bundle makes (the host's import, or a recorder in tests).
pub trait Publish {
    fn put_blob(&mut self, repository: &str, contents: &[u8]) -> Result<String, HostError>;
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
    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HostError> {
        registry::put_manifest(reference, media_type, bytes)
    }
}

/// Builds and pushes the artifact; returns its digest.
pub fn publish(
    p: &mut dyn Publish,
    rendered: &Rendered,
    bundle: &Bundle,
    now: i64,
) -> Result<String, TaskError> {
    let a = artifact::build(
        &rendered.files,
        &bundle.source,
        &bundle.revision,
        bundle.created.unwrap_or(now),
    );
    let repo = &bundle.repository;
    p.put_blob(repo, &a.config)?;
    p.put_blob(repo, &a.layer)?;
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
        &format!("{repo}:{}", bundle.tag),
        artifact::MANIFEST_MEDIA_TYPE,
        &a.manifest,
    )?;
    Ok(a.digest)
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
        .param(ParamSpec::array("values", "More values files in the input tree, in increasing precedence").default(strings()))
        .param(ParamSpec::array("set", "path.to.key=value overrides, after every values file").default(strings()))
        .param(ParamSpec::array("vars", "name=value devfile variable overrides (highest precedence)").default(strings()))
        .param(ParamSpec::string("snapshot", "A Snapshot file in the input tree whose images are pinned; empty: no pinning").default(""))
        .param(ParamSpec::string("write", "\"true\": write one file per resource to the output tree").default("true"))
        .param(ParamSpec::string("push", "Publish as a Flux artifact to oci://REGISTRY/REPO:TAG; empty: do not").default(""))
        .param(ParamSpec::string("source", "org.opencontainers.image.source (required with push)").default(""))
        .param(ParamSpec::string("revision", "org.opencontainers.image.revision, BRANCH@sha1:COMMIT (required with push)").default(""))
        .param(ParamSpec::string("flux-source", "Also write the OCIRepository and Kustomization that pull oci://REGISTRY/REPO:TAG; empty: do not").default(""))
        .param(ParamSpec::string("flux-namespace", "Namespace of those two objects").default("flux-system"))
        .param(ParamSpec::string("created", "org.opencontainers.image.created, seconds since the epoch (SOURCE_DATE_EPOCH); empty: now").default(""))
        .result(ResultSpec::string("digest", "The pushed artifact's manifest digest; empty without push"))
        .result(ResultSpec::array("files", "Rendered files, one per resource, sorted"))
        .result(ResultSpec::array("resources", "Kind/[namespace/]name of every resource, in render order"))
    }

    fn run(input: Input) -> Result<Outcome, TaskError> {
        let args = Args::from_params(&input.params)?;
        let mut rendered = render(&mut HostFiles, &args.request)?;
        for w in &rendered.warnings {
            log::warn(w, &[]);
        }
        let digest = match &args.bundle {
            None => String::new(),
            Some(bundle) => {
                let digest = publish(&mut HostRegistry, &rendered, bundle, clock::now().seconds)?;
                log::info(
                    &format!("pushed {}:{}@{digest}", bundle.repository, bundle.tag),
                    &[("digest", &digest)],
                );
                digest
            }
        };
        if let Some((target, namespace)) = &args.flux_source
            && let Some(objects) = crate::flux::source_objects(target, namespace)
        {
            rendered.files.extend(objects);
            rendered.files.sort();
        }
        if args.write {
            for (name, bytes) in &rendered.files {
                files::write(name, bytes)?;
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
            repository: "r/app".into(),
            tag: "v1".into(),
            source: "s".into(),
            revision: "main@sha1:0".into(),
            created: Some(0),
        };
        let mut rec = Recorder::default();
        let digest = publish(&mut rec, &rendered, &bundle, 99).unwrap();
        assert_eq!(
            rec.0,
            [
                "blob r/app",
                "blob r/app",
                "manifest r/app",
                "manifest r/app:v1"
            ]
        );
        assert_eq!(
            digest,
            publish(&mut Recorder::default(), &rendered, &bundle, 12345).unwrap()
        );
    }
}
