//! The registry operations behind the `registry` WIT interface.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LINK};
use reqwest::{Response, StatusCode, Url};

use super::http::{Connection, Op, transport_failure};
use super::retry::Failure;
use super::{
    AuthSource, MANIFEST_MEDIA_TYPES, RegistryError, RegistryErrorKind, Repository, RetryPolicy,
};
use crate::Digest;
use crate::oci::reference::{INSECURE_REGISTRIES_ENV, is_loopback_host};
use crate::oci::{OciReference, auth};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Tags asked for per page of `tags/list`.
const TAGS_PAGE: usize = 1000;
/// A registry that keeps answering `rel="next"` is cut off after this many pages.
const MAX_TAG_PAGES: usize = 10_000;

#[derive(Clone, Debug)]
pub struct RegistryOptions {
    pub auth: AuthSource,
    /// Registries (`host[:port]`) spoken to over plain HTTP although not on loopback; entries
    /// from `KUBECTL_RELEASE_INSECURE_REGISTRIES` are added by [`RegistryClient::new`].
    pub insecure_registries: Vec<String>,
    pub retry: RetryPolicy,
    /// Manifests bigger than this are refused (registries commonly refuse more than 4 MiB).
    pub max_manifest_bytes: usize,
    /// `get-blob` hands blobs to the task in memory; bigger ones are refused. Transfers
    /// (`transfer-blob`) stream and have no such limit.
    pub max_blob_bytes: u64,
    pub connect_timeout: Duration,
    /// Longest silence while waiting for an answer or the next bytes of one.
    pub read_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            auth: AuthSource::DockerConfig,
            insecure_registries: Vec::new(),
            retry: RetryPolicy::default(),
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// A manifest exactly as the registry served it.
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// An OCI descriptor: what `resolve` answers (without artifact type and annotations, which a
/// HEAD does not show) and what a referrers index lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Vec<(String, String)>,
}

/// Alias kept for readers looking for "what resolve returns".
pub type ManifestInfo = Descriptor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobTransfer {
    /// The destination already had it.
    Present,
    /// Cross-repository mount: no bytes moved.
    Mounted,
    /// Streamed from the source to the destination.
    Copied,
}

/// What this client has done, for tests and benchmarks (e.g. "no blob bytes were sent").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// HTTP requests sent, retries included (auth handshakes excluded).
    pub requests: u64,
    /// Tries repeated after a transient failure.
    pub retries: u64,
    /// Blob bytes uploaded (`put-blob` and streamed copies); manifests not included.
    pub blob_bytes_sent: u64,
    pub blobs_mounted: u64,
    pub blobs_copied: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    blob_bytes_sent: AtomicU64,
    blobs_mounted: AtomicU64,
    blobs_copied: AtomicU64,
}

