//! Stage 3: the writes of a [`Plan`], blobs before manifests before tags. Every manifest is
//! pushed as the exact bytes that were read, and the digest the registry answers is checked
//! against the source's, so a promotion that would change a digest stops instead.

use kubectl_release_sdk::registry::BlobTransfer;
use kubectl_release_sdk::{ErrorKind, HostError, TaskError};

use crate::plan::{ManifestPut, Plan, PutKind, TagState};
use crate::registry::Registry;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Release tags written.
    pub tagged: u64,
    /// Release tags that already pointed at the digest.
    pub unchanged: u64,
    pub blobs_mounted: u64,
    /// Blobs the destination already had.
    pub blobs_present: u64,
    /// Blobs streamed because the registry refused a mount.
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    /// Image manifests and index children pushed by digest.
    pub manifests_copied: u64,
    /// Referrer manifests and digest tags written.
    pub referrers_copied: u64,
}

impl Counts {
    /// What a plan would do, for `dry-run` (blob transfers counted as mounts, the usual case).
    pub fn planned(plan: &Plan) -> Counts {
        let mut c = Counts::default();
        for image in &plan.images {
            for t in &image.tags {
                match t.state {
                    TagState::Write => c.tagged += 1,
                    TagState::Unchanged => c.unchanged += 1,
                }
            }
        }
        c.blobs_mounted = plan.blobs.len() as u64;
        c.manifests_copied = plan
            .manifests
            .iter()
            .filter(|m| m.kind == PutKind::Image)
            .count() as u64;
        c.referrers_copied = (plan
            .manifests
            .iter()
            .filter(|m| m.kind == PutKind::Referrer)
            .count()
            + plan.referrer_tags.len()) as u64;
        c
    }

    pub fn add(&mut self, other: &Counts) {
        self.tagged += other.tagged;
        self.unchanged += other.unchanged;
        self.blobs_mounted += other.blobs_mounted;
        self.blobs_present += other.blobs_present;
        self.blobs_copied += other.blobs_copied;
        self.bytes_copied += other.bytes_copied;
        self.manifests_copied += other.manifests_copied;
        self.referrers_copied += other.referrers_copied;
    }
}

fn failed(component: &str, what: &str, e: HostError) -> TaskError {
    let reason = match e.kind {
        ErrorKind::Denied => "Denied",
        ErrorKind::Invalid => "PushRejected",
        ErrorKind::NotFound => "ImageNotFound",
        _ => "RegistryUnavailable",
    };
    TaskError::new(reason, format!("component `{component}`: {what}: {e}"))
}

pub fn execute<R: Registry>(registry: &mut R, plan: &Plan) -> Result<Counts, TaskError> {
    let mut counts = Counts::default();
    for image in &plan.images {
        counts.unchanged += image
            .tags
            .iter()
            .filter(|t| t.state == TagState::Unchanged)
            .count() as u64;
    }
    for blob in &plan.blobs {
        let how = registry
            .transfer_blob(&blob.from, &blob.to, &blob.digest, blob.size)
            .map_err(|e| {
                failed(
                    &blob.component,
                    &format!(
                        "moving blob {} from {} to {}",
                        blob.digest, blob.from, blob.to
                    ),
                    e,
                )
            })?;
        match how {
            BlobTransfer::Present => counts.blobs_present += 1,
            BlobTransfer::Mounted => counts.blobs_mounted += 1,
            BlobTransfer::Copied => {
                counts.blobs_copied += 1;
                counts.bytes_copied += blob.size;
            }
        }
    }
    for put in plan
        .manifests
        .iter()
        .chain(&plan.referrer_tags)
        .chain(&plan.tags)
    {
        push(registry, put)?;
        match put.kind {
            PutKind::Image => counts.manifests_copied += 1,
            PutKind::Referrer => counts.referrers_copied += 1,
            PutKind::Tag => counts.tagged += 1,
        }
    }
    Ok(counts)
}

fn push<R: Registry>(registry: &mut R, put: &ManifestPut) -> Result<(), TaskError> {
    let target = put.target();
    let digest = registry
        .put_manifest(&target, &put.media_type, &put.bytes)
        .map_err(|e| failed(&put.component, &format!("pushing {target}"), e))?;
    if digest != put.digest {
        return Err(TaskError::new(
            "DigestMismatch",
            format!(
                "component `{}`: {target} was stored as {digest}, not {}",
                put.component, put.digest
            ),
        ));
    }
    Ok(())
}
