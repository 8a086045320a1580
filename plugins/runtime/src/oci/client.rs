//! Pull and push of components, with every byte checked against its digest.
//!
//! `oci-client` verifies some digests itself, but which ones depends on its version and on the
//! call; we verify everything again here so that the guarantee does not depend on it.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
};
use oci_client::secrets::RegistryAuth;
use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_MEDIA_TYPE};

use super::OciError;
use super::artifact::{
    check_component_header, manifest_bytes, parse_wasm_manifest, wasm_config_json,
};
use super::auth::{self, AuthSource};
use super::cache::{ComponentCache, default_cache_root};
use super::reference::{INSECURE_REGISTRIES_ENV, OciReference};
use crate::Digest;

/// Components are buffered in memory; refuse layers a registry claims are larger than this.
pub const DEFAULT_MAX_COMPONENT_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct OciOptions {
    /// Registries (`host[:port]`) spoken to over plain HTTP although not on loopback. Entries
    /// from `KUBECTL_RELEASE_INSECURE_REGISTRIES` (comma-separated) are added by `OciClient::new`.
    pub insecure_registries: Vec<String>,
    pub auth: AuthSource,
    /// The component cache root; `None` means [`default_cache_root`].
    pub cache_dir: Option<PathBuf>,
    pub max_component_bytes: u64,
}

impl Default for OciOptions {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            auth: AuthSource::DockerConfig,
            cache_dir: None,
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
        }
    }
}

/// A component pulled (or read from the cache) and verified.
#[derive(Clone)]
pub struct PulledComponent {
    /// `registry/repo@sha256:<manifest>`: what to write down to get exactly this again.
    pub pinned: String,
    pub manifest_digest: Digest,
    pub layer_digest: Digest,
    pub bytes: Vec<u8>,
    /// The bytes came from the local cache rather than from the registry.
    pub from_cache: bool,
}

impl fmt::Debug for PulledComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PulledComponent")
            .field("pinned", &self.pinned)
            .field("manifest_digest", &self.manifest_digest)
            .field("layer_digest", &self.layer_digest)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("from_cache", &self.from_cache)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedComponent {
    /// The digest of the manifest as the registry stored it.
    pub manifest_digest: Digest,
    /// `registry/repo@sha256:<manifest>`.
    pub pinned: String,
}

/// One HTTP client and one set of credentials per registry: the protocol (HTTP for loopback
/// and insecure registries) is a per-client setting in `oci-client`, and tokens are cached
/// inside the client.
struct Connection {
    client: oci_client::Client,
    auth: RegistryAuth,
}

pub struct OciClient {
    options: OciOptions,
    cache: ComponentCache,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
}

impl fmt::Debug for OciClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Connections hold credentials; only the registry names are shown.
        let registries: Vec<String> = self
            .connections
            .lock()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("OciClient")
            .field("options", &self.options)
            .field("cache", &self.cache.root())
            .field("connected_registries", &registries)
            .finish()
    }
}

