//! Stage 2: registry reads only. For every component: its manifest (and, for a copy, every
//! child manifest and referrer), its config when templates or results need it, the tags it gets
//! and which of them already point at its digest, and what a copy must move. A plan either
//! covers the whole request or fails, so a template that cannot expand or two components fighting
//! over one tag stop the run before its first write.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kubectl_release_sdk::{ErrorKind, HostError, TaskError};
use serde_json::json;

use crate::input::{INVALID_TAG, Item, Request};
use crate::manifest::{self, ImageConfig, Parsed};
use crate::prefetch::Prefetched;
use crate::reference::{ImageRef, digest_hex};
use crate::registry::Registry;
use crate::template::Vars;

/// How deep referrers of referrers are followed (a signature on an SBOM attestation is 2).
const MAX_REFERRER_DEPTH: usize = 4;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Seconds since the epoch, for `{{ release_timestamp }}`.
    pub release_timestamp: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagState {
    /// Missing or pointing elsewhere: will be written.
    Write,
    /// Already at the digest: left alone.
    Unchanged,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTag {
    pub tag: String,
    pub state: TagState,
}

/// One component's promotion, for results and the plan table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePlan {
    pub component: String,
    pub source: ImageRef,
    pub destination: String,
    pub media_type: String,
    pub arches: Vec<String>,
    pub oses: Vec<String>,
    pub tags: Vec<PlannedTag>,
    /// Manifests (image, children) the copy pushes by digest.
    pub manifests: usize,
    pub blobs: usize,
    pub referrers: usize,
}

