//! The `registry` interface. Until the promote work brings the real implementation, every call
//! is answered `denied`, naming what was asked and what the run was granted.

use super::{HostState, error};
use crate::bindings::registry::{self, BlobTransfer, Descriptor, Manifest};
use crate::bindings::types::{Error, ErrorKind};

impl HostState {
    fn registry_denied(&self, call: &str, target: &str) -> Error {
        let message = format!(
            "registry.{call} on `{target}` denied: this host does not serve registry access yet \
             (granted: {})",
            self.ctx.grants.describe_registry()
        );
        tracing::warn!(call, target, granted = %self.ctx.grants.describe_registry(), "denied registry call");
        error(ErrorKind::Denied, message)
    }
}

impl registry::Host for HostState {
    async fn resolve(&mut self, reference: String) -> Result<Descriptor, Error> {
        Err(self.registry_denied("resolve", &reference))
    }

    async fn get_manifest(&mut self, reference: String) -> Result<Manifest, Error> {
        Err(self.registry_denied("get-manifest", &reference))
    }

    async fn put_manifest(
        &mut self,
        reference: String,
        _media_type: String,
        _bytes: Vec<u8>,
    ) -> Result<String, Error> {
        Err(self.registry_denied("put-manifest", &reference))
    }

    async fn blob_exists(&mut self, repository: String, _digest: String) -> Result<bool, Error> {
        Err(self.registry_denied("blob-exists", &repository))
    }

    async fn get_blob(&mut self, repository: String, _digest: String) -> Result<Vec<u8>, Error> {
        Err(self.registry_denied("get-blob", &repository))
    }

    async fn put_blob(&mut self, repository: String, _contents: Vec<u8>) -> Result<String, Error> {
        Err(self.registry_denied("put-blob", &repository))
    }

    async fn transfer_blob(
        &mut self,
        _from: String,
        to: String,
        _digest: String,
        _size: u64,
    ) -> Result<BlobTransfer, Error> {
        Err(self.registry_denied("transfer-blob", &to))
    }

    async fn list_tags(&mut self, repository: String) -> Result<Vec<String>, Error> {
        Err(self.registry_denied("list-tags", &repository))
    }

    async fn referrers(
        &mut self,
        repository: String,
        _digest: String,
        _artifact_type: Option<String>,
    ) -> Result<Vec<Descriptor>, Error> {
        Err(self.registry_denied("referrers", &repository))
    }
}
