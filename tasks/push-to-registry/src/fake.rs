//! An in-memory registry with the semantics promotion relies on: content-addressed blobs and
//! manifests per repository, tags, cross-repository mounts (or refusal of them), manifest PUTs
//! that fail when a blob or child is missing, OCI 1.1 referrers by `subject`. Every write is
//! recorded so tests can assert what was written, in which order, and that nothing was.

use std::collections::{BTreeMap, HashMap};

use kubectl_release_sdk::registry::{BlobTransfer, Call, Descriptor, Manifest, Reply};
use kubectl_release_sdk::{ErrorKind, HostError};
use serde_json::{Value as Json, json};
use sha2::{Digest as _, Sha256};

use crate::registry::{Registry, one};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Default)]
struct Repo {
    blobs: BTreeMap<String, Vec<u8>>,
    manifests: BTreeMap<String, (String, Vec<u8>)>,
    tags: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct FakeRegistry {
    repos: HashMap<String, Repo>,
    /// Every write, in order: `blob mounted|copied|present TO DIGEST`, `manifest REF`.
    pub writes: Vec<String>,
    /// Every call, in order.
    pub calls: Vec<String>,
    /// The size of every `batch`, in order.
    pub batches: Vec<usize>,
    /// The registry answers mounts by copying (bytes move).
    pub refuse_mounts: bool,
    /// Writes to these repositories are `denied`.
    pub read_only: Vec<String>,
    /// Calls whose description starts with this fail `unavailable`.
    pub fail: Option<String>,
}

fn not_found(what: impl Into<String>) -> HostError {
    HostError::new(ErrorKind::NotFound, what)
}

fn split(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    if let Some((repo, digest)) = reference.split_once('@') {
        return (repo, None, Some(digest));
    }
    let slash = reference.rfind('/').unwrap_or(0);
    match reference[slash..].find(':') {
        Some(i) => (
            &reference[..slash + i],
            Some(&reference[slash + i + 1..]),
            None,
        ),
        None => (reference, None, None),
    }
}

impl FakeRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn repo(&mut self, name: &str) -> &mut Repo {
        self.repos.entry(name.to_owned()).or_default()
    }

    /// Stores a blob; returns its descriptor JSON.
    pub fn blob(&mut self, repo: &str, media_type: &str, bytes: &[u8]) -> Json {
        let digest = sha256(bytes);
        self.repo(repo).blobs.insert(digest.clone(), bytes.to_vec());
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// Stores a manifest (by digest, and under `tag` if given); returns its descriptor JSON.
    pub fn manifest(&mut self, repo: &str, tag: Option<&str>, doc: &Json) -> Json {
        let bytes = serde_json::to_vec(doc).unwrap();
        let media_type = doc["mediaType"].as_str().unwrap().to_owned();
        let digest = sha256(&bytes);
        let r = self.repo(repo);
        r.manifests
            .insert(digest.clone(), (media_type.clone(), bytes.clone()));
        if let Some(tag) = tag {
            r.tags.insert(tag.to_owned(), digest.clone());
        }
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// A single-platform image: a config with `created` and labels, `layers` distinct layers.
    pub fn image(
        &mut self,
        repo: &str,
        arch: &str,
        layers: usize,
        seed: &str,
        labels: &Json,
    ) -> Json {
        let config = json!({
            "architecture": arch, "os": "linux", "created": "2024-05-01T12:34:56Z",
            "config": {"Labels": labels}, "rootfs": {"type": "layers", "diff_ids": []}
        });
        let config = self.blob(repo, OCI_CONFIG, &serde_json::to_vec(&config).unwrap());
        let layers: Vec<Json> = (0..layers)
            .map(|i| {
                self.blob(
                    repo,
                    OCI_LAYER,
                    format!("{seed}-{arch}-layer-{i}").as_bytes(),
                )
            })
            .collect();
        self.manifest(repo, None, &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}))
    }

