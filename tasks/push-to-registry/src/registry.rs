//! The registry calls promotion makes, as a trait: the host's `registry` import in the component,
//! an in-memory registry in unit tests.

use kubectl_release_sdk::HostError;
use kubectl_release_sdk::registry::{self, BlobTransfer, Call, Descriptor, Manifest, Reply};

pub trait Registry {
    /// `repo:tag` or `repo@digest` to its descriptor; `not-found` when absent.
    fn resolve(&mut self, reference: &str) -> Result<Descriptor, HostError>;
    fn get_manifest(&mut self, reference: &str) -> Result<Manifest, HostError>;
    /// Returns the digest of `bytes` as the registry stored them.
    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HostError>;
    fn get_blob(&mut self, repository: &str, digest: &str) -> Result<Vec<u8>, HostError>;
    fn transfer_blob(
        &mut self,
        from: &str,
        to: &str,
        digest: &str,
        size: u64,
    ) -> Result<BlobTransfer, HostError>;
    fn list_tags(&mut self, repository: &str) -> Result<Vec<String>, HostError>;
    fn referrers(&mut self, repository: &str, digest: &str) -> Result<Vec<Descriptor>, HostError>;

    /// Independent calls, answered in order. The host overlaps them; this default, for
    /// registries that cannot, makes them one after another.
    fn batch(&mut self, calls: Vec<Call>) -> Vec<Result<Reply, HostError>> {
        calls.into_iter().map(|call| one(self, call)).collect()
    }
}

/// One call of a batch, through the single-call methods.
pub(crate) fn one<R: Registry + ?Sized>(registry: &mut R, call: Call) -> Result<Reply, HostError> {
    Ok(match call {
        Call::Resolve(r) => Reply::Resolve(registry.resolve(&r)?),
        Call::GetManifest(r) => Reply::GetManifest(registry.get_manifest(&r)?),
        Call::PutManifest(p) => {
            Reply::PutManifest(registry.put_manifest(&p.reference, &p.media_type, &p.bytes)?)
        }
        Call::GetBlob(b) => Reply::GetBlob(registry.get_blob(&b.repository, &b.digest)?),
        Call::TransferBlob(m) => {
            Reply::TransferBlob(registry.transfer_blob(&m.from, &m.to, &m.digest, m.size)?)
        }
        Call::ListTags(r) => Reply::ListTags(registry.list_tags(&r)?),
        Call::Referrers(q) => Reply::Referrers(registry.referrers(&q.repository, &q.digest)?),
        Call::PutBlob(b) => {
            return Err(HostError::new(
                kubectl_release_sdk::ErrorKind::Invalid,
                format!("put-blob to {} is not used by promotion", b.repository),
            ));
        }
        Call::BlobExists(b) => {
            return Err(HostError::new(
                kubectl_release_sdk::ErrorKind::Invalid,
                format!(
                    "blob-exists of {}@{} is not used by promotion",
                    b.repository, b.digest
                ),
            ));
        }
    })
}

/// The run's registry, through the host (which checks grants and holds credentials).
pub struct HostRegistry;

impl Registry for HostRegistry {
    fn resolve(&mut self, reference: &str) -> Result<Descriptor, HostError> {
        registry::resolve(reference)
    }

    fn get_manifest(&mut self, reference: &str) -> Result<Manifest, HostError> {
        registry::get_manifest(reference)
    }

    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HostError> {
        registry::put_manifest(reference, media_type, bytes)
    }

    fn get_blob(&mut self, repository: &str, digest: &str) -> Result<Vec<u8>, HostError> {
        registry::get_blob(repository, digest)
    }

    fn transfer_blob(
        &mut self,
        from: &str,
        to: &str,
        digest: &str,
        size: u64,
    ) -> Result<BlobTransfer, HostError> {
        registry::transfer_blob(from, to, digest, size)
    }

    fn list_tags(&mut self, repository: &str) -> Result<Vec<String>, HostError> {
        registry::list_tags(repository)
    }

    fn referrers(&mut self, repository: &str, digest: &str) -> Result<Vec<Descriptor>, HostError> {
        registry::referrers(repository, digest, None)
    }

    fn batch(&mut self, calls: Vec<Call>) -> Vec<Result<Reply, HostError>> {
        registry::batch(&calls)
    }
}
