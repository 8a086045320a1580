//! The `registry` interface: every call is checked against the run's grants (reads need pull,
//! writes push, a transfer pull on its source and push on its destination) and then served by
//! the run's [`RegistryClient`], which holds the credentials. A refusal names what was asked
//! and what the run was granted; a host without registry access refuses everything.

use std::sync::Arc;

use super::{HostState, error};
use crate::Digest;
use futures::StreamExt;

use crate::bindings::registry::{self, BlobTransfer, Call, Descriptor, Manifest, Reply};
use crate::bindings::types::{Error, ErrorKind};
use crate::grants::RegistryAccess;
use crate::oci::OciReference;
use crate::registry::{
    self as access, RegistryClient, RegistryError, RegistryErrorKind, Repository,
};

impl HostState {
    /// Checks every `(access, repository)` the call needs, then hands out the client.
    fn registry_for(
        &self,
        call: &str,
        target: &str,
        needs: &[(RegistryAccess, &Repository)],
    ) -> Result<Arc<RegistryClient>, Error> {
        let granted = self.ctx.grants.describe_registry();
        for (want, repo) in needs {
            let repo = repo.to_string();
            if !self.ctx.grants.allows_registry(*want, &repo) {
                let want = match want {
                    RegistryAccess::Pull => "pull",
                    RegistryAccess::Push => "push",
                };
                tracing::warn!(call, target, need = want, repository = %repo, %granted, "denied registry call");
                return Err(error(
                    ErrorKind::Denied,
                    format!(
                        "registry.{call} on `{target}` denied: it needs {want} on {repo} \
                         (granted: {granted})"
                    ),
                ));
            }
        }
        self.ctx.registry.clone().ok_or_else(|| {
            tracing::warn!(
                call,
                target,
                "denied registry call: no registry access in this host"
            );
            error(
                ErrorKind::Denied,
                format!(
                    "registry.{call} on `{target}` denied: this host does not serve registry \
                     access (granted: {granted})"
                ),
            )
        })
    }
}

fn reference(call: &str, s: &str) -> Result<OciReference, Error> {
    s.parse::<OciReference>().map_err(|e| {
        error(
            ErrorKind::Invalid,
            format!(
                "registry.{call}: {e} (expected REGISTRY/PATH:TAG or REGISTRY/PATH@sha256:...)"
            ),
        )
    })
}

fn repository(call: &str, s: &str) -> Result<Repository, Error> {
    s.parse::<Repository>()
        .map_err(|e| error(ErrorKind::Invalid, format!("registry.{call}: {e}")))
}

fn digest(call: &str, s: &str) -> Result<Digest, Error> {
    s.parse::<Digest>()
        .map_err(|e| error(ErrorKind::Invalid, format!("registry.{call}: {e}")))
}

fn mapped(call: &str, e: RegistryError) -> Error {
    let kind = match e.kind {
        RegistryErrorKind::Denied => ErrorKind::Denied,
        RegistryErrorKind::NotFound => ErrorKind::NotFound,
        RegistryErrorKind::Conflict => ErrorKind::Conflict,
        RegistryErrorKind::Invalid => ErrorKind::Invalid,
        RegistryErrorKind::Unavailable => ErrorKind::Unavailable,
        RegistryErrorKind::Timeout => ErrorKind::Timeout,
    };
    tracing::debug!(call, kind = %e.kind, error = %e.message, "registry call failed");
    error(kind, e.message)
}

fn descriptor(d: access::Descriptor) -> Descriptor {
    Descriptor {
        media_type: d.media_type,
        digest: d.digest,
        size: d.size,
        artifact_type: d.artifact_type,
        annotations: d.annotations,
    }
}

impl HostState {
    async fn serve_resolve(&self, reference_: String) -> Result<Descriptor, Error> {
        let r = reference("resolve", &reference_)?;
        let client = self.registry_for(
            "resolve",
            &reference_,
            &[(RegistryAccess::Pull, &Repository::of(&r))],
        )?;
        client
            .resolve(&r)
            .await
            .map(descriptor)
            .map_err(|e| mapped("resolve", e))
    }