/// Registry access for tasks, shared by every run of a process (connections and tokens are
/// cached per registry). Grants are checked by the caller.
pub struct RegistryClient {
    options: RegistryOptions,
    http: reqwest::Client,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
    /// Held while a connection is set up, so the first batch of a run (many calls at once, all
    /// missing the map) reads credentials and builds a TLS client once, not once per call.
    connecting: tokio::sync::Mutex<()>,
    counters: Arc<Counters>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registries: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("RegistryClient")
            .field("auth", &self.options.auth)
            .field("insecure_registries", &self.options.insecure_registries)
            .field("retry", &self.options.retry)
            .field("connected_registries", &registries)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    pub fn new(mut options: RegistryOptions) -> Result<Self, RegistryError> {
        if let Ok(list) = std::env::var(INSECURE_REGISTRIES_ENV) {
            options.insecure_registries.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .build()
            .map_err(|e| RegistryError::unavailable(format!("creating the HTTP client: {e}")))?;
        Ok(Self {
            options,
            http,
            connections: Mutex::new(HashMap::new()),
            connecting: tokio::sync::Mutex::new(()),
            counters: Arc::new(Counters::default()),
        })
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    pub fn stats(&self) -> RegistryStats {
        let c = &self.counters;
        RegistryStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            blob_bytes_sent: c.blob_bytes_sent.load(Ordering::Relaxed),
            blobs_mounted: c.blobs_mounted.load(Ordering::Relaxed),
            blobs_copied: c.blobs_copied.load(Ordering::Relaxed),
        }
    }

    /// The manifest `reference` names (HEAD: media type, digest, size).
    pub async fn resolve(&self, reference: &OciReference) -> Result<Descriptor, RegistryError> {
        let repo = Repository::of(reference);
        let conn = self.connection(repo.registry()).await?;
        let what = format!("resolve {reference}");
        let url = conn.url(&format!("{}/manifests/{}", repo.path(), target(reference)));
        let (conn, repo, url, what) = (&conn, &repo, &url, &what);
        let answer = self
            .retry(what, move || async move {
                let request = self
                    .http
                    .head(url.clone())
                    .header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
                let resp = self
                    .send_expecting(conn, repo.path(), Op::Pull, what, request, StatusCode::OK)
                    .await?;
                Ok((
                    header(&resp, "docker-content-digest"),
                    header(&resp, "content-type").map(|t| base_media_type(&t)),
                    header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok()),
                ))
            })
            .await?;
        match answer {
            (Some(digest), Some(media_type), Some(size))
                if digest.parse::<Digest>().is_ok() && is_manifest_type(&media_type) =>
            {
                if let Some(pinned) = reference.digest()
                    && pinned.to_string() != digest
                {
                    return Err(mismatch(what, &pinned.to_string(), &digest));
                }
                Ok(Descriptor {
                    media_type,
                    digest,
                    size,
                    artifact_type: None,
                    annotations: Vec::new(),
                })
            }
            // The registry did not say enough in the HEAD: fetch and hash the manifest.
            _ => {
                let m = self.get_manifest(reference).await?;
                Ok(Descriptor {
                    media_type: m.media_type,
                    digest: m.digest.to_string(),
                    size: m.bytes.len() as u64,
                    artifact_type: None,
                    annotations: Vec::new(),
                })
            }
        }
    }

