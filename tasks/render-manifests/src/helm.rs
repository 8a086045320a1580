//! The Flux `HelmRelease` output (`helm.toolkit.fluxcd.io/v2`, helm-controller v1.x): instead of
//! the devfile's manifests, one HelmRelease whose `spec.values` are the merged values layers, for
//! a chart given one of three ways:
//! - `oci://REG/REPO:VERSION` (or `@sha256:...`, or `--chart-version RANGE`): `spec.chartRef` to an
//!   `OCIRepository` named `<release>-chart`, emitted too, selecting the Helm chart layer;
//! - a chart in a `HelmRepository`, `GitRepository` or `Bucket` (`--chart-source KIND/[NS/]NAME`):
//!   `spec.chart.spec` (chart, version, sourceRef), the source being the cluster's;
//! - no `--chart`, `--chart-source OCIRepository|HelmChart|ExternalArtifact/[NS/]NAME`:
//!   `spec.chartRef` to that existing source.
//!
//! Output is canonical so the bundle digest depends only on content: fixed field order, values
//! keys sorted at every level.

use serde_yaml_ng::{Mapping, Value};

use crate::error::Error;

pub const API_VERSION: &str = "helm.toolkit.fluxcd.io/v2";
/// What helm-controller pulls from an OCIRepository for a chart (Helm's own chart layer type).
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const INTERVAL: &str = "10m";

/// `spec.chart.spec.sourceRef` kinds (the CRD's enum).
const TEMPLATE_SOURCES: &[&str] = &["HelmRepository", "GitRepository", "Bucket"];
/// `spec.chartRef` kinds (the CRD's enum).
const CHART_REFS: &[&str] = &["OCIRepository", "HelmChart", "ExternalArtifact"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OciRef {
    Tag(String),
    Digest { tag: Option<String>, digest: String },
    Semver(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRef {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chart {
    /// `url` is `oci://REG/REPO`.
    Oci {
        url: String,
        reference: OciRef,
    },
    Template {
        chart: String,
        version: Option<String>,
        source: SourceRef,
    },
    Ref(SourceRef),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub namespace: String,
    pub target_namespace: Option<String>,
    pub chart: Chart,
}

/// The flags as given, empty strings already `None`.
#[derive(Clone, Debug, Default)]
pub struct Flags<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub target_namespace: Option<&'a str>,
    pub chart: Option<&'a str>,
    pub version: Option<&'a str>,
    pub source: Option<&'a str>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new("InvalidParam", message.into())
}

/// Checked here so a typo fails at render time, not when the cluster rejects the bundle:
/// namespaces are RFC 1123 labels (63, no dots), object names subdomains (253, dots allowed).
fn check_name(flag: &str, s: &str, max: usize) -> Result<(), Error> {
    let dots = max > 63;
    let ok = !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{flag} `{s}` is not a Kubernetes name (lower case letters, digits, `-`{}, at most {max})",
            if dots { ", `.`" } else { "" }
        )))
    }
}

/// `KIND/NAME` or `KIND/NAMESPACE/NAME`; the kind matched case-insensitively among `kinds`.
fn parse_source(s: &str, kinds: &[&str]) -> Result<SourceRef, Error> {
    let parts: Vec<&str> = s.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [k, n] => (*k, None, *n),
        [k, ns, n] => (*k, Some(*ns), *n),
        _ => {
            return Err(invalid(format!(
                "--chart-source `{s}` is not KIND/NAME or KIND/NAMESPACE/NAME"
            )));
        }
    };
    let kind = kinds
        .iter()
        .find(|k| k.eq_ignore_ascii_case(kind))
        .ok_or_else(|| {
            invalid(format!(
                "--chart-source `{s}`: kind `{kind}` is not one of {}",
                kinds.join(", ")
            ))
        })?;
    check_name("--chart-source name", name, 253)?;
    if let Some(ns) = namespace {
        check_name("--chart-source namespace", ns, 63)?;
    }
    Ok(SourceRef {
        kind: (*kind).to_owned(),
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
    })
}