    /// An index over one image per architecture.
    pub fn index(&mut self, repo: &str, arches: &[&str], seed: &str) -> Json {
        let manifests: Vec<Json> = arches
            .iter()
            .map(|a| {
                let mut d = self.image(repo, a, 2, seed, &json!({"version": "1.0"}));
                d["platform"] = json!({"os": "linux", "architecture": a});
                d
            })
            .collect();
        self.manifest(
            repo,
            None,
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
    }

    /// A cosign-style signature stored under `sha256-<hex>.sig`.
    pub fn cosign_signature(&mut self, repo: &str, subject: &str, suffix: &str) -> Json {
        let config = self.blob(repo, OCI_CONFIG, b"{}");
        let payload = self.blob(
            repo,
            "application/vnd.dev.cosign.simplesigning.v1+json",
            format!("sig of {subject}").as_bytes(),
        );
        let tag = format!("sha256-{}.{suffix}", subject.trim_start_matches("sha256:"));
        self.manifest(repo, Some(&tag), &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [payload]}))
    }

    /// An OCI 1.1 referrer (an SBOM) of `subject`.
    pub fn sbom(&mut self, repo: &str, subject: &Json) -> Json {
        let config = self.blob(repo, "application/vnd.oci.empty.v1+json", b"{}");
        let layer = self.blob(
            repo,
            "application/spdx+json",
            format!("sbom of {}", subject["digest"]).as_bytes(),
        );
        self.manifest(
            repo,
            None,
            &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
                "config": config, "layers": [layer], "subject": subject}),
        )
    }

    pub fn tag(&mut self, repo: &str, tag: &str, digest: &str) {
        self.repo(repo)
            .tags
            .insert(tag.to_owned(), digest.to_owned());
    }

    pub fn tag_of(&self, repo: &str, tag: &str) -> Option<String> {
        self.repos.get(repo)?.tags.get(tag).cloned()
    }

    pub fn has_blob(&self, repo: &str, digest: &str) -> bool {
        self.repos
            .get(repo)
            .is_some_and(|r| r.blobs.contains_key(digest))
    }

    pub fn has_manifest(&self, repo: &str, digest: &str) -> bool {
        self.repos
            .get(repo)
            .is_some_and(|r| r.manifests.contains_key(digest))
    }

    pub fn manifest_bytes(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        Some(self.repos.get(repo)?.manifests.get(digest)?.1.clone())
    }

    fn call(&mut self, what: String) -> Result<(), HostError> {
        let fail = self
            .fail
            .as_ref()
            .is_some_and(|f| what.starts_with(f.as_str()));
        self.calls.push(what.clone());
        if fail {
            return Err(HostError::new(
                ErrorKind::Unavailable,
                format!("{what}: injected failure"),
            ));
        }
        Ok(())
    }

    fn check_write(&self, repo: &str) -> Result<(), HostError> {
        if self.read_only.iter().any(|r| r == repo) {
            return Err(HostError::new(
                ErrorKind::Denied,
                format!("push to {repo} is not granted"),
            ));
        }
        Ok(())
    }

    fn lookup(&self, reference: &str) -> Result<(String, String, Vec<u8>), HostError> {
        let (repo, tag, digest) = split(reference);
        let r = self
            .repos
            .get(repo)
            .ok_or_else(|| not_found(format!("repository {repo}")))?;
        let digest = match (tag, digest) {
            (_, Some(d)) => d.to_owned(),
            (Some(t), None) => r
                .tags
                .get(t)
                .cloned()
                .ok_or_else(|| not_found(format!("tag {reference}")))?,
            (None, None) => {
                return Err(HostError::new(
                    ErrorKind::Invalid,
                    format!("{reference} has no tag or digest"),
                ));
            }
        };
        let (media_type, bytes) = r
            .manifests
            .get(&digest)
            .cloned()
            .ok_or_else(|| not_found(format!("manifest {reference}")))?;
        Ok((digest, media_type, bytes))
    }
}

impl Registry for FakeRegistry {
    fn resolve(&mut self, reference: &str) -> Result<Descriptor, HostError> {
        self.call(format!("resolve {reference}"))?;
        let (digest, media_type, bytes) = self.lookup(reference)?;
        Ok(Descriptor {
            media_type,
            digest,
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: vec![],
        })
    }

