//! Stage 3: the writes of a [`Plan`], blobs before manifests before tags. Every manifest is
//! pushed as the exact bytes that were read, and the digest the registry answers is checked
//! against the source's, so a promotion that would change a digest stops instead.

use std::collections::HashMap;

use kubectl_release_sdk::registry::{self, BlobMove, BlobRef, BlobTransfer, Call, Reply};
use kubectl_release_sdk::{ErrorKind, HostError, TaskError};

use crate::manifest;
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

pub fn execute<R: Registry>(registry: &mut R, plan: &mut Plan) -> Result<Counts, TaskError> {
    let mut counts = Counts::default();
    for image in &plan.images {
        counts.unchanged += image
            .tags
            .iter()
            .filter(|t| t.state == TagState::Unchanged)
            .count() as u64;
    }

    // Blobs do not depend on each other: one batch.
    let calls: Vec<Call> = plan
        .blobs
        .iter()
        .map(|b| {
            Call::TransferBlob(BlobMove {
                from: b.from.clone(),
                to: b.to.clone(),
                digest: b.digest.clone(),
                size: b.size,
            })
        })
        .collect();
    let replies = if calls.is_empty() {
        vec![]
    } else {
        registry.batch(calls)
    };
    for (blob, reply) in plan.blobs.iter().zip(replies) {
        let what = || {
            format!(
                "moving blob {} from {} to {}",
                blob.digest, blob.from, blob.to
            )
        };
        match reply.map_err(|e| failed(&blob.component, &what(), e))? {
            Reply::TransferBlob(BlobTransfer::Present) => counts.blobs_present += 1,
            Reply::TransferBlob(BlobTransfer::Mounted) => counts.blobs_mounted += 1,
            Reply::TransferBlob(BlobTransfer::Copied) => {
                counts.blobs_copied += 1;
                counts.bytes_copied += blob.size;
            }
            other => return Err(unexpected(&blob.component, &what(), other)),
        }
    }

    // Manifests in waves: a child before its index, a subject before its referrers. Then the
    // referrers' digest tags, then the release tags, each a batch of its own.
    for wave in waves(&plan.manifests) {
        push_all(registry, &wave, &mut counts)?;
    }
    push_all(
        registry,
        &plan.referrer_tags.iter().collect::<Vec<_>>(),
        &mut counts,
    )?;
    let tags = std::mem::take(&mut plan.tags);
    let done = push_all_then_read_configs(
        registry,
        &tags.iter().collect::<Vec<_>>(),
        plan,
        &mut counts,
    );
    plan.tags = tags;
    done?;
    Ok(counts)
}

/// Reads the configs only `arches` needs (a dry run's stand-in for the last batch of writes).
pub fn read_configs<R: Registry>(registry: &mut R, plan: &mut Plan) -> Result<(), TaskError> {
    let mut counts = Counts::default();
    push_all_then_read_configs(registry, &[], plan, &mut counts)
}

/// The release tags and the pending config reads in one batch: the reads decide nothing, so
/// they need not hold up the writes, and need no round trip of their own.
fn push_all_then_read_configs<R: Registry>(
    registry: &mut R,
    tags: &[&ManifestPut],
    plan: &mut Plan,
    counts: &mut Counts,
) -> Result<(), TaskError> {
    let pending = std::mem::take(&mut plan.configs);
    let reads = pending.iter().map(|c| {
        Call::GetBlob(BlobRef {
            repository: c.repository.clone(),
            digest: c.digest.clone(),
        })
    });
    let calls: Vec<Call> = put_calls(tags).chain(reads).collect();
    if calls.is_empty() {
        return Ok(());
    }
    let mut replies = registry.batch(calls);
    let config_replies = replies.split_off(tags.len());
    check_puts(tags, replies, counts)?;
    for (config, reply) in pending.iter().zip(config_replies) {
        let component = plan.images[config.image].component.clone();
        let what = || {
            format!(
                "reading the config {} of {} (for its architectures)",
                config.digest, config.repository
            )
        };
        match reply.map_err(|e| failed(&component, &what(), e))? {
            Reply::GetBlob(bytes) => plan.config_read(config, &bytes),
            other => return Err(unexpected(&component, &what(), other)),
        }
    }
    Ok(())
}

/// `manifests` (in plan order, which already puts what a manifest needs before it) grouped so
/// that nothing in a wave needs anything of the same or a later wave.
fn waves(manifests: &[ManifestPut]) -> Vec<Vec<&ManifestPut>> {
    let mut wave_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut waves: Vec<Vec<&ManifestPut>> = vec![];
    for put in manifests {
        let needs: Vec<String> = match manifest::parse(&put.bytes) {
            Ok(parsed) => parsed
                .children
                .into_iter()
                .map(|c| c.digest)
                .chain(parsed.subject)
                .collect(),
            // Unparseable bytes were refused while planning; keep such a put last in order.
            Err(_) => vec![],
        };
        let wave = needs
            .iter()
            .filter_map(|d| wave_of.get(&(put.repository.as_str(), d.as_str())))
            .map(|w| w + 1)
            .max()
            .unwrap_or(0);
        wave_of.insert((&put.repository, &put.digest), wave);
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(put);
    }
    waves
}

fn push_all<R: Registry>(
    registry: &mut R,
    puts: &[&ManifestPut],
    counts: &mut Counts,
) -> Result<(), TaskError> {
    if puts.is_empty() {
        return Ok(());
    }
    let replies = registry.batch(put_calls(puts).collect());
    check_puts(puts, replies, counts)
}

fn put_calls<'a>(puts: &'a [&ManifestPut]) -> impl Iterator<Item = Call> + 'a {
    puts.iter().map(|p| {
        Call::PutManifest(registry::ManifestPut {
            reference: p.target(),
            media_type: p.media_type.clone(),
            bytes: p.bytes.clone(),
        })
    })
}

/// Each put's answer: the digest the registry stored must be the one read.
fn check_puts(
    puts: &[&ManifestPut],
    replies: Vec<Result<Reply, HostError>>,
    counts: &mut Counts,
) -> Result<(), TaskError> {
    for (put, reply) in puts.iter().zip(replies) {
        let target = put.target();
        let what = || format!("pushing {target}");
        let digest = match reply.map_err(|e| failed(&put.component, &what(), e))? {
            Reply::PutManifest(digest) => digest,
            other => return Err(unexpected(&put.component, &what(), other)),
        };
        if digest != put.digest {
            return Err(TaskError::new(
                "DigestMismatch",
                format!(
                    "component `{}`: {target} was stored as {digest}, not {}",
                    put.component, put.digest
                ),
            ));
        }
        match put.kind {
            PutKind::Image => counts.manifests_copied += 1,
            PutKind::Referrer => counts.referrers_copied += 1,
            PutKind::Tag => counts.tagged += 1,
        }
    }
    Ok(())
}

fn unexpected(component: &str, what: &str, reply: Reply) -> TaskError {
    TaskError::new(
        "RegistryUnavailable",
        format!("component `{component}`: {what}: the host answered {reply:?}"),
    )
}
