//! Rendering, start to finish, over a [`Source`] of input files (the `files` import in the
//! component, a map in tests): devfile -> variables and config layers -> the deploy plan's
//! manifests with variables substituted -> images pinned -> one YAML file per resource.
//! Nothing is written here: the caller writes or bundles the result only when all of it worked.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use crate::config;
use crate::devfile::{self, Location};
use crate::error::{Error, yaml_error};
use crate::helm;
use crate::pin::{Pins, Snapshot};
use crate::vars::{self, Vars};

pub trait Source {
    /// `Ok(None)`: no such file.
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, Error>;
}

impl Source for BTreeMap<String, Vec<u8>> {
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get(path).cloned())
    }
}

/// Paths are relative to the input root.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub devfile: String,
    pub env: Option<String>,
    /// Relative to the devfile's directory.
    pub config_dir: String,
    /// The values of each `--config-from` ConfigMap or Secret (read through the `cluster`
    /// import before rendering, see [`crate::objects`]), in order: after the env file, before
    /// the `values` files.
    pub config_from: Vec<Mapping>,
    pub values: Vec<String>,
    pub set: Vec<String>,
    pub vars: Vec<String>,
    pub snapshot: Option<String>,
    /// A HelmRelease carrying the merged values instead of the devfile's manifests.
    pub helm: Option<helm::Spec>,
}

#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// (file name, YAML), sorted by name.
    pub files: Vec<(String, Vec<u8>)>,
    /// `Kind/name` (or `Kind/namespace/name`), in render order.
    pub resources: Vec<String>,
    pub warnings: Vec<String>,
}

/// `dir` joined with `rel`, `.` and `..` resolved; `None` if it leaves the root.
pub fn join(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        vec![]
    } else {
        dir.split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect()
    };
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn read_text(src: &mut dyn Source, path: &str, what: &str) -> Result<Option<String>, Error> {
    match src.read(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::new("InvalidConfig", format!("{path}: {what} is not UTF-8 text"))),
    }
}

fn require(src: &mut dyn Source, path: &str, what: &str) -> Result<String, Error> {
    read_text(src, path, what)?
        .ok_or_else(|| Error::new("MissingFile", format!("{path}: {what} does not exist")))
}

fn subst(text: &str, vars: &Vars, place: &str) -> Result<String, Error> {
    vars::substitute(text, vars).map_err(|unknown| {
        Error::new(
            "UnknownVariable",
            format!(
                "{place}: unknown variable{} {}: define {} in the devfile's variables, a values file, --set or --var",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                if unknown.len() == 1 { "it" } else { "them" },
            ),
        )
    })
}

fn assignment<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str), Error> {
    text.split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| Error::new("InvalidParam", format!("{flag} `{text}` is not NAME=VALUE")))
}

