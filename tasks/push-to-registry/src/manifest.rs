//! Just enough of OCI and Docker manifests to copy them whole: which blobs an image manifest
//! needs, which manifests an index lists, what a config says about creation and labels. The
//! bytes themselves are never re-serialized: what is pushed is what was pulled.

use std::collections::BTreeMap;

use serde_json::Value as Json;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    pub os: Option<String>,
    pub architecture: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// From the document, when it says (the registry's `Content-Type` otherwise).
    pub media_type: Option<String>,
    pub config: Option<Blob>,
    pub layers: Vec<Blob>,
    /// An index's (or Docker manifest list's) manifests.
    pub children: Vec<Child>,
    pub subject: Option<String>,
}

impl Parsed {
    pub fn is_index(&self) -> bool {
        !self.children.is_empty() || self.media_type.as_deref().is_some_and(is_index_type)
    }

    /// Config then layers: every blob an image manifest needs before it can be pushed.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.config.iter().chain(&self.layers)
    }

    /// The platforms an index lists, skipping attestation entries (`unknown/unknown`).
    pub fn architectures(&self) -> Vec<String> {
        platform_values(self.children.iter().map(|c| c.architecture.as_ref()))
    }

    pub fn operating_systems(&self) -> Vec<String> {
        platform_values(self.children.iter().map(|c| c.os.as_ref()))
    }
}

/// The distinct known values, in index order (attestation manifests say `unknown`).
fn platform_values<'a>(values: impl Iterator<Item = Option<&'a String>>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for v in values.flatten() {
        if v != "unknown" && !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

pub fn is_index_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
    )
}

pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let doc: Json =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON manifest: {e}"))?;
    if !doc.is_object() {
        return Err("not a manifest: the document is not a JSON object".into());
    }
    let blob = |v: &Json, what: &str| -> Result<Blob, String> {
        let digest = v
            .get("digest")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("{what} has no digest"))?
            .to_owned();
        let size = v
            .get("size")
            .and_then(Json::as_u64)
            .ok_or_else(|| format!("{what} has no size"))?;
        Ok(Blob { digest, size })
    };
    let config = doc
        .get("config")
        .map(|c| blob(c, "the config"))
        .transpose()?;
    let layers = match doc.get("layers") {
        Some(Json::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, l)| blob(l, &format!("layer #{}", i + 1)))
            .collect::<Result<_, _>>()?,
        _ => vec![],
    };
    let children = match doc.get("manifests") {
        Some(Json::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let b = blob(m, &format!("manifest #{}", i + 1))?;
                let platform = m.get("platform");
                let field = |k: &str| {
                    platform
                        .and_then(|p| p.get(k))
                        .and_then(Json::as_str)
                        .map(str::to_owned)
                };
                Ok(Child {
                    digest: b.digest,
                    size: b.size,
                    media_type: m
                        .get("mediaType")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    os: field("os"),
                    architecture: field("architecture"),
                })
            })
            .collect::<Result<_, String>>()?,
        _ => vec![],
    };
    Ok(Parsed {
        media_type: doc
            .get("mediaType")
            .and_then(Json::as_str)
            .map(str::to_owned),
        config,
        layers,
        children,
        subject: doc
            .pointer("/subject/digest")
            .and_then(Json::as_str)
            .map(str::to_owned),
    })
}

/// What tag templates and results need from an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Seconds since the epoch: label `build-date`, else `created` (Konflux's order).
    pub created: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub architecture: Option<String>,
    pub os: Option<String>,
}

/// Lenient: a config that is not an image config (an artifact's `{}`) has no labels or dates.
pub fn parse_config(bytes: &[u8]) -> ImageConfig {
    let Ok(doc) = serde_json::from_slice::<Json>(bytes) else {
        return ImageConfig::default();
    };
    let labels: BTreeMap<String, String> = doc
        .pointer("/config/Labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let created = labels
        .get("build-date")
        .and_then(|d| crate::time::parse(d))
        .or_else(|| {
            doc.get("created")
                .and_then(Json::as_str)
                .and_then(crate::time::parse)
        });
    ImageConfig {
        created,
        labels,
        architecture: doc
            .get("architecture")
            .and_then(Json::as_str)
            .map(str::to_owned),
        os: doc.get("os").and_then(Json::as_str).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_manifest_blobs_in_order() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":10},
            "layers":[{"mediaType":"x","digest":"sha256:l1","size":100},{"mediaType":"x","digest":"sha256:l2","size":200}],
            "subject":{"mediaType":"x","digest":"sha256:s","size":1}}"#;
        let p = parse(m).unwrap();
        assert!(!p.is_index());
        let blobs: Vec<_> = p.blobs().map(|b| b.digest.as_str()).collect();
        assert_eq!(blobs, ["sha256:c", "sha256:l1", "sha256:l2"]);
        assert_eq!(p.subject.as_deref(), Some("sha256:s"));
    }

    #[test]
    fn index_children_and_architectures() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":5,"platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":5,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:c","size":5,"platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let p = parse(m).unwrap();
        assert!(p.is_index());
        assert_eq!(p.children.len(), 3);
        assert_eq!(p.architectures(), ["amd64", "arm64"]);
        assert_eq!(p.blobs().count(), 0);
    }

    #[test]
    fn docker_list_without_children_is_still_an_index() {
        let p = parse(br#"{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#).unwrap();
        assert!(p.is_index());
    }

    #[test]
    fn broken_manifests_say_why() {
        assert!(parse(b"nope").unwrap_err().contains("not a JSON manifest"));
        assert!(parse(b"[]").unwrap_err().contains("not a JSON object"));
        assert!(
            parse(br#"{"config":{"size":1}}"#)
                .unwrap_err()
                .contains("config has no digest")
        );
        assert!(
            parse(br#"{"layers":[{"digest":"sha256:x"}]}"#)
                .unwrap_err()
                .contains("layer #1 has no size")
        );
    }

    #[test]
    fn config_created_prefers_build_date() {
        let c = parse_config(
            br#"{"architecture":"arm64","os":"linux","created":"2024-05-01T00:00:00Z",
            "config":{"Labels":{"build-date":"2024-05-02T00:00:00","version":"1.2"}}}"#,
        );
        assert_eq!(c.created, Some(1_714_608_000));
        assert_eq!(c.labels["version"], "1.2");
        assert_eq!(c.architecture.as_deref(), Some("arm64"));
        let c = parse_config(br#"{"created":"2024-05-01T00:00:00Z"}"#);
        assert_eq!(c.created, Some(1_714_521_600));
        assert_eq!(parse_config(b"{}"), ImageConfig::default());
        assert_eq!(parse_config(b"\x00"), ImageConfig::default());
    }
}