    async fn serve_get_manifest(&self, reference_: String) -> Result<Manifest, Error> {
        let r = reference("get-manifest", &reference_)?;
        let client = self.registry_for(
            "get-manifest",
            &reference_,
            &[(RegistryAccess::Pull, &Repository::of(&r))],
        )?;
        let m = client
            .get_manifest(&r)
            .await
            .map_err(|e| mapped("get-manifest", e))?;
        Ok(Manifest {
            media_type: m.media_type,
            digest: m.digest.to_string(),
            bytes: m.bytes,
        })
    }

    async fn serve_put_manifest(
        &self,
        reference_: String,
        media_type: String,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        let r = reference("put-manifest", &reference_)?;
        let client = self.registry_for(
            "put-manifest",
            &reference_,
            &[(RegistryAccess::Push, &Repository::of(&r))],
        )?;
        client
            .put_manifest(&r, &media_type, bytes)
            .await
            .map(|d| d.to_string())
            .map_err(|e| mapped("put-manifest", e))
    }

    async fn serve_blob_exists(&self, repository_: String, digest_: String) -> Result<bool, Error> {
        let repo = repository("blob-exists", &repository_)?;
        let d = digest("blob-exists", &digest_)?;
        let client = self.registry_for(
            "blob-exists",
            &repository_,
            &[(RegistryAccess::Pull, &repo)],
        )?;
        client
            .blob_exists(&repo, &d)
            .await
            .map_err(|e| mapped("blob-exists", e))
    }

    async fn serve_get_blob(&self, repository_: String, digest_: String) -> Result<Vec<u8>, Error> {
        let repo = repository("get-blob", &repository_)?;
        let d = digest("get-blob", &digest_)?;
        let client =
            self.registry_for("get-blob", &repository_, &[(RegistryAccess::Pull, &repo)])?;
        client
            .get_blob(&repo, &d)
            .await
            .map_err(|e| mapped("get-blob", e))
    }

    async fn serve_put_blob(
        &self,
        repository_: String,
        contents: Vec<u8>,
    ) -> Result<String, Error> {
        let repo = repository("put-blob", &repository_)?;
        let client =
            self.registry_for("put-blob", &repository_, &[(RegistryAccess::Push, &repo)])?;
        client
            .put_blob(&repo, contents)
            .await
            .map(|d| d.to_string())
            .map_err(|e| mapped("put-blob", e))
    }

    async fn serve_transfer_blob(
        &self,
        from: String,
        to: String,
        digest_: String,
        size: u64,
    ) -> Result<BlobTransfer, Error> {
        let src = repository("transfer-blob", &from)?;
        let dst = repository("transfer-blob", &to)?;
        let d = digest("transfer-blob", &digest_)?;
        let client = self.registry_for(
            "transfer-blob",
            &format!("{digest_} from {from} to {to}"),
            &[(RegistryAccess::Pull, &src), (RegistryAccess::Push, &dst)],
        )?;
        let done = client
            .transfer_blob(&src, &dst, &d, size)
            .await
            .map_err(|e| mapped("transfer-blob", e))?;
        Ok(match done {
            access::BlobTransfer::Present => BlobTransfer::Present,
            access::BlobTransfer::Mounted => BlobTransfer::Mounted,
            access::BlobTransfer::Copied => BlobTransfer::Copied,
        })
    }

    async fn serve_list_tags(&self, repository_: String) -> Result<Vec<String>, Error> {
        let repo = repository("list-tags", &repository_)?;
        let client =
            self.registry_for("list-tags", &repository_, &[(RegistryAccess::Pull, &repo)])?;
        client
            .list_tags(&repo)
            .await
            .map_err(|e| mapped("list-tags", e))
    }

