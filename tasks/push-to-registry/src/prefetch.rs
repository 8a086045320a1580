//! Reads that planning will make, asked for ahead in a few batches so the host can overlap them.
//! The planner stays a plain sequential walk: it reads through [`Prefetched`], which answers
//! from what a batch already brought and asks the registry for anything else. With a hundred
//! images that turns four hundred round trips in a row into three batches.

use std::collections::HashMap;

use kubectl_release_sdk::HostError;
use kubectl_release_sdk::registry::{
    BlobRef, BlobTransfer, Call, Descriptor, Manifest, ReferrersQuery, Reply,
};

use crate::input::Request;
use crate::manifest;
use crate::plan::Options;
use crate::registry::Registry;
use crate::template::Vars;

/// A read, as the key of its answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Read {
    Resolve(String),
    GetManifest(String),
    GetBlob(String, String),
    ListTags(String),
    Referrers(String, String),
}

impl Read {
    fn call(&self) -> Call {
        match self.clone() {
            Read::Resolve(r) => Call::Resolve(r),
            Read::GetManifest(r) => Call::GetManifest(r),
            Read::GetBlob(repository, digest) => Call::GetBlob(BlobRef { repository, digest }),
            Read::ListTags(r) => Call::ListTags(r),
            Read::Referrers(repository, digest) => Call::Referrers(ReferrersQuery {
                repository,
                digest,
                artifact_type: None,
            }),
        }
    }
}

/// A registry with answers fetched ahead. Errors are kept too: a `not-found` for a release tag
/// is the answer planning wants.
pub struct Prefetched<'r, R: Registry> {
    inner: &'r mut R,
    answers: HashMap<Read, Result<Reply, HostError>>,
}

impl<'r, R: Registry> Prefetched<'r, R> {
    pub fn new(inner: &'r mut R) -> Self {
        Self {
            inner,
            answers: HashMap::new(),
        }
    }

    /// Fetches, in one batch, every read of `reads` not answered yet.
    fn fetch(&mut self, reads: Vec<Read>) {
        let mut todo: Vec<Read> = vec![];
        for read in reads {
            if !self.answers.contains_key(&read) && !todo.contains(&read) {
                todo.push(read);
            }
        }
        if todo.is_empty() {
            return;
        }
        let calls = todo.iter().map(Read::call).collect();
        let replies = self.inner.batch(calls);
        self.answers.extend(todo.into_iter().zip(replies));
    }

    fn manifest_bytes(&self, reference: &str) -> Option<&[u8]> {
        match self.answers.get(&Read::GetManifest(reference.to_owned())) {
            Some(Ok(Reply::GetManifest(m))) => Some(&m.bytes),
            _ => None,
        }
    }

    /// The reads of `request` that do not depend on each other, in two rounds: first every
    /// source manifest and release tag (and, for copies, what the destination already has and
    /// which referrers exist), then what those manifests point at (configs, index children).
    /// Whatever planning needs beyond this, it reads itself.
    pub fn prefetch(&mut self, request: &Request, options: &Options) {
        let mut first = vec![];
        for item in &request.items {
            let source = item.source.to_string();
            first.push(Read::GetManifest(source));
            let vars = Vars {
                git_sha: item.git_revision.as_deref(),
                digest_hex: item.source.hex(),
                created: None,
                release: options.release_timestamp,
                labels: None,
                timestamp_format: &item.timestamp_format,
            };
            for t in &item.tags {
                if t.needs_config() {
                    continue;
                }
                if let Ok(tag) = t.expand(&vars) {
                    first.push(Read::Resolve(format!("{}:{tag}", item.destination)));
                }
            }
            if !item.in_place() {
                let (src, digest) = (&item.source.repository, &item.source.digest);
                first.push(Read::Resolve(format!("{}@{digest}", item.destination)));
                first.push(Read::Referrers(src.clone(), digest.clone()));
                first.push(Read::ListTags(src.clone()));
            }
        }
        self.fetch(first);

        let mut second = vec![];
        for item in &request.items {
            let source = item.source.to_string();
            let Some(parsed) = self
                .manifest_bytes(&source)
                .and_then(|b| manifest::parse(b).ok())
            else {
                continue;
            };
            let src = &item.source.repository;
            // Configs that templates read; the ones only `arches` needs come later (see
            // `Plan::configs`).
            if let Some(config) = &parsed.config
                && item.tags.iter().any(|t| t.needs_config())
            {
                second.push(Read::GetBlob(src.clone(), config.digest.clone()));
            }
            if !item.in_place() {
                for child in &parsed.children {
                    second.push(Read::GetManifest(format!("{src}@{}", child.digest)));
                    second.push(Read::Resolve(format!(
                        "{}@{}",
                        item.destination, child.digest
                    )));
                    second.push(Read::Referrers(src.clone(), child.digest.clone()));
                }
            }
        }
        self.fetch(second);
    }