    /// The manifest `reference` names, exactly as served, checked against its digest (the one
    /// pinned in the reference, and the one the registry announced).
    pub async fn get_manifest(&self, reference: &OciReference) -> Result<Manifest, RegistryError> {
        let repo = Repository::of(reference);
        let conn = self.connection(repo.registry()).await?;
        let what = format!("get-manifest {reference}");
        let url = conn.url(&format!("{}/manifests/{}", repo.path(), target(reference)));
        let max = self.options.max_manifest_bytes as u64;
        let (conn, repo, url, what) = (&conn, &repo, &url, &what);
        let (bytes, announced, content_type) = self
            .retry(what, move || async move {
                let request = self
                    .http
                    .get(url.clone())
                    .header(ACCEPT, MANIFEST_MEDIA_TYPES.join(", "));
                let resp = self
                    .send_expecting(conn, repo.path(), Op::Pull, what, request, StatusCode::OK)
                    .await?;
                let announced = header(&resp, "docker-content-digest");
                let content_type = header(&resp, "content-type").map(|t| base_media_type(&t));
                let bytes = read_body(resp, max, what, conn.registry()).await?;
                Ok((bytes, announced, content_type))
            })
            .await?;
        let digest = Digest::of(&bytes);
        for expected in reference
            .digest()
            .map(ToString::to_string)
            .into_iter()
            .chain(announced.filter(|d| d.starts_with("sha256:")))
        {
            if expected != digest.to_string() {
                return Err(mismatch(what, &expected, &digest.to_string()));
            }
        }
        let media_type = match content_type.filter(|t| is_manifest_type(t)) {
            Some(t) => t,
            None => embedded_media_type(&bytes).ok_or_else(|| {
                RegistryError::invalid(format!(
                    "{what}: the registry served no manifest media type and the manifest names none"
                ))
            })?,
        };
        tracing::debug!(%reference, %digest, %media_type, size = bytes.len(), "fetched manifest");
        Ok(Manifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// Stores `bytes` unchanged under `reference` (a tag, or a digest that must be theirs) and
    /// returns their digest, after checking that the registry stored exactly that.
    pub async fn put_manifest(
        &self,
        reference: &OciReference,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Digest, RegistryError> {
        let what = format!("put-manifest {reference}");
        let digest = Digest::of(&bytes);
        if let Some(pinned) = reference.digest()
            && *pinned != digest
        {
            return Err(RegistryError::invalid(format!(
                "{what} refused: the manifest bytes hash to {digest}, not {pinned}"
            )));
        }
        if bytes.len() > self.options.max_manifest_bytes {
            return Err(RegistryError::invalid(format!(
                "{what} refused: the manifest is {} bytes, more than the limit of {}",
                bytes.len(),
                self.options.max_manifest_bytes
            )));
        }
        let content_type = reqwest::header::HeaderValue::from_str(media_type)
            .ok()
            .filter(|_| is_manifest_type(media_type))
            .ok_or_else(|| {
                RegistryError::invalid(format!(
                    "{what} refused: {media_type:?} is not a manifest media type"
                ))
            })?;
        if let Some(embedded) = embedded_media_type(&bytes)
            && embedded != media_type
        {
            return Err(RegistryError::invalid(format!(
                "{what} refused: the manifest says its media type is {embedded:?}, not \
                 {media_type:?}"
            )));
        }
        let repo = Repository::of(reference);
        let conn = self.connection(repo.registry()).await?;
        let target = match reference.tag() {
            Some(tag) => tag.to_owned(),
            None => digest.to_string(),
        };
        let url = conn.url(&format!("{}/manifests/{target}", repo.path()));
        let body = bytes::Bytes::from(bytes);
        let (conn, repo, url, what, body, content_type) =
            (&conn, &repo, &url, &what, &body, &content_type);
        let stored = self
            .retry(what, move || async move {
                let request = self
                    .http
                    .put(url.clone())
                    .header(CONTENT_TYPE, content_type.clone())
                    .body(body.clone());
                let resp = self
                    .send_expecting(
                        conn,
                        repo.path(),
                        Op::Push,
                        what,
                        request,
                        StatusCode::CREATED,
                    )
                    .await?;
                Ok(header(&resp, "docker-content-digest"))
            })
            .await?;
        if let Some(stored) = stored
            && stored != digest.to_string()
        {
            return Err(mismatch(
                &format!("{what}: the registry stored other bytes"),
                &digest.to_string(),
                &stored,
            ));
        }
        tracing::info!(%reference, %digest, "put manifest");
        Ok(digest)
    }

    pub async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let conn = self.connection(repo.registry()).await?;
        let what = format!("blob-exists {repo}@{digest}");
        let (conn, what) = (&conn, &what);
        self.retry(what, move || self.head_blob(conn, repo, digest, what))
            .await
    }

    /// A blob, in memory, checked against its digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<Vec<u8>, RegistryError> {
        let conn = self.connection(repo.registry()).await?;
        let what = format!("get-blob {repo}@{digest}");
        let url = conn.url(&format!("{}/blobs/{digest}", repo.path()));
        let max = self.options.max_blob_bytes;
        let (conn, url, what) = (&conn, &url, &what);
        let bytes = self
            .retry(what, move || async move {
                let request = self.http.get(url.clone());
                let resp = self
                    .send_expecting(conn, repo.path(), Op::Pull, what, request, StatusCode::OK)
                    .await?;
                read_body(resp, max, what, conn.registry()).await
            })
            .await?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(mismatch(what, &digest.to_string(), &actual.to_string()));
        }
        Ok(bytes)
    }

    /// Uploads `contents` (one monolithic PUT) unless the repository has them; their digest.
    pub async fn put_blob(
        &self,
        repo: &Repository,
        contents: Vec<u8>,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::of(&contents);
        let conn = self.connection(repo.registry()).await?;
        let what = format!("put-blob {repo}@{digest}");
        let len = contents.len() as u64;
        let body = bytes::Bytes::from(contents);
        let (conn, what, digest, body) = (&conn, &what, &digest, &body);
        self.retry(what, move || async move {
            if self.head_blob(conn, repo, digest, what).await? {
                return Ok(());
            }
            let location = self.start_upload(conn, repo, None, what).await?;
            let Upload::Session(location) = location else {
                unreachable!("no mount was asked for")
            };
            self.finish_upload(conn, repo, location, digest, body.clone().into(), len, what)
                .await
        })
        .await?;
        Ok(digest.clone())
    }