/// `oci://REG/REPO[:TAG][@sha256:HEX]`.
fn parse_oci(chart: &str, version: Option<&str>) -> Result<Chart, Error> {
    let rest = &chart["oci://".len()..];
    let (named, digest) = match rest.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (rest, None),
    };
    let slash = named.find('/').ok_or_else(|| {
        invalid(format!(
            "--chart `{chart}` is not oci://REGISTRY/REPOSITORY[:VERSION]"
        ))
    })?;
    let (repo, tag) = match named[slash..].rfind(':') {
        Some(i) => (&named[..slash + i], Some(&named[slash + i + 1..])),
        None => (named, None),
    };
    if repo.len() <= slash + 1 || tag == Some("") {
        return Err(invalid(format!(
            "--chart `{chart}` is not oci://REGISTRY/REPOSITORY[:VERSION]"
        )));
    }
    if let Some(d) = digest
        && !(d.len() == 71
            && d.starts_with("sha256:")
            && d[7..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(invalid(format!(
            "--chart `{chart}`: `{d}` is not a sha256 digest"
        )));
    }
    let reference = match (tag, digest, version) {
        (_, Some(_), Some(_)) | (Some(_), _, Some(_)) => {
            return Err(invalid(format!(
                "--chart `{chart}` already names its version; drop --chart-version"
            )));
        }
        (tag, Some(d), None) => OciRef::Digest {
            tag: tag.map(str::to_owned),
            digest: d.to_owned(),
        },
        (Some(t), None, None) => OciRef::Tag(t.to_owned()),
        (None, None, Some(v)) => OciRef::Semver(v.to_owned()),
        // An unpinned chart would make the same bundle install different charts over time.
        (None, None, None) => {
            return Err(invalid(format!(
                "--chart `{chart}` has no version: use oci://REG/REPO:VERSION, @sha256:..., or --chart-version RANGE"
            )));
        }
    };
    Ok(Chart::Oci {
        url: format!("oci://{repo}"),
        reference,
    })
}

impl Spec {
    pub fn parse(f: &Flags) -> Result<Spec, Error> {
        check_name("--helm-release", f.name, 253)?;
        check_name("--helm-namespace", f.namespace, 63)?;
        if let Some(t) = f.target_namespace {
            check_name("--target-namespace", t, 63)?;
        }
        let chart = match (f.chart, f.source) {
            (Some(c), None) if c.starts_with("oci://") => parse_oci(c, f.version)?,
            (Some(c), Some(_)) if c.starts_with("oci://") => {
                return Err(invalid(format!(
                    "--chart `{c}` is an OCI chart, which needs no --chart-source"
                )));
            }
            (Some(c), None) => {
                return Err(invalid(format!(
                    "--chart `{c}` needs --chart-source HelmRepository|GitRepository|Bucket/NAME (or give oci://REG/REPO:VERSION)"
                )));
            }
            (Some(c), Some(s)) => Chart::Template {
                chart: c.to_owned(),
                version: f.version.map(str::to_owned),
                source: parse_source(s, TEMPLATE_SOURCES)?,
            },
            (None, Some(s)) => {
                if f.version.is_some() {
                    return Err(invalid(
                        "--chart-version needs --chart (a chartRef source carries its own version)",
                    ));
                }
                Chart::Ref(parse_source(s, CHART_REFS)?)
            }
            (None, None) => {
                return Err(invalid(
                    "--helm-release needs --chart oci://REG/REPO:VERSION, --chart NAME --chart-source KIND/NAME, or --chart-source OCIRepository/NAME",
                ));
            }
        };
        Ok(Spec {
            name: f.name.to_owned(),
            namespace: f.namespace.to_owned(),
            target_namespace: f.target_namespace.map(str::to_owned),
            chart,
        })
    }