    fn get_manifest(&mut self, reference: &str) -> Result<Manifest, HostError> {
        self.call(format!("get-manifest {reference}"))?;
        let (digest, media_type, bytes) = self.lookup(reference)?;
        Ok(Manifest {
            media_type,
            digest,
            bytes,
        })
    }

    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HostError> {
        self.call(format!("put-manifest {reference}"))?;
        let (repo, tag, digest) = split(reference);
        self.check_write(repo)?;
        let actual = sha256(bytes);
        if digest.is_some_and(|d| d != actual) {
            return Err(HostError::new(
                ErrorKind::Invalid,
                format!("digest mismatch for {reference}"),
            ));
        }
        let doc: Json = serde_json::from_slice(bytes)
            .map_err(|e| HostError::new(ErrorKind::Invalid, e.to_string()))?;
        let r = self.repos.entry(repo.to_owned()).or_default();
        for blob in doc
            .get("config")
            .into_iter()
            .chain(doc["layers"].as_array().into_iter().flatten())
        {
            let d = blob["digest"].as_str().unwrap();
            if !r.blobs.contains_key(d) {
                return Err(HostError::new(
                    ErrorKind::Invalid,
                    format!("blob unknown to {repo}: {d}"),
                ));
            }
        }
        for child in doc["manifests"].as_array().into_iter().flatten() {
            let d = child["digest"].as_str().unwrap();
            if !r.manifests.contains_key(d) {
                return Err(HostError::new(
                    ErrorKind::Invalid,
                    format!("manifest unknown to {repo}: {d}"),
                ));
            }
        }
        r.manifests
            .insert(actual.clone(), (media_type.to_owned(), bytes.to_vec()));
        if let Some(tag) = tag {
            r.tags.insert(tag.to_owned(), actual.clone());
        }
        self.writes.push(format!("manifest {reference}"));
        Ok(actual)
    }

    fn get_blob(&mut self, repository: &str, digest: &str) -> Result<Vec<u8>, HostError> {
        self.call(format!("get-blob {repository}@{digest}"))?;
        self.repos
            .get(repository)
            .and_then(|r| r.blobs.get(digest))
            .cloned()
            .ok_or_else(|| not_found(format!("blob {repository}@{digest}")))
    }

    fn transfer_blob(
        &mut self,
        from: &str,
        to: &str,
        digest: &str,
        _size: u64,
    ) -> Result<BlobTransfer, HostError> {
        self.call(format!("transfer-blob {from} {to} {digest}"))?;
        self.check_write(to)?;
        if self.has_blob(to, digest) {
            self.writes.push(format!("blob present {to} {digest}"));
            return Ok(BlobTransfer::Present);
        }
        let bytes = self
            .repos
            .get(from)
            .and_then(|r| r.blobs.get(digest))
            .cloned()
            .ok_or_else(|| not_found(format!("blob {from}@{digest}")))?;
        self.repo(to).blobs.insert(digest.to_owned(), bytes);
        if self.refuse_mounts {
            self.writes.push(format!("blob copied {to} {digest}"));
            Ok(BlobTransfer::Copied)
        } else {
            self.writes.push(format!("blob mounted {to} {digest}"));
            Ok(BlobTransfer::Mounted)
        }
    }

    fn list_tags(&mut self, repository: &str) -> Result<Vec<String>, HostError> {
        self.call(format!("list-tags {repository}"))?;
        let r = self
            .repos
            .get(repository)
            .ok_or_else(|| not_found(format!("repository {repository}")))?;
        Ok(r.tags.keys().cloned().collect())
    }

    fn referrers(&mut self, repository: &str, digest: &str) -> Result<Vec<Descriptor>, HostError> {
        self.call(format!("referrers {repository}@{digest}"))?;
        let Some(r) = self.repos.get(repository) else {
            return Ok(vec![]);
        };
        Ok(r.manifests
            .iter()
            .filter_map(|(d, (media_type, bytes))| {
                let doc: Json = serde_json::from_slice(bytes).ok()?;
                (doc.pointer("/subject/digest")?.as_str()? == digest).then(|| Descriptor {
                    media_type: media_type.clone(),
                    digest: d.clone(),
                    size: bytes.len() as u64,
                    artifact_type: doc["artifactType"].as_str().map(str::to_owned),
                    annotations: vec![],
                })
            })
            .collect())
    }

    fn batch(&mut self, calls: Vec<Call>) -> Vec<Result<Reply, HostError>> {
        self.batches.push(calls.len());
        calls.into_iter().map(|call| one(self, call)).collect()
    }
}