    /// Makes `digest` present in `to`: nothing if it is there; else a cross-repository mount
    /// from `from` when both are in one registry and it agrees; else a streamed copy.
    pub async fn transfer_blob(
        &self,
        from: &Repository,
        to: &Repository,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobTransfer, RegistryError> {
        let src = self.connection(from.registry()).await?;
        let dst = self.connection(to.registry()).await?;
        let what = format!("transfer-blob {digest} from {from} to {to}");
        let same_registry = from.registry() == to.registry();
        let (src, dst, what) = (&src, &dst, &what);
        let transfer = self
            .retry(what, move || async move {
                // Within one registry the mount is asked for straight away: a registry answers it
                // the same way when the destination has the blob already, and a HEAD first would
                // double the requests of a copy. Across registries a HEAD is all it takes to skip
                // an upload.
                if !same_registry && self.head_blob(dst, to, digest, what).await? {
                    return Ok(BlobTransfer::Present);
                }
                let mount = same_registry.then_some((from, digest));
                let location = match self.start_upload(dst, to, mount, what).await? {
                    Upload::Mounted => return Ok(BlobTransfer::Mounted),
                    Upload::Session(location) => location,
                };
                if same_registry && self.head_blob(dst, to, digest, what).await? {
                    self.cancel_upload(dst, to, &location, what).await;
                    return Ok(BlobTransfer::Present);
                }
                self.copy_into(src, from, dst, to, location, digest, size, what)
                    .await?;
                Ok(BlobTransfer::Copied)
            })
            .await?;
        match transfer {
            BlobTransfer::Mounted => self.counters.blobs_mounted.fetch_add(1, Ordering::Relaxed),
            BlobTransfer::Copied => self.counters.blobs_copied.fetch_add(1, Ordering::Relaxed),
            BlobTransfer::Present => 0,
        };
        tracing::debug!(%from, %to, %digest, ?transfer, "transferred blob");
        Ok(transfer)
    }

    /// Every tag of the repository, following `Link: <...>; rel="next"` pages.
    pub async fn list_tags(&self, repo: &Repository) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let conn = self.connection(repo.registry()).await?;
        let what = format!("list-tags {repo}");
        let mut url = conn.url(&format!("{}/tags/list", repo.path()));
        url.query_pairs_mut()
            .append_pair("n", &TAGS_PAGE.to_string());
        let mut tags = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let (conn_, url_, what_) = (&conn, &url, &what);
            let (page, next) = self
                .retry(what_, move || async move {
                    let request = self.http.get(url_.clone());
                    let resp = self
                        .send_expecting(
                            conn_,
                            repo.path(),
                            Op::Pull,
                            what_,
                            request,
                            StatusCode::OK,
                        )
                        .await?;
                    let next = header(&resp, LINK.as_str()).and_then(|l| next_link(&l));
                    let body = read_body(resp, 64 << 20, what_, conn_.registry()).await?;
                    let page: Page = serde_json::from_slice(&body).map_err(|e| {
                        RegistryError::invalid(format!(
                            "{what_}: the answer is not a tag list: {e}"
                        ))
                    })?;
                    Ok((page, next))
                })
                .await?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(link) => url = conn.location(&link)?,
                None => return Ok(tags),
            }
        }
        Err(RegistryError::unavailable(format!(
            "{what}: more than {MAX_TAG_PAGES} pages of tags"
        )))
    }

    /// The referrers of `digest`: from `GET /v2/<repo>/referrers/<digest>`, or, where the
    /// registry has no referrers API (404), from the tag schema's `sha256-<hex>` index.
    /// Filtered by `artifact_type` here whatever the registry did.
    pub async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let conn = self.connection(repo.registry()).await?;
        let what = format!("referrers {repo}@{digest}");
        let mut url = conn.url(&format!("{}/referrers/{digest}", repo.path()));
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let max = self.options.max_manifest_bytes as u64;
        let (conn_, url_, what_) = (&conn, &url, &what);
        let served = if conn.no_referrers_api.load(Ordering::Relaxed) {
            None
        } else {
            self.retry(what_, move || async move {
                let resp = self
                    .send(
                        conn_,
                        repo.path(),
                        Op::Pull,
                        what_,
                        self.http.get(url_.clone()).header(ACCEPT, OCI_INDEX),
                    )
                    .await?;
                match resp.status() {
                    StatusCode::OK => {
                        Ok(Some(read_body(resp, max, what_, conn_.registry()).await?))
                    }
                    StatusCode::NOT_FOUND => {
                        // A route the registry does not know answers in plain text; an OCI error
                        // (NAME_UNKNOWN, ...) is about this repository, not the API.
                        let body = resp.bytes().await.unwrap_or_default();
                        let oci_error = serde_json::from_slice::<serde_json::Value>(&body)
                            .is_ok_and(|v| v.get("errors").is_some());
                        if !oci_error {
                            conn_.no_referrers_api.store(true, Ordering::Relaxed);
                        }
                        Ok(None)
                    }
                    _ => Err(unexpected(what_, resp).await),
                }
            })
            .await?
        };
        let index = match served {
            Some(bytes) => bytes,
            None => {
                let tag = format!("sha256-{}", digest.hex());
                let reference: OciReference = format!("{repo}:{tag}").parse().map_err(|e| {
                    RegistryError::invalid(format!("{what}: fallback tag {tag}: {e}"))
                })?;
                match self.get_manifest(&reference).await {
                    Ok(m) => m.bytes,
                    Err(e) if e.kind == RegistryErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            }
        };
        let mut descriptors = parse_index(&index).map_err(|e| {
            RegistryError::invalid(format!(
                "{what}: the referrers index is not an image index: {e}"
            ))
        })?;
        if let Some(t) = artifact_type {
            descriptors.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(descriptors)
    }

    // --- pieces ---

    async fn retry<T, F>(&self, what: &str, mut op: impl FnMut() -> F) -> Result<T, RegistryError>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        let counters = &self.counters;
        let mut first = true;
        self.options
            .retry
            .run(what, || {
                if !first {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                }
                first = false;
                op()
            })
            .await
    }

    async fn send(
        &self,
        conn: &Connection,
        path: &str,
        op: Op,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, Failure> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        conn.send_once(path, op, what, request).await
    }

    /// [`Self::send`], then anything but the `want`ed status is the registry's error.
    async fn send_expecting(
        &self,
        conn: &Connection,
        path: &str,
        op: Op,
        what: &str,
        request: reqwest::RequestBuilder,
        want: StatusCode,
    ) -> Result<Response, Failure> {
        let resp = self.send(conn, path, op, what, request).await?;
        if resp.status() == want {
            Ok(resp)
        } else {
            Err(unexpected(what, resp).await)
        }
    }

    async fn head_blob(
        &self,
        conn: &Connection,
        repo: &Repository,
        digest: &Digest,
        what: &str,
    ) -> Result<bool, Failure> {
        let url = conn.url(&format!("{}/blobs/{digest}", repo.path()));
        let resp = self
            .send(
                conn,
                repo.path(),
                Op::Pull,
                what,
                self.http.head(url.clone()),
            )
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(unexpected(what, resp).await),
        }
    }

    /// `POST /v2/<repo>/blobs/uploads/`, with `?mount=&from=` when asked: 201 is a done mount,
    /// 202 an upload session (also what a registry answers when it declines the mount).
    async fn start_upload(
        &self,
        conn: &Connection,
        repo: &Repository,
        mount: Option<(&Repository, &Digest)>,
        what: &str,
    ) -> Result<Upload, Failure> {
        let mut url = conn.url(&format!("{}/blobs/uploads/", repo.path()));
        if let Some((from, digest)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", from.path());
        }
        let resp = self
            .send(
                conn,
                repo.path(),
                Op::Push,
                what,
                self.http.post(url.clone()).header(CONTENT_LENGTH, "0"),
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(Upload::Mounted),
            StatusCode::ACCEPTED => {
                let location =
                    header(&resp, reqwest::header::LOCATION.as_str()).ok_or_else(|| {
                        RegistryError::unavailable(format!(
                            "{what}: the registry opened an upload without a Location"
                        ))
                    })?;
                Ok(Upload::Session(conn.location(&location)?))
            }
            _ => Err(unexpected(what, resp).await),
        }
    }

    /// Ends an upload session that is not needed after all; a registry expires it anyway, so a
    /// failure here is only logged.
    async fn cancel_upload(
        &self,
        conn: &Connection,
        repo: &Repository,
        location: &Url,
        what: &str,
    ) {
        let request = self.http.delete(location.clone());
        match self.send(conn, repo.path(), Op::Push, what, request).await {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => tracing::debug!(what, status = %resp.status(), "cancelling an upload"),
            Err(e) => tracing::debug!(what, error = ?e, "cancelling an upload"),
        }
    }

    /// `PUT <location>&digest=<digest>` with the whole blob.
    #[allow(clippy::too_many_arguments)]
    async fn finish_upload(
        &self,
        conn: &Connection,
        repo: &Repository,
        mut location: Url,
        digest: &Digest,
        body: reqwest::Body,
        len: u64,
        what: &str,
    ) -> Result<(), Failure> {
        location
            .query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let request = self
            .http
            .put(location.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len.to_string())
            .body(body);
        self.send_expecting(
            conn,
            repo.path(),
            Op::Push,
            what,
            request,
            StatusCode::CREATED,
        )
        .await?;
        self.counters
            .blob_bytes_sent
            .fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Streams the blob from `from` into the open upload at `location`. The destination checks
    /// the digest of what it received (`?digest=`) before it commits the blob; more bytes than
    /// `size` are not sent at all.
    #[allow(clippy::too_many_arguments)]
    async fn copy_into(
        &self,
        src: &Connection,
        from: &Repository,
        dst: &Connection,
        to: &Repository,
        location: Url,
        digest: &Digest,
        size: u64,
        what: &str,
    ) -> Result<(), Failure> {
        let url = src.url(&format!("{}/blobs/{digest}", from.path()));
        let request = self.http.get(url.clone());
        let resp = self
            .send_expecting(src, from.path(), Op::Pull, what, request, StatusCode::OK)
            .await?;
        if let Some(announced) = resp.content_length()
            && announced != size
        {
            return Err(Failure::Fatal(RegistryError::invalid(format!(
                "{what}: the source has {announced} bytes, the descriptor says {size}"
            ))));
        }
        let mut seen = 0u64;
        let stream = resp.bytes_stream().map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > size {
                return Err(std::io::Error::other(format!(
                    "the source sent more than the {size} bytes of the descriptor"
                ))
                .into());
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(chunk)
        });
        self.finish_upload(
            dst,
            to,
            location,
            digest,
            reqwest::Body::wrap_stream(stream),
            size,
            what,
        )
        .await
        .map_err(|f| match f {
            // A stream cut short or a connection dropped mid-copy: try the transfer again.
            Failure::Fatal(e) if e.kind == RegistryErrorKind::Unavailable => Failure::Transient {
                error: e,
                retry_after: None,
            },
            other => other,
        })
    }

    async fn connection(&self, registry: &str) -> Result<Arc<Connection>, RegistryError> {
        if let Some(conn) = self.lock().get(registry) {
            return Ok(conn.clone());
        }
        let _connecting = self.connecting.lock().await;
        if let Some(conn) = self.lock().get(registry) {
            return Ok(conn.clone());
        }
        let source = self.options.auth.clone();
        let r = registry.to_owned();
        let creds = tokio::task::spawn_blocking(move || auth::resolve(&source, &r))
            .await
            .map_err(|e| RegistryError::unavailable(format!("reading credentials: {e}")))?;
        let insecure = is_loopback_host(registry)
            || self
                .options
                .insecure_registries
                .iter()
                .any(|r| r.trim() == registry);
        tracing::debug!(
            registry,
            insecure,
            auth = auth::describe(&creds),
            "connecting to registry"
        );
        let conn = Arc::new(Connection::new(
            registry,
            insecure,
            creds,
            self.options.connect_timeout,
            self.options.read_timeout,
        )?);
        Ok(self
            .lock()
            .entry(registry.to_owned())
            .or_insert(conn)
            .clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Connection>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Upload {
    Mounted,
    Session(Url),
}

/// The tag or digest part of a manifest URL; a pinned digest wins over a tag.
fn target(reference: &OciReference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => "latest".to_owned(),
    }
}

/// An answer the call did not expect (5xx and 429 were retried before this): its kind and
/// the registry's reason.
/// A response header as text, if present and printable.
fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn unexpected(what: &str, resp: Response) -> Failure {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    Failure::Fatal(RegistryError::from_status(what, status, &body))
}

/// The body, refusing more than `max` bytes; a connection dropped mid-body is transient.
async fn read_body(
    mut resp: Response,
    max: u64,
    what: &str,
    registry: &str,
) -> Result<Vec<u8>, Failure> {
    if resp.content_length().is_some_and(|l| l > max) {
        return Err(Failure::Fatal(RegistryError::invalid(format!(
            "{what}: {} bytes, more than the limit of {max}",
            resp.content_length().unwrap_or(0)
        ))));
    }
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() as u64 + chunk.len() as u64 > max {
                    return Err(Failure::Fatal(RegistryError::invalid(format!(
                        "{what}: more than the limit of {max} bytes"
                    ))));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(e) => return Err(transport_failure(registry, &e)),
        }
    }
}