impl ImagePlan {
    pub fn in_place(&self) -> bool {
        self.destination == self.source.repository
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobCopy {
    pub component: String,
    pub from: String,
    pub to: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutKind {
    /// An image manifest or index of the promoted image, by digest.
    Image,
    /// A signature, attestation, SBOM or other referrer, by digest or by its digest tag.
    Referrer,
    /// A release tag.
    Tag,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestPut {
    pub component: String,
    pub kind: PutKind,
    pub repository: String,
    /// A digest (`sha256:...`) or a tag.
    pub reference: String,
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl ManifestPut {
    pub fn target(&self) -> String {
        if self.reference.starts_with("sha256:") {
            format!("{}@{}", self.repository, self.reference)
        } else {
            format!("{}:{}", self.repository, self.reference)
        }
    }
}

/// Everything a run writes, in the order it writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub images: Vec<ImagePlan>,
    /// First: every blob a copied manifest needs.
    pub blobs: Vec<BlobCopy>,
    /// Then: manifests by digest, children before their index, subjects before referrers.
    pub manifests: Vec<ManifestPut>,
    /// Then: digest tags of referrers (`sha256-<hex>.sig`), so a signature exists before the
    /// release tag a consumer watches.
    pub referrer_tags: Vec<ManifestPut>,
    /// Last: the release tags.
    pub tags: Vec<ManifestPut>,
    /// Configs read only for an image's `arches` and `oses`: nothing is decided by them, so they are read
    /// in the same batch as the release tags (or, for a dry run, after planning).
    pub configs: Vec<PendingConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingConfig {
    /// Index into [`Plan::images`].
    pub image: usize,
    pub repository: String,
    pub digest: String,
}

impl Plan {
    /// Sets an image's `arches` and `oses` from its config as read.
    pub fn config_read(&mut self, pending: &PendingConfig, bytes: &[u8]) {
        let config = manifest::parse_config(bytes);
        let image = &mut self.images[pending.image];
        image.arches = config.architecture.into_iter().collect();
        image.oses = config.os.into_iter().collect();
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
            && self.manifests.is_empty()
            && self.referrer_tags.is_empty()
            && self.tags.is_empty()
    }

    /// Konflux push-snapshot results: `{"images":[{name, shasum, urls[], arches[], oses[]}]}`.
    pub fn images_json(&self) -> String {
        let images: Vec<_> = self
            .images
            .iter()
            .map(|i| {
                json!({
                    "name": i.component,
                    "shasum": i.source.digest,
                    "urls": i.tags.iter().map(|t| format!("{}:{}", i.destination, t.tag)).collect::<Vec<_>>(),
                    "arches": i.arches,
                    "oses": i.oses,
                })
            })
            .collect();
        json!({ "images": images }).to_string()
    }

    /// The plan, for `--dry-run` tables: per component, where it goes and what happens to it.
    pub fn plan_json(&self) -> String {
        let images: Vec<_> = self
            .images
            .iter()
            .map(|i| {
                json!({
                    "component": i.component,
                    "source": i.source.to_string(),
                    "destination": i.destination,
                    "mode": if i.in_place() { "in-place" } else { "copy" },
                    "mediaType": i.media_type,
                    "arches": i.arches,
                    "oses": i.oses,
                    "tags": i.tags.iter().map(|t| json!({
                        "tag": t.tag,
                        "action": match t.state { TagState::Write => "tag", TagState::Unchanged => "unchanged" },
                    })).collect::<Vec<_>>(),
                    "manifests": i.manifests,
                    "blobs": i.blobs,
                    "referrers": i.referrers,
                })
            })
            .collect();
        json!({ "images": images }).to_string()
    }
}

/// A manifest as fetched: the exact bytes and what they say.
#[derive(Clone, Debug)]
struct Fetched {
    media_type: String,
    digest: String,
    bytes: Vec<u8>,
    parsed: Parsed,
}

struct Planner<'r, R: Registry> {
    registry: &'r mut R,
    options: &'r Options,
    plan: Plan,
    manifests: HashMap<String, Fetched>,
    tags_of: HashMap<String, Vec<String>>,
    present: HashMap<(String, String), bool>,
    planned_blobs: BTreeSet<(String, String)>,
    planned_manifests: BTreeSet<(String, String)>,
    /// (repository, tag) -> (digest, component), to catch two components claiming one tag.
    claimed: BTreeMap<(String, String), (String, String)>,
}

/// Reads what the request needs and decides every write; writes nothing.
pub fn plan<R: Registry>(
    registry: &mut R,
    request: &Request,
    options: &Options,
) -> Result<Plan, TaskError> {
    let mut prefetched = Prefetched::new(registry);
    prefetched.prefetch(request, options);
    let mut planner = Planner {
        registry: &mut prefetched,
        options,
        plan: Plan::default(),
        manifests: HashMap::new(),
        tags_of: HashMap::new(),
        present: HashMap::new(),
        planned_blobs: BTreeSet::new(),
        planned_manifests: BTreeSet::new(),
        claimed: BTreeMap::new(),
    };
    for item in &request.items {
        planner.item(item)?;
    }
    Ok(planner.plan)
}

/// A host error on behalf of a component, with a reason a user can act on.
fn failed(component: &str, what: &str, e: HostError) -> TaskError {
    let reason = match e.kind {
        ErrorKind::NotFound => "ImageNotFound",
        ErrorKind::Denied => "Denied",
        ErrorKind::Invalid => "InvalidManifest",
        _ => "RegistryUnavailable",
    };
    TaskError::new(reason, format!("component `{component}`: {what}: {e}"))
}

impl<R: Registry> Planner<'_, R> {
    fn item(&mut self, item: &Item) -> Result<(), TaskError> {
        let name = item.component.as_str();
        let src = &item.source.repository;
        let top = self.fetch(name, src, &item.source.digest)?;
        let in_place = item.in_place();

        // The config: for `arches` and `oses` of a single image, and for templates that read it.
        let needs_config = item.tags.iter().any(|t| t.needs_config());
        let (arches, oses, config) = if top.parsed.is_index() {
            let (arches, oses) = (top.parsed.architectures(), top.parsed.operating_systems());
            let config = if needs_config {
                Some(self.index_config(name, src, &top)?)
            } else {
                None
            };
            (arches, oses, config)
        } else if needs_config {
            let config = self.config(name, src, &top)?;
            let arches = config.architecture.iter().cloned().collect();
            let oses = config.os.iter().cloned().collect();
            (arches, oses, Some(config))
        } else {
            // Only `arches` and `oses` need it: read along with the last writes, not before them.
            if let Some(config) = &top.parsed.config {
                self.plan.configs.push(PendingConfig {
                    image: self.plan.images.len(),
                    repository: src.clone(),
                    digest: config.digest.clone(),
                });
            }
            (vec![], vec![], None)
        };

        // Tags, all expanded and validated before anything else is decided.
        let vars = Vars {
            git_sha: item.git_revision.as_deref(),
            digest_hex: item.source.hex(),
            created: config.as_ref().and_then(|c| c.created),
            release: self.options.release_timestamp,
            labels: config.as_ref().map(|c| &c.labels),
            timestamp_format: &item.timestamp_format,
        };
        let mut tags: Vec<String> = vec![];
        for t in &item.tags {
            let tag = t
                .expand(&vars)
                .map_err(|e| TaskError::new(INVALID_TAG, format!("component `{name}`: {e}")))?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        for tag in &tags {
            let key = (item.destination.clone(), tag.clone());
            if let Some((digest, other)) = self.claimed.get(&key)
                && *digest != item.source.digest
            {
                return Err(TaskError::new(
                    INVALID_TAG,
                    format!(
                        "components `{other}` and `{name}` both want {}:{tag}, for different digests",
                        item.destination
                    ),
                ));
            }
            self.claimed
                .insert(key, (item.source.digest.clone(), name.to_owned()));
        }

        let (blobs_before, manifests_before) = (self.plan.blobs.len(), self.plan.manifests.len());
        let referrers_before = self.referrer_count();
        if !in_place {
            let tree = self.tree(name, src, &top)?;
            for node in &tree {
                self.ensure_manifest(name, PutKind::Image, src, &item.destination, node)?;
            }
            let subjects: Vec<String> = tree.iter().map(|n| n.digest.clone()).collect();
            let mut seen = BTreeSet::new();
            for subject in &subjects {
                self.referrers(name, src, &item.destination, subject, 0, &mut seen)?;
            }
        }

        let mut planned = vec![];
        for tag in tags {
            let state = match self
                .registry
                .resolve(&format!("{}:{tag}", item.destination))
            {
                Ok(d) if d.digest == item.source.digest => TagState::Unchanged,
                Ok(_) => TagState::Write,
                Err(e) if e.kind == ErrorKind::NotFound => TagState::Write,
                Err(e) => {
                    return Err(failed(
                        name,
                        &format!("resolving {}:{tag}", item.destination),
                        e,
                    ));
                }
            };
            if state == TagState::Write {
                self.plan.tags.push(ManifestPut {
                    component: name.to_owned(),
                    kind: PutKind::Tag,
                    repository: item.destination.clone(),
                    reference: tag.clone(),
                    media_type: top.media_type.clone(),
                    digest: top.digest.clone(),
                    bytes: top.bytes.clone(),
                });
            }
            planned.push(PlannedTag { tag, state });
        }
        let image = ImagePlan {
            component: name.to_owned(),
            source: item.source.clone(),
            destination: item.destination.clone(),
            media_type: top.media_type.clone(),
            arches,
            oses,
            tags: planned,
            manifests: self.plan.manifests[manifests_before..]
                .iter()
                .filter(|m| m.kind == PutKind::Image)
                .count(),
            blobs: self.plan.blobs.len() - blobs_before,
            referrers: self.referrer_count() - referrers_before,
        };
        self.plan.images.push(image);
        Ok(())
    }

    fn referrer_count(&self) -> usize {
        self.plan
            .manifests
            .iter()
            .filter(|m| m.kind == PutKind::Referrer)
            .count()
            + self.plan.referrer_tags.len()
    }

    fn fetch(
        &mut self,
        component: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Fetched, TaskError> {
        let full = if reference.starts_with("sha256:") {
            format!("{repository}@{reference}")
        } else {
            format!("{repository}:{reference}")
        };
        if let Some(f) = self.manifests.get(&full) {
            return Ok(f.clone());
        }
        let m = self
            .registry
            .get_manifest(&full)
            .map_err(|e| failed(component, &format!("reading {full}"), e))?;
        if reference.starts_with("sha256:") && m.digest != reference {
            return Err(TaskError::new(
                "DigestMismatch",
                format!(
                    "component `{component}`: the registry served {} for {full}",
                    m.digest
                ),
            ));
        }
        let parsed = manifest::parse(&m.bytes).map_err(|e| {
            TaskError::new(
                "InvalidManifest",
                format!("component `{component}`: {full}: {e}"),
            )
        })?;
        let media_type = if !m.media_type.is_empty() {
            m.media_type
        } else if let Some(t) = parsed.media_type.clone() {
            t
        } else {
            return Err(TaskError::new(
                "InvalidManifest",
                format!("component `{component}`: {full} has no media type"),
            ));
        };
        let fetched = Fetched {
            media_type,
            digest: m.digest,
            bytes: m.bytes,
            parsed,
        };
        self.manifests.insert(full, fetched.clone());
        Ok(fetched)
    }

    fn config(
        &mut self,
        component: &str,
        repository: &str,
        image: &Fetched,
    ) -> Result<ImageConfig, TaskError> {
        let Some(config) = &image.parsed.config else {
            return Ok(ImageConfig::default());
        };
        let bytes = self
            .registry
            .get_blob(repository, &config.digest)
            .map_err(|e| {
                failed(
                    component,
                    &format!("reading the config {} of {repository}", config.digest),
                    e,
                )
            })?;
        Ok(manifest::parse_config(&bytes))
    }

    /// An index's config for templates: linux/amd64 if it has one, else its first real platform.
    fn index_config(
        &mut self,
        component: &str,
        repository: &str,
        index: &Fetched,
    ) -> Result<ImageConfig, TaskError> {
        let children = &index.parsed.children;
        let pick = children
            .iter()
            .find(|c| c.architecture.as_deref() == Some("amd64"))
            .or_else(|| {
                children
                    .iter()
                    .find(|c| c.architecture.as_deref().is_some_and(|a| a != "unknown"))
            })
            .or(children.first());
        let Some(child) = pick else {
            return Ok(ImageConfig::default());
        };
        let child = self.fetch(component, repository, &child.digest.clone())?;
        if child.parsed.is_index() {
            return self.index_config(component, repository, &child);
        }
        self.config(component, repository, &child)
    }

    /// The manifest and everything below it, children first.
    fn tree(
        &mut self,
        component: &str,
        repository: &str,
        top: &Fetched,
    ) -> Result<Vec<Fetched>, TaskError> {
        let mut out = vec![];
        self.walk(component, repository, top, &mut out, 0)?;
        Ok(out)
    }

    fn walk(
        &mut self,
        component: &str,
        repository: &str,
        node: &Fetched,
        out: &mut Vec<Fetched>,
        depth: usize,
    ) -> Result<(), TaskError> {
        if depth > 8 {
            return Err(TaskError::new(
                "InvalidManifest",
                format!("component `{component}`: indexes nested too deep"),
            ));
        }
        for child in node.parsed.children.clone() {
            if out.iter().any(|f| f.digest == child.digest) {
                continue;
            }
            let fetched = self.fetch(component, repository, &child.digest)?;
            self.walk(component, repository, &fetched, out, depth + 1)?;
        }
        out.push(node.clone());
        Ok(())
    }

    fn present(
        &mut self,
        component: &str,
        repository: &str,
        digest: &str,
    ) -> Result<bool, TaskError> {
        let key = (repository.to_owned(), digest.to_owned());
        if let Some(p) = self.present.get(&key) {
            return Ok(*p);
        }
        let present = match self.registry.resolve(&format!("{repository}@{digest}")) {
            Ok(_) => true,
            Err(e) if e.kind == ErrorKind::NotFound => false,
            Err(e) => {
                return Err(failed(
                    component,
                    &format!("checking {repository}@{digest}"),
                    e,
                ));
            }
        };
        self.present.insert(key, present);
        Ok(present)
    }

    /// Plans moving the blobs `manifest` names from `from` to `to`, each once per destination.
    fn plan_blobs(&mut self, component: &str, from: &str, to: &str, manifest: &Parsed) {
        for blob in manifest.blobs() {
            if self
                .planned_blobs
                .insert((to.to_owned(), blob.digest.clone()))
            {
                self.plan.blobs.push(BlobCopy {
                    component: component.to_owned(),
                    from: from.to_owned(),
                    to: to.to_owned(),
                    digest: blob.digest.clone(),
                    size: blob.size,
                });
            }
        }
    }

    /// Plans a manifest's blobs and the manifest itself (by digest), unless the destination has it.
    fn ensure_manifest(
        &mut self,
        component: &str,
        kind: PutKind,
        from: &str,
        to: &str,
        node: &Fetched,
    ) -> Result<(), TaskError> {
        let key = (to.to_owned(), node.digest.clone());
        if self.planned_manifests.contains(&key) || self.present(component, to, &node.digest)? {
            return Ok(());
        }
        self.planned_manifests.insert(key);
        self.plan_blobs(component, from, to, &node.parsed);
        self.plan.manifests.push(ManifestPut {
            component: component.to_owned(),
            kind,
            repository: to.to_owned(),
            reference: node.digest.clone(),
            media_type: node.media_type.clone(),
            digest: node.digest.clone(),
            bytes: node.bytes.clone(),
        });
        Ok(())
    }

    /// Referrers of `subject`: OCI 1.1 referrers (by digest) and digest tags
    /// (`sha256-<hex>`, `sha256-<hex>.sig|.att|.sbom|...`, cosign's and the referrers fallback's).
    fn referrers(
        &mut self,
        component: &str,
        from: &str,
        to: &str,
        subject: &str,
        depth: usize,
        seen: &mut BTreeSet<String>,
    ) -> Result<(), TaskError> {
        if depth >= MAX_REFERRER_DEPTH || !seen.insert(subject.to_owned()) {
            return Ok(());
        }
        let descriptors = match self.registry.referrers(from, subject) {
            Ok(d) => d,
            Err(e) if e.kind == ErrorKind::NotFound => vec![],
            Err(e) => {
                return Err(failed(
                    component,
                    &format!("listing referrers of {from}@{subject}"),
                    e,
                ));
            }
        };
        let mut found: Vec<String> = vec![];
        for d in descriptors {
            let referrer = self.fetch(component, from, &d.digest)?;
            for node in self.tree(component, from, &referrer)? {
                self.ensure_manifest(component, PutKind::Referrer, from, to, &node)?;
            }
            found.push(referrer.digest);
        }
        let prefix = format!("sha256-{}", digest_hex(subject));
        let tags: Vec<String> = self
            .tags(component, from)?
            .into_iter()
            .filter(|t| {
                *t == prefix
                    || t.strip_prefix(&prefix)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .collect();
        for tag in tags {
            let fetched = self.fetch(component, from, &tag)?;
            let tree = self.tree(component, from, &fetched)?;
            // Children by digest now; the tagged manifest itself by its tag, later.
            for node in &tree[..tree.len() - 1] {
                self.ensure_manifest(component, PutKind::Referrer, from, to, node)?;
            }
            let current = match self.registry.resolve(&format!("{to}:{tag}")) {
                Ok(d) => Some(d.digest),
                Err(e) if e.kind == ErrorKind::NotFound => None,
                Err(e) => return Err(failed(component, &format!("resolving {to}:{tag}"), e)),
            };
            if current.as_deref() != Some(fetched.digest.as_str()) {
                if !self.present(component, to, &fetched.digest)? {
                    self.plan_blobs(component, from, to, &fetched.parsed);
                }
                self.plan.referrer_tags.push(ManifestPut {
                    component: component.to_owned(),
                    kind: PutKind::Referrer,
                    repository: to.to_owned(),
                    reference: tag.clone(),
                    media_type: fetched.media_type.clone(),
                    digest: fetched.digest.clone(),
                    bytes: fetched.bytes.clone(),
                });
            }
            found.push(fetched.digest);
        }
        for digest in found {
            self.referrers(component, from, to, &digest, depth + 1, seen)?;
        }
        Ok(())
    }

    fn tags(&mut self, component: &str, repository: &str) -> Result<Vec<String>, TaskError> {
        if let Some(t) = self.tags_of.get(repository) {
            return Ok(t.clone());
        }
        let tags = match self.registry.list_tags(repository) {
            Ok(t) => t,
            Err(e) if e.kind == ErrorKind::NotFound => vec![],
            Err(e) => {
                return Err(failed(
                    component,
                    &format!("listing the tags of {repository}"),
                    e,
                ));
            }
        };
        self.tags_of.insert(repository.to_owned(), tags.clone());
        Ok(tags)
    }
}