    async fn serve_referrers(
        &self,
        repository_: String,
        digest_: String,
        artifact_type: Option<String>,
    ) -> Result<Vec<Descriptor>, Error> {
        let repo = repository("referrers", &repository_)?;
        let d = digest("referrers", &digest_)?;
        let client =
            self.registry_for("referrers", &repository_, &[(RegistryAccess::Pull, &repo)])?;
        client
            .referrers(&repo, &d, artifact_type.as_deref())
            .await
            .map(|all| all.into_iter().map(descriptor).collect())
            .map_err(|e| mapped("referrers", e))
    }
}

/// The WIT entry points: each call on its own, or many at once through `batch`.
impl registry::Host for HostState {
    async fn resolve(&mut self, reference: String) -> Result<Descriptor, Error> {
        self.serve_resolve(reference).await
    }

    async fn get_manifest(&mut self, reference: String) -> Result<Manifest, Error> {
        self.serve_get_manifest(reference).await
    }

    async fn put_manifest(
        &mut self,
        reference: String,
        media_type: String,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        self.serve_put_manifest(reference, media_type, bytes).await
    }

    async fn blob_exists(&mut self, repository: String, digest: String) -> Result<bool, Error> {
        self.serve_blob_exists(repository, digest).await
    }

    async fn get_blob(&mut self, repository: String, digest: String) -> Result<Vec<u8>, Error> {
        self.serve_get_blob(repository, digest).await
    }

    async fn put_blob(&mut self, repository: String, contents: Vec<u8>) -> Result<String, Error> {
        self.serve_put_blob(repository, contents).await
    }

    async fn transfer_blob(
        &mut self,
        from: String,
        to: String,
        digest: String,
        size: u64,
    ) -> Result<BlobTransfer, Error> {
        self.serve_transfer_blob(from, to, digest, size).await
    }

    async fn list_tags(&mut self, repository: String) -> Result<Vec<String>, Error> {
        self.serve_list_tags(repository).await
    }

    async fn referrers(
        &mut self,
        repository: String,
        digest: String,
        artifact_type: Option<String>,
    ) -> Result<Vec<Descriptor>, Error> {
        self.serve_referrers(repository, digest, artifact_type)
            .await
    }

    async fn batch(&mut self, calls: Vec<Call>) -> Vec<Result<Reply, Error>> {
        let this = &*self;
        let in_flight = this.ctx.limits.registry_requests.max(1);
        futures::stream::iter(calls)
            .map(|call| this.serve_call(call))
            .buffered(in_flight)
            .collect()
            .await
    }
}

impl HostState {
    async fn serve_call(&self, call: Call) -> Result<Reply, Error> {
        Ok(match call {
            Call::Resolve(r) => Reply::Resolve(self.serve_resolve(r).await?),
            Call::GetManifest(r) => Reply::GetManifest(self.serve_get_manifest(r).await?),
            Call::PutManifest(p) => Reply::PutManifest(
                self.serve_put_manifest(p.reference, p.media_type, p.bytes)
                    .await?,
            ),
            Call::BlobExists(b) => {
                Reply::BlobExists(self.serve_blob_exists(b.repository, b.digest).await?)
            }
            Call::GetBlob(b) => Reply::GetBlob(self.serve_get_blob(b.repository, b.digest).await?),
            Call::PutBlob(b) => {
                Reply::PutBlob(self.serve_put_blob(b.repository, b.contents).await?)
            }
            Call::TransferBlob(m) => Reply::TransferBlob(
                self.serve_transfer_blob(m.from, m.to, m.digest, m.size)
                    .await?,
            ),
            Call::ListTags(r) => Reply::ListTags(self.serve_list_tags(r).await?),
            Call::Referrers(q) => Reply::Referrers(
                self.serve_referrers(q.repository, q.digest, q.artifact_type)
                    .await?,
            ),
        })
    }
}
