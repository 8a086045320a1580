//! OCI registry access. Repositories are full names (`registry.example:5000/team/app`); the host
//! checks each against the run's grants and holds the credentials.

use crate::HostError;
use crate::bindings::kubectl_release::task::registry as wit;

pub use wit::{
    BlobMove, BlobPut, BlobRef, BlobTransfer, Call, Descriptor, Manifest, ManifestPut,
    ReferrersQuery, Reply,
};

/// `reference` is `repo:tag` or `repo@sha256:...`.
pub fn resolve(reference: &str) -> Result<Descriptor, HostError> {
    wit::resolve(reference).map_err(Into::into)
}

pub fn get_manifest(reference: &str) -> Result<Manifest, HostError> {
    wit::get_manifest(reference).map_err(Into::into)
}

/// Returns the digest of `bytes`.
pub fn put_manifest(reference: &str, media_type: &str, bytes: &[u8]) -> Result<String, HostError> {
    wit::put_manifest(reference, media_type, bytes).map_err(Into::into)
}

pub fn blob_exists(repository: &str, digest: &str) -> Result<bool, HostError> {
    wit::blob_exists(repository, digest).map_err(Into::into)
}

pub fn get_blob(repository: &str, digest: &str) -> Result<Vec<u8>, HostError> {
    wit::get_blob(repository, digest).map_err(Into::into)
}

/// Returns the digest of `contents`.
pub fn put_blob(repository: &str, contents: &[u8]) -> Result<String, HostError> {
    wit::put_blob(repository, contents).map_err(Into::into)
}

/// Makes `digest` present in `to`: nothing if it is there, a mount if the registry allows, else a copy.
pub fn transfer_blob(
    from: &str,
    to: &str,
    digest: &str,
    size: u64,
) -> Result<BlobTransfer, HostError> {
    wit::transfer_blob(from, to, digest, size).map_err(Into::into)
}

pub fn list_tags(repository: &str) -> Result<Vec<String>, HostError> {
    wit::list_tags(repository).map_err(Into::into)
}

/// OCI 1.1 referrers of `digest`, optionally only those of one artifact type.
pub fn referrers(
    repository: &str,
    digest: &str,
    artifact_type: Option<&str>,
) -> Result<Vec<Descriptor>, HostError> {
    wit::referrers(repository, digest, artifact_type).map_err(Into::into)
}

/// Runs independent calls at once, each answered in the order given (see `registry.batch` in
/// the WIT). Calls of one batch have no order between them: a write that needs another first
/// belongs in a later batch.
pub fn batch(calls: &[Call]) -> Vec<Result<Reply, HostError>> {
    wit::batch(calls)
        .into_iter()
        .map(|r| r.map_err(Into::into))
        .collect()
}