    fn answer(&mut self, read: Read) -> Option<Result<Reply, HostError>> {
        self.answers.get(&read).cloned()
    }
}

fn unexpected(reply: Reply) -> HostError {
    // Only reachable if the host answered a call with another call's reply.
    HostError::new(
        kubectl_release_sdk::ErrorKind::Invalid,
        format!("the host answered with the wrong kind of reply: {reply:?}"),
    )
}

impl<R: Registry> Registry for Prefetched<'_, R> {
    fn resolve(&mut self, reference: &str) -> Result<Descriptor, HostError> {
        match self.answer(Read::Resolve(reference.to_owned())) {
            Some(Ok(Reply::Resolve(d))) => Ok(d),
            Some(Ok(other)) => Err(unexpected(other)),
            Some(Err(e)) => Err(e),
            None => self.inner.resolve(reference),
        }
    }

    fn get_manifest(&mut self, reference: &str) -> Result<Manifest, HostError> {
        match self.answer(Read::GetManifest(reference.to_owned())) {
            Some(Ok(Reply::GetManifest(m))) => Ok(m),
            Some(Ok(other)) => Err(unexpected(other)),
            Some(Err(e)) => Err(e),
            None => self.inner.get_manifest(reference),
        }
    }

    fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, HostError> {
        self.inner.put_manifest(reference, media_type, bytes)
    }

    fn get_blob(&mut self, repository: &str, digest: &str) -> Result<Vec<u8>, HostError> {
        match self.answer(Read::GetBlob(repository.to_owned(), digest.to_owned())) {
            Some(Ok(Reply::GetBlob(b))) => Ok(b),
            Some(Ok(other)) => Err(unexpected(other)),
            Some(Err(e)) => Err(e),
            None => self.inner.get_blob(repository, digest),
        }
    }

    fn transfer_blob(
        &mut self,
        from: &str,
        to: &str,
        digest: &str,
        size: u64,
    ) -> Result<BlobTransfer, HostError> {
        self.inner.transfer_blob(from, to, digest, size)
    }

    fn list_tags(&mut self, repository: &str) -> Result<Vec<String>, HostError> {
        match self.answer(Read::ListTags(repository.to_owned())) {
            Some(Ok(Reply::ListTags(t))) => Ok(t),
            Some(Ok(other)) => Err(unexpected(other)),
            Some(Err(e)) => Err(e),
            None => self.inner.list_tags(repository),
        }
    }

    fn referrers(&mut self, repository: &str, digest: &str) -> Result<Vec<Descriptor>, HostError> {
        match self.answer(Read::Referrers(repository.to_owned(), digest.to_owned())) {
            Some(Ok(Reply::Referrers(d))) => Ok(d),
            Some(Ok(other)) => Err(unexpected(other)),
            Some(Err(e)) => Err(e),
            None => self.inner.referrers(repository, digest),
        }
    }

    fn batch(&mut self, calls: Vec<Call>) -> Vec<Result<Reply, HostError>> {
        self.inner.batch(calls)
    }
}