impl OciClient {
    pub fn new(mut options: OciOptions) -> Self {
        if let Ok(list) = std::env::var(INSECURE_REGISTRIES_ENV) {
            options.insecure_registries.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
        let cache =
            ComponentCache::new(options.cache_dir.clone().unwrap_or_else(default_cache_root));
        Self {
            options,
            cache,
            connections: Mutex::new(HashMap::new()),
        }
    }

    pub fn cache(&self) -> &ComponentCache {
        &self.cache
    }

    /// The manifest digest `reference` names: its own digest if pinned (no network), else the
    /// registry's answer for the tag.
    pub async fn resolve(&self, reference: &OciReference) -> Result<Digest, OciError> {
        if let Some(digest) = reference.digest() {
            return Ok(digest.clone());
        }
        let conn = self.connection(reference).await?;
        let answer = conn
            .client
            .fetch_manifest_digest(&reference.to_client_reference(), &conn.auth)
            .await
            .map_err(|e| map_error(reference, e))?;
        let digest = answer.parse::<Digest>().map_err(|_| OciError::Registry {
            reference: reference.to_string(),
            reason: format!("the registry answered digest {answer:?}, expected sha256:<64 hex>"),
        })?;
        tracing::info!(%reference, %digest, "resolved tag to digest");
        Ok(digest)
    }

    /// Fetches the component `reference` names, verified, from the cache when possible.
    ///
    /// A tag is resolved to a digest first; the manifest fetched by that digest must hash to it,
    /// be a CNCF wasm artifact, and name one layer whose bytes hash to the layer digest and are a
    /// component. Only then are they cached (by digest). A reference pinned by a cached digest
    /// makes no network call at all.
    pub async fn pull_component(
        &self,
        reference: &OciReference,
    ) -> Result<PulledComponent, OciError> {
        let manifest_digest = self.resolve(reference).await?;
        let pinned_ref = reference.pinned(&manifest_digest);
        let pinned = pinned_ref.to_string();

        let cache = self.cache.clone();
        let key = manifest_digest.clone();
        if let Some((layer_digest, bytes)) = blocking(move || cache.get(&key)).await? {
            tracing::debug!(%pinned, "component served from cache");
            return Ok(PulledComponent {
                pinned,
                manifest_digest,
                layer_digest,
                bytes,
                from_cache: true,
            });
        }

        let conn = self.connection(reference).await?;
        let client_ref = pinned_ref.to_client_reference();
        let (body, _) = conn
            .client
            .pull_manifest_raw(
                &client_ref,
                &conn.auth,
                &[
                    OCI_IMAGE_MEDIA_TYPE,
                    OCI_IMAGE_INDEX_MEDIA_TYPE,
                    IMAGE_MANIFEST_MEDIA_TYPE,
                    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
                ],
            )
            .await
            .map_err(|e| map_error(&pinned_ref, e))?;
        let actual = Digest::of(&body);
        if actual != manifest_digest {
            return Err(OciError::mismatch(&pinned_ref, &manifest_digest, &actual));
        }
        let layer = parse_wasm_manifest(&pinned, &body)?;
        if layer.size > self.options.max_component_bytes {
            return Err(OciError::NotAComponent {
                reference: pinned,
                reason: format!(
                    "the layer is {} bytes, more than the limit of {}",
                    layer.size, self.options.max_component_bytes
                ),
            });
        }

        // Another manifest (e.g. the same component re-published) may have brought these bytes.
        let cache = self.cache.clone();
        let layer_digest = layer.digest.clone();
        let cached_blob = blocking(move || cache.get_blob(&layer_digest)).await?;
        let (bytes, from_cache) = match cached_blob {
            Some(bytes) => (bytes, true),
            None => (
                self.download_layer(&conn, &pinned_ref, &layer.digest, layer.size)
                    .await?,
                false,
            ),
        };
        check_component_header(&bytes).map_err(|reason| OciError::NotAComponent {
            reference: pinned.clone(),
            reason,
        })?;

        let cache = self.cache.clone();
        let (m, l, b) = (manifest_digest.clone(), layer.digest.clone(), bytes.clone());
        blocking(move || cache.put(&m, &l, &b)).await?;
        tracing::info!(%pinned, layer = %layer.digest, size = bytes.len(), from_cache, "pulled component");
        Ok(PulledComponent {
            pinned,
            manifest_digest,
            layer_digest: layer.digest,
            bytes,
            from_cache,
        })
    }

    /// Downloads a layer, refusing more bytes than the descriptor announced and bytes that do
    /// not hash to `digest`.
    async fn download_layer(
        &self,
        conn: &Connection,
        reference: &OciReference,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, OciError> {
        let descriptor = OciDescriptor {
            media_type: WASM_LAYER_MEDIA_TYPE.to_owned(),
            digest: digest.to_string(),
            size: size as i64,
            ..Default::default()
        };
        let mut stream = conn
            .client
            .pull_blob_stream(&reference.to_client_reference(), &descriptor)
            .await
            .map_err(|e| map_error(reference, e))?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    if bytes.len() as u64 + chunk.len() as u64 > size {
                        return Err(OciError::Registry {
                            reference: reference.to_string(),
                            reason: format!(
                                "the registry sent more than the {size} bytes the manifest \
                                 announces for layer {digest}"
                            ),
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                // oci-client's own check fired at the end of the stream: report it with the
                // digest of what we actually received.
                Err(e) if is_digest_error(&e) => {
                    return Err(OciError::mismatch(reference, digest, &Digest::of(&bytes)));
                }
                Err(e) => {
                    return Err(OciError::Registry {
                        reference: reference.to_string(),
                        reason: format!("downloading layer {digest}: {e}"),
                    });
                }
            }
        }
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(OciError::mismatch(reference, digest, &actual));
        }
        Ok(bytes)
    }

    /// Publishes `wasm` as a CNCF wasm artifact under `reference` (which must name a tag) and
    /// returns the manifest digest the registry stored.
    ///
    /// Blobs go first (skipped if the registry has them), the manifest last, so a tag never
    /// points at missing content. The artifact is reproducible: the same component gives the
    /// same manifest digest (see [`wasm_config_json`]).
    pub async fn push_component(
        &self,
        wasm: &[u8],
        reference: &OciReference,
    ) -> Result<PushedComponent, OciError> {
        if reference.tag().is_none() || reference.digest().is_some() {
            return Err(OciError::InvalidReference {
                reference: reference.to_string(),
                reason: "push to a tag (repo:tag); the digest is computed from the content"
                    .to_owned(),
            });
        }
        let not_component = |reason| OciError::NotAComponent {
            reference: reference.to_string(),
            reason,
        };
        check_component_header(wasm).map_err(not_component)?;
        let config = wasm_config_json(wasm).map_err(not_component)?;
        let manifest = manifest_bytes(wasm, &config);
        let manifest_digest = Digest::of(&manifest);

        let conn = self.connection(reference).await?;
        let client_ref = reference.to_client_reference();
        for (data, digest) in [
            (wasm, Digest::of(wasm)),
            (config.as_slice(), Digest::of(&config)),
        ] {
            let digest = digest.to_string();
            let exists = conn
                .client
                .blob_exists(&client_ref, &digest)
                .await
                .map_err(|e| map_error(reference, e))?;
            if !exists {
                conn.client
                    .push_blob(&client_ref, data.to_vec(), &digest)
                    .await
                    .map_err(|e| map_error(reference, e))?;
            }
        }
        let location = conn
            .client
            .push_manifest_raw(
                &client_ref,
                manifest,
                WASM_MANIFEST_MEDIA_TYPE
                    .parse()
                    .expect("a static media type is a valid header value"),
            )
            .await
            .map_err(|e| map_error(reference, e))?;

        // distribution answers with the manifest's URL by digest; a registry that stored other
        // bytes than we sent would show it here. Without such a URL, ask for the tag's digest.
        let stored = match location
            .rsplit_once("/manifests/")
            .and_then(|(_, d)| d.parse::<Digest>().ok())
        {
            Some(d) => d,
            None => {
                let answer = conn
                    .client
                    .fetch_manifest_digest(&client_ref, &conn.auth)
                    .await
                    .map_err(|e| map_error(reference, e))?;
                answer.parse::<Digest>().map_err(|_| OciError::Registry {
                    reference: reference.to_string(),
                    reason: format!("the registry answered digest {answer:?}"),
                })?
            }
        };
        if stored != manifest_digest {
            return Err(OciError::mismatch(reference, &manifest_digest, &stored));
        }
        let pinned = reference.pinned(&stored).to_string();
        tracing::info!(%reference, digest = %stored, "pushed component");
        Ok(PushedComponent {
            manifest_digest: stored,
            pinned,
        })
    }

    async fn connection(&self, reference: &OciReference) -> Result<Arc<Connection>, OciError> {
        let registry = reference.registry().to_owned();
        if let Some(conn) = self.lock_connections().get(&registry) {
            return Ok(conn.clone());
        }
        let source = self.options.auth.clone();
        let r = registry.clone();
        let auth = blocking(move || Ok(auth::resolve(&source, &r))).await?;
        let protocol = if reference.is_insecure(&self.options.insecure_registries) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        tracing::debug!(%registry, ?protocol, auth = auth::describe(&auth), "connecting to registry");
        let client = oci_client::Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        });
        // Calls such as `blob_exists` and `push_blob` use only credentials stored in the client
        // beforehand; without this they would go out anonymously.
        client
            .store_auth_if_needed(reference.to_client_reference().resolve_registry(), &auth)
            .await;
        let conn = Arc::new(Connection { client, auth });
        Ok(self
            .lock_connections()
            .entry(registry)
            .or_insert(conn)
            .clone())
    }