fn mismatch(what: &str, expected: &str, actual: &str) -> RegistryError {
    RegistryError::invalid(format!(
        "{what}: content does not match its digest: expected {expected}, got {actual}"
    ))
}

/// `application/vnd.oci.image.manifest.v1+json; charset=utf-8` → the part before `;`.
fn base_media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A media type a manifest can be stored under: `type/subtype`, JSON-based, no parameters.
fn is_manifest_type(media_type: &str) -> bool {
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    media_type
        .split_once('/')
        .is_some_and(|(t, s)| valid(t) && valid(s))
        && media_type != "application/json"
        && media_type != "text/plain"
        && media_type != "application/octet-stream"
}

/// The `mediaType` field a manifest carries, if any.
fn embedded_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes)
        .ok()?
        .media_type
        .filter(|t| !t.is_empty())
}

fn parse_index(bytes: &[u8]) -> Result<Vec<Descriptor>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        media_type: String,
        digest: String,
        size: u64,
        #[serde(default)]
        artifact_type: Option<String>,
        #[serde(default)]
        annotations: Option<BTreeMap<String, String>>,
    }
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Raw>,
    }
    let index: Index = serde_json::from_slice(bytes)?;
    Ok(index
        .manifests
        .into_iter()
        .map(|r| Descriptor {
            media_type: r.media_type,
            digest: r.digest,
            size: r.size,
            artifact_type: r.artifact_type,
            annotations: r.annotations.unwrap_or_default().into_iter().collect(),
        })
        .collect())
}

/// The target of `Link: <url>; rel="next"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_next_links() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(next_link(r#"</v2/a/tags/list?last=x>; rel="prev""#), None);
    }

    #[test]
    fn media_types() {
        assert_eq!(
            base_media_type("application/vnd.oci.image.index.v1+json; charset=utf-8"),
            "application/vnd.oci.image.index.v1+json"
        );
        assert!(is_manifest_type(
            "application/vnd.oci.image.manifest.v1+json"
        ));
        assert!(!is_manifest_type("application/json"));
        assert!(!is_manifest_type("bad\r\nheader/x"));
        assert_eq!(
            embedded_media_type(br#"{"schemaVersion":2,"mediaType":"a/b"}"#).as_deref(),
            Some("a/b")
        );
        assert_eq!(embedded_media_type(br#"{"schemaVersion":2}"#), None);
    }
}
