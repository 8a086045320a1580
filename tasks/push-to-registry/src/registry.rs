//! The registry calls promotion makes, as a trait: the host's `registry` import in the component,
//! an in-memory registry in unit tests.

use kubectl_release_sdk::HostError;
use kubectl_release_sdk::registry::{self, BlobTransfer, Descriptor, Manifest};

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
}