    /// The HelmRelease (and the chart's OCIRepository, for an `oci://` chart) carrying `values`:
    /// (file name, `Kind/namespace/name`, YAML), sorted by file name.
    pub fn objects(&self, values: &Mapping) -> Result<Vec<(String, String, Vec<u8>)>, Error> {
        let ns = &self.namespace;
        let mut out = vec![];
        let mut spec = map([("interval", s(INTERVAL))]);
        match &self.chart {
            Chart::Oci { url, reference } => {
                let name = format!("{}-chart", self.name);
                let r = match reference {
                    OciRef::Tag(t) => map([("tag", s(t))]),
                    OciRef::Digest { tag, digest } => {
                        let mut r = Mapping::new();
                        if let Some(t) = tag {
                            r.insert(s("tag"), s(t));
                        }
                        r.insert(s("digest"), s(digest));
                        r
                    }
                    OciRef::Semver(v) => map([("semver", s(v))]),
                };
                let repo = object(
                    "source.toolkit.fluxcd.io/v1",
                    "OCIRepository",
                    &name,
                    ns,
                    map([
                        ("interval", s(INTERVAL)),
                        ("url", s(url)),
                        ("ref", Value::Mapping(r)),
                        (
                            "layerSelector",
                            Value::Mapping(map([
                                ("mediaType", s(CHART_LAYER_MEDIA_TYPE)),
                                ("operation", s("copy")),
                            ])),
                        ),
                    ]),
                );
                out.push(file(
                    "source.toolkit.fluxcd.io_v1",
                    "OCIRepository",
                    &name,
                    ns,
                    &repo,
                )?);
                spec.insert(
                    s("chartRef"),
                    Value::Mapping(map([("kind", s("OCIRepository")), ("name", s(&name))])),
                );
            }
            Chart::Template {
                chart,
                version,
                source,
            } => {
                let mut t = map([("chart", s(chart))]);
                if let Some(v) = version {
                    t.insert(s("version"), s(v));
                }
                t.insert(s("sourceRef"), source_ref(source));
                spec.insert(
                    s("chart"),
                    Value::Mapping(map([("spec", Value::Mapping(t))])),
                );
            }
            Chart::Ref(source) => {
                spec.insert(s("chartRef"), source_ref(source));
            }
        }
        if let Some(t) = &self.target_namespace {
            spec.insert(s("targetNamespace"), s(t));
        }
        if !values.is_empty() {
            spec.insert(s("values"), sorted(&Value::Mapping(values.clone())));
        }
        let release = object(API_VERSION, "HelmRelease", &self.name, ns, spec);
        out.push(file(
            "helm.toolkit.fluxcd.io_v2",
            "HelmRelease",
            &self.name,
            ns,
            &release,
        )?);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Mapping {
    entries.into_iter().map(|(k, v)| (s(k), v)).collect()
}

fn source_ref(r: &SourceRef) -> Value {
    let mut m = map([("kind", s(&r.kind)), ("name", s(&r.name))]);
    if let Some(ns) = &r.namespace {
        m.insert(s("namespace"), s(ns));
    }
    Value::Mapping(m)
}

fn object(api: &str, kind: &str, name: &str, namespace: &str, spec: Mapping) -> Value {
    Value::Mapping(map([
        ("apiVersion", s(api)),
        ("kind", s(kind)),
        (
            "metadata",
            Value::Mapping(map([("name", s(name)), ("namespace", s(namespace))])),
        ),
        ("spec", Value::Mapping(spec)),
    ]))
}

/// Named like the plain manifests (`group_version_kind_namespace_name.yaml`).
fn file(
    gv: &str,
    kind: &str,
    name: &str,
    ns: &str,
    value: &Value,
) -> Result<(String, String, Vec<u8>), Error> {
    let yaml = serde_yaml_ng::to_string(value)
        .map_err(|e| Error::new("InvalidConfig", format!("{kind} {name}: {e}")))?;
    Ok((
        format!("{gv}_{kind}_{ns}_{name}.yaml").to_lowercase(),
        format!("{kind}/{ns}/{name}"),
        yaml.into_bytes(),
    ))
}

/// Keys sorted at every level (by their text; a non-string key by its YAML form), so the
/// layer files' key order never shows in the output.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Mapping(m) => {
            let mut entries: Vec<(String, &Value, &Value)> = m
                .iter()
                .map(|(k, v)| {
                    let text = match k {
                        Value::String(s) => s.clone(),
                        other => serde_yaml_ng::to_string(other).unwrap_or_default(),
                    };
                    (text, k, v)
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Mapping(
                entries
                    .into_iter()
                    .map(|(_, k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Sequence(items) => Value::Sequence(items.iter().map(sorted).collect()),
        Value::Tagged(t) => sorted(&t.value),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

    fn flags<'a>(chart: Option<&'a str>, source: Option<&'a str>) -> Flags<'a> {
        Flags {
            name: "shop",
            namespace: "flux-system",
            chart,
            source,
            ..Flags::default()
        }
    }

    fn values() -> Mapping {
        serde_yaml_ng::from_str("zeta: 1\nimage: {tag: v2, repository: quay.io/a}\nalpha: [b, a]\n")
            .unwrap()
    }

    fn text(objects: &[(String, String, Vec<u8>)], i: usize) -> &str {
        std::str::from_utf8(&objects[i].2).unwrap()
    }

    #[test]
    fn an_oci_chart_gets_a_chart_ref_and_its_oci_repository() {
        let spec = Spec::parse(&Flags {
            target_namespace: Some("shop-prod"),
            ..flags(Some("oci://ghcr.io/team/charts/shop:1.2.3"), None)
        })
        .unwrap();
        let objects = spec.objects(&values()).unwrap();
        let names: Vec<(&str, &str)> = objects
            .iter()
            .map(|(f, id, _)| (f.as_str(), id.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (
                    "helm.toolkit.fluxcd.io_v2_helmrelease_flux-system_shop.yaml",
                    "HelmRelease/flux-system/shop"
                ),
                (
                    "source.toolkit.fluxcd.io_v1_ocirepository_flux-system_shop-chart.yaml",
                    "OCIRepository/flux-system/shop-chart"
                ),
            ]
        );
        assert_eq!(
            text(&objects, 0),
            "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: shop
  namespace: flux-system
spec:
  interval: 10m
  chartRef:
    kind: OCIRepository
    name: shop-chart
  targetNamespace: shop-prod
  values:
    alpha:
    - b
    - a
    image:
      repository: quay.io/a
      tag: v2
    zeta: 1
"
        );
        assert_eq!(
            text(&objects, 1),
            "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: shop-chart
  namespace: flux-system
spec:
  interval: 10m
  url: oci://ghcr.io/team/charts/shop
  ref:
    tag: 1.2.3
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
    operation: copy
"
        );
    }

    #[test]
    fn oci_versions_by_digest_or_range_and_never_unpinned() {
        let by_digest = Spec::parse(&flags(
            Some(&format!("oci://reg:5000/charts/shop:1.0@{D}")),
            None,
        ))
        .unwrap();
        assert_eq!(
            by_digest.chart,
            Chart::Oci {
                url: "oci://reg:5000/charts/shop".into(),
                reference: OciRef::Digest {
                    tag: Some("1.0".into()),
                    digest: D.into()
                }
            }
        );
        let range = Spec::parse(&Flags {
            version: Some(">=1.0.0 <2.0.0"),
            ..flags(Some("oci://reg:5000/charts/shop"), None)
        })
        .unwrap();
        let repo = text(&range.objects(&Mapping::new()).unwrap(), 1).to_owned();
        assert!(repo.contains("semver: '>=1.0.0 <2.0.0'"), "{repo}");
        for (chart, version, expected) in [
            ("oci://reg:5000/charts/shop", None, "has no version"),
            ("oci://reg/shop:1", Some("2"), "drop --chart-version"),
            ("oci://reg/shop@sha256:12", None, "not a sha256 digest"),
            ("oci://shop:1", None, "is not oci://REGISTRY/REPOSITORY"),
        ] {
            let err = Spec::parse(&Flags {
                version,
                ..flags(Some(chart), None)
            })
            .unwrap_err();
            assert_eq!(err.reason, "InvalidParam");
            assert!(err.message.contains(expected), "{chart}: {}", err.message);
        }
    }

    #[test]
    fn a_repository_chart_gets_a_chart_template() {
        let spec = Spec::parse(&Flags {
            version: Some("6.5.0"),
            ..flags(Some("podinfo"), Some("helmrepository/charts/podinfo"))
        })
        .unwrap();
        let objects = spec.objects(&Mapping::new()).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(
            text(&objects, 0),
            "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: shop
  namespace: flux-system
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: 6.5.0
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: charts
"
        );
        let existing = Spec::parse(&flags(None, Some("OCIRepository/shop-chart"))).unwrap();
        let release = text(&existing.objects(&Mapping::new()).unwrap(), 0).to_owned();
        assert!(
            release.contains("chartRef:\n    kind: OCIRepository\n    name: shop-chart\n"),
            "{release}"
        );
    }

    #[test]
    fn bad_flags_are_refused_with_the_flag_named() {
        for (f, expected) in [
            (flags(None, None), "--helm-release needs --chart"),
            (flags(Some("podinfo"), None), "needs --chart-source"),
            (
                flags(Some("podinfo"), Some("OCIRepository/x")),
                "kind `OCIRepository` is not one of HelmRepository",
            ),
            (
                flags(None, Some("HelmRepository/x")),
                "kind `HelmRepository` is not one of OCIRepository",
            ),
            (
                flags(Some("oci://r/c:1"), Some("HelmRepository/x")),
                "needs no --chart-source",
            ),
            (
                flags(Some("p"), Some("HelmRepository/a/b/c")),
                "is not KIND/NAME",
            ),
            (
                Flags {
                    name: "Shop",
                    ..flags(Some("oci://r/c:1"), None)
                },
                "--helm-release `Shop` is not a Kubernetes name",
            ),
        ] {
            let err = Spec::parse(&f).unwrap_err();
            assert!(err.message.contains(expected), "{f:?}: {}", err.message);
        }
    }

    #[test]
    fn values_are_sorted_whatever_the_layer_order() {
        let a: Value = serde_yaml_ng::from_str("b: {y: 1, x: 2}\na: 1\n").unwrap();
        let b: Value = serde_yaml_ng::from_str("a: 1\nb: {x: 2, y: 1}\n").unwrap();
        let (a, b) = (sorted(&a), sorted(&b));
        assert_eq!(
            serde_yaml_ng::to_string(&a).unwrap(),
            serde_yaml_ng::to_string(&b).unwrap()
        );
        assert_eq!(
            serde_yaml_ng::to_string(&a).unwrap(),
            "a: 1\nb:\n  x: 2\n  y: 1\n"
        );
    }
}