    fn lock_connections(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Connection>>> {
        // The map is only ever inserted into; a panic elsewhere cannot leave it inconsistent.
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs file-system work (cache, docker config, credential helpers) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OciError> + Send + 'static,
) -> Result<T, OciError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OciError::io("cache task", std::io::Error::other(e.to_string())))?
}

fn is_digest_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<DigestError>().is_some())
}

/// Maps `oci-client` errors to ours. Only the reference, the registry and the registry's
/// own message survive; credentials never appear in `oci-client` errors, and the one variant
/// that carries a token endpoint's answer (`AuthenticationFailure`) is dropped.
fn map_error(reference: &OciReference, e: OciDistributionError) -> OciError {
    let unauthorized = || OciError::Unauthorized {
        registry: reference.registry().to_owned(),
        reference: reference.to_string(),
    };
    let not_found = |what: String| OciError::NotFound {
        reference: reference.to_string(),
        what,
    };
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => unauthorized(),
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => unauthorized(),
        OciDistributionError::ServerError { code: 404, url, .. } => {
            not_found(format!("404 for {url}"))
        }
        OciDistributionError::RequestError(ref re)
            if matches!(re.status().map(|s| s.as_u16()), Some(401 | 403)) =>
        {
            unauthorized()
        }
        OciDistributionError::RegistryError { ref envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                unauthorized()
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                not_found(envelope.to_string())
            } else {
                OciError::Registry {
                    reference: reference.to_string(),
                    reason: envelope.to_string(),
                }
            }
        }
        OciDistributionError::ImageManifestNotFoundError(what) => not_found(what),
        OciDistributionError::DigestError(DigestError::VerificationError { expected, actual }) => {
            OciError::DigestMismatch {
                reference: reference.to_string(),
                expected,
                actual,
            }
        }
        other => OciError::Registry {
            reference: reference.to_string(),
            reason: other.to_string(),
        },
    }
}