pub fn render(src: &mut dyn Source, req: &Request) -> Result<Rendered, Error> {
    let file = req.devfile.as_str();
    let text = require(src, file, "the devfile")?;
    let devfile = devfile::parse(file, &text)?;
    // A HelmRelease replaces the devfile's manifests, so a devfile without a deploy command is
    // fine then; its image components still name what the snapshot pins.
    let plan = match req.helm {
        None => devfile.deploy_plan(file)?,
        Some(_) => vec![],
    };
    let dir = parent(file);

    // Variables and config layers (see `config` for the precedence).
    let mut values = Mapping::new();
    let config_dir = join(dir, &req.config_dir).unwrap_or_default();
    let base = join(&config_dir, "base.yaml").unwrap_or_default();
    if let Some(env) = &req.env {
        if let Some(text) = read_text(src, &base, "a values file")? {
            config::merge(&mut values, config::parse_values(&base, &text)?);
        }
        let path = join(&config_dir, &format!("{env}.yaml")).unwrap_or_default();
        let text = read_text(src, &path, "a values file")?.ok_or_else(|| {
            Error::new(
                "MissingFile",
                format!("{path}: no values file for environment `{env}`"),
            )
        })?;
        config::merge(&mut values, config::parse_values(&path, &text)?);
    } else if let Some(text) = read_text(src, &base, "a values file")? {
        config::merge(&mut values, config::parse_values(&base, &text)?);
    }
    for layer in &req.config_from {
        config::merge(&mut values, layer.clone());
    }
    for path in &req.values {
        let text = require(src, path, "the values file")?;
        config::merge(&mut values, config::parse_values(path, &text)?);
    }
    for s in &req.set {
        config::set(&mut values, s)?;
    }
    let mut vars = devfile.variables.clone();
    config::flatten_into(&mut vars, &values);
    for v in &req.vars {
        let (k, v) = assignment("--var", v)?;
        vars.insert(k.trim().to_owned(), v.to_owned());
    }

    let images: Vec<(String, String)> = devfile
        .images
        .iter()
        .map(|i| {
            let place = format!("{file}: component `{}` imageName", i.name);
            Ok((i.name.clone(), subst(&i.image_name, &vars, &place)?))
        })
        .collect::<Result<_, Error>>()?;
    let pins = match &req.snapshot {
        None => Pins::default(),
        Some(path) => {
            let text = require(src, path, "the snapshot")?;
            Pins::new(&Snapshot::parse(path, &text)?, &images)
        }
    };

    let mut out = Rendered::default();
    if let Some(spec) = &req.helm {
        if req.snapshot.is_some() {
            pins.apply_values(&mut values);
        }
        for (name, id, yaml) in spec.objects(&values)? {
            out.files.push((name, yaml));
            out.resources.push(id);
        }
        return Ok(out);
    }
    let mut by_name: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for component in plan {
        let (place, text) = match &component.location {
            Location::Inlined(text) => (
                format!("{file}: component `{}` (inlined)", component.name),
                text.clone(),
            ),
            Location::Uri(uri) => {
                let place = format!("{file}: component `{}` uri", component.name);
                let uri = subst(uri, &vars, &place)?;
                if uri.contains("://") {
                    return Err(Error::new(
                        "InvalidDevfile",
                        format!(
                            "{place} `{uri}`: only files next to the devfile are supported, not URLs"
                        ),
                    ));
                }
                let path = join(dir, &uri).ok_or_else(|| {
                    Error::new(
                        "InvalidDevfile",
                        format!("{place} `{uri}` leaves the input tree"),
                    )
                })?;
                let text = read_text(src, &path, "a manifest file")?.ok_or_else(|| {
                    Error::new(
                        "MissingFile",
                        format!("{place} `{uri}`: {path} does not exist"),
                    )
                })?;
                (path, text)
            }
        };
        let text = subst(&text, &vars, &place)?;
        let pin = !pins.is_empty() || req.snapshot.is_some();
        let mut add = |name: String, id: String, yaml: String, unmatched: Vec<String>| {
            for image in unmatched {
                out.warnings.push(format!(
                    "{id}: image {image} matches no snapshot component; left as it is"
                ));
            }
            if by_name.insert(name.clone(), yaml.into_bytes()).is_some() {
                return Err(Error::new(
                    "InvalidManifest",
                    format!("{place}: {id} is defined twice (file {name})"),
                ));
            }
            out.resources.push(id);
            Ok(())
        };
        // The fast path reads most manifests; anything it is unsure of goes to the library,
        // whole file at once so errors name the file's own lines.
        if let Some(docs) = crate::fast::parse_stream(&text) {
            for mut resource in docs {
                let (name, id) = node_name(&resource).ok_or_else(|| missing_name(&place))?;
                let unmatched = if pin {
                    pins.apply_node(&mut resource)
                } else {
                    vec![]
                };
                let yaml = match crate::emit::node_to_string(&resource) {
                    Some(yaml) => yaml,
                    None => to_yaml(&resource.to_value(), &place)?,
                };
                add(name, id, yaml, unmatched)?;
            }
            continue;
        }
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = <Value as serde::Deserialize>::deserialize(doc)
                .map_err(|e| yaml_error("InvalidManifest", &place, &e))?;
            if value.is_null() {
                continue;
            }
            let mut resource = value;
            let (name, id) = resource_name(&resource).ok_or_else(|| missing_name(&place))?;
            let unmatched = if pin {
                pins.apply(&mut resource)
            } else {
                vec![]
            };
            let yaml = match crate::emit::to_string(&resource) {
                Some(yaml) => yaml,
                None => to_yaml(&resource, &place)?,
            };
            add(name, id, yaml, unmatched)?;
        }
    }
    out.files = by_name.into_iter().collect();
    Ok(out)
}

fn missing_name(place: &str) -> Error {
    Error::new(
        "InvalidManifest",
        format!("{place}: every resource needs apiVersion, kind and metadata.name"),
    )
}

fn to_yaml(value: &Value, place: &str) -> Result<String, Error> {
    serde_yaml_ng::to_string(value)
        .map_err(|e| Error::new("InvalidManifest", format!("{place}: {e}")))
}

fn resource_name(resource: &Value) -> Option<(String, String)> {
    let meta = resource.get("metadata")?;
    names(
        resource.get("apiVersion")?.as_str()?,
        resource.get("kind")?.as_str()?,
        meta.get("name")?.as_str()?,
        meta.get("namespace").and_then(Value::as_str),
    )
}

fn node_name(resource: &crate::fast::Node) -> Option<(String, String)> {
    use crate::fast::Node;
    let meta = resource.get("metadata")?;
    names(
        resource.get("apiVersion")?.as_str()?,
        resource.get("kind")?.as_str()?,
        meta.get("name")?.as_str()?,
        meta.get("namespace").and_then(Node::as_str),
    )
}

/// kustomize's `build -o DIR` names: `group_version_kind_[namespace_]name.yaml`, lower case;
/// and `Kind/[namespace/]name`.
fn names(api: &str, kind: &str, name: &str, namespace: Option<&str>) -> Option<(String, String)> {
    let gv = api.replace('/', "_");
    let file = match namespace {
        Some(ns) => format!("{gv}_{kind}_{ns}_{name}.yaml"),
        None => format!("{gv}_{kind}_{name}.yaml"),
    }
    .to_lowercase();
    let id = match namespace {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    };
    Some((file, id))
}

#[cfg(test)]
mod tests;
