//! OCI publish/fetch against a real registry (Debian's `docker-registry`, distribution 2.8),
//! started per test on a free 127.0.0.1 port by the stack harness.

use std::path::{Path, PathBuf};

use kubectl_release_runtime::Digest;
use kubectl_release_runtime::oci::{
    AuthSource, OciClient, OciError, OciOptions, OciReference, WASM_LAYER_MEDIA_TYPE,
    WASM_MANIFEST_CONFIG_MEDIA_TYPE,
};
use kubectl_release_stack::registry::Registry;

/// A real component (not random bytes), different per `name` so tests never share blobs.
fn component(name: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (core module $m (func (export "f")))
             (core instance $i (instantiate $m))
             (func (export "{name}") (canon lift (core func $i "f"))))"#
    ))
    .expect("valid component text")
}

fn client(cache: &Path, auth: AuthSource) -> OciClient {
    OciClient::new(OciOptions {
        auth,
        cache_dir: Some(cache.to_path_buf()),
        ..OciOptions::default()
    })
}

fn reference(s: &str) -> OciReference {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn base64(input: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[tokio::test]
async fn push_then_pull_through_the_real_registry_returns_the_same_digest_and_bytes() {
    let registry = Registry::start().expect("registry starts");
    let cache = tempfile::tempdir().unwrap();
    let oci = client(cache.path(), AuthSource::Anonymous);
    let wasm = component("push-pull");
    let tag = reference(&format!("oci://{}/tasks/echo:v1", registry.addr()));

    let pushed = oci.push_component(&wasm, &tag).await.expect("push");
    assert_eq!(
        pushed.pinned,
        format!("{}/tasks/echo@{}", registry.addr(), pushed.manifest_digest)
    );

    let pulled = oci.pull_component(&tag).await.expect("pull");
    assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
    assert_eq!(pulled.pinned, pushed.pinned);
    assert_eq!(pulled.layer_digest, Digest::of(&wasm));
    assert_eq!(pulled.bytes, wasm);
    assert!(!pulled.from_cache, "first pull must come from the registry");

    // A corrupted cache entry is discarded and pulled again, never handed out.
    let cached_blob = oci.cache().blob_path(&pulled.layer_digest);
    std::fs::write(&cached_blob, b"\0asm\x0d\x00\x01\x00 corrupted").unwrap();
    let repulled = oci
        .pull_component(&reference(&pushed.pinned))
        .await
        .expect("re-pull");
    assert!(
        !repulled.from_cache,
        "a corrupt cache entry must not be served"
    );
    assert_eq!(repulled.bytes, wasm);
    assert_eq!(std::fs::read(&cached_blob).unwrap(), wasm, "cache repaired");

    // Reproducible artifact: publishing the same component again gives the same digest.
    let again = oci
        .push_component(
            &wasm,
            &reference(&format!("{}/tasks/echo:v1-again", registry.addr())),
        )
        .await
        .expect("second push");
    assert_eq!(again.manifest_digest, pushed.manifest_digest);
}

#[tokio::test]
async fn tag_is_resolved_first_and_a_digest_pull_is_then_served_from_cache_without_network() {
    let mut registry = Registry::start().expect("registry starts");
    let cache = tempfile::tempdir().unwrap();
    let oci = client(cache.path(), AuthSource::Anonymous);
    let wasm = component("cached");
    let tag = reference(&format!("{}/tasks/cached:v1", registry.addr()));
    let pushed = oci.push_component(&wasm, &tag).await.expect("push");

    let resolved = oci.resolve(&tag).await.expect("resolve");
    assert_eq!(resolved, pushed.manifest_digest);
    let by_tag = oci.pull_component(&tag).await.expect("pull by tag");
    println!("{tag} resolved to {}", by_tag.pinned);
    assert_eq!(by_tag.manifest_digest, resolved);
    assert!(by_tag.pinned.ends_with(&format!("@{resolved}")));
    // The cache is keyed by digest only: no file is named after the tag.
    let cached = files_under(cache.path());
    assert!(!cached.is_empty());
    assert!(
        cached.iter().all(|p| !p.to_string_lossy().contains("v1")),
        "{cached:?}"
    );

    // With the registry gone, any network call would fail: the pinned pull must not make one.
    registry.stop();
    let by_digest = oci
        .pull_component(&reference(&by_tag.pinned))
        .await
        .expect("pull by digest from cache");
    assert!(by_digest.from_cache);
    assert_eq!(by_digest.bytes, wasm);
    assert_eq!(by_digest.manifest_digest, resolved);
    // ...and the registry really is gone: a tag still needs it.
    let err = oci.pull_component(&tag).await.unwrap_err();
    assert!(matches!(err, OciError::Registry { .. }), "{err:?}");

    // A new client (a new process, in effect) over the same cache directory also needs no network.
    let fresh = client(cache.path(), AuthSource::Anonymous);
    let again = fresh
        .pull_component(&reference(&by_tag.pinned))
        .await
        .expect("fresh client");
    assert!(again.from_cache);
    assert_eq!(again.bytes, wasm);
}

#[tokio::test]
async fn a_layer_altered_in_registry_storage_is_refused_with_digest_mismatch_and_nothing_is_cached()
{
    let registry = Registry::start().expect("registry starts");
    let cache = tempfile::tempdir().unwrap();
    let oci = client(cache.path(), AuthSource::Anonymous);
    let wasm = component("tampered");
    let tag = reference(&format!("{}/tasks/tampered:v1", registry.addr()));
    let pushed = oci.push_component(&wasm, &tag).await.expect("push");

    // Fault injection on the real registry: edit the layer's bytes in its filesystem storage.
    // distribution serves blobs from disk without re-hashing them, so the client receives bytes
    // that no longer match the digest it asked for (same length, one byte flipped).
    let layer = Digest::of(&wasm);
    let data = registry.blob_data_path(layer.hex());
    let mut bytes = std::fs::read(&data).expect("layer blob on disk");
    assert_eq!(bytes, wasm);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let err = oci
        .pull_component(&reference(&pushed.pinned))
        .await
        .expect_err("tampered layer must be refused");
    match &err {
        OciError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &layer.to_string());
            assert_eq!(actual, &Digest::of(&bytes).to_string());
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains(&layer.to_string()), "{err}");
    assert_eq!(
        files_under(cache.path()),
        Vec::<PathBuf>::new(),
        "nothing may be cached"
    );
}

#[tokio::test]
async fn a_manifest_altered_in_registry_storage_is_refused_with_digest_mismatch() {
    let registry = Registry::start().expect("registry starts");
    let cache = tempfile::tempdir().unwrap();
    let oci = client(cache.path(), AuthSource::Anonymous);
    let wasm = component("tampered-manifest");
    let tag = reference(&format!("{}/tasks/tampered-manifest:v1", registry.addr()));
    let pushed = oci.push_component(&wasm, &tag).await.expect("push");

    // Fault injection on the real registry's storage, as above, this time on the manifest:
    // still valid JSON, but pointing at a layer size the publisher never wrote.
    let data = registry.blob_data_path(pushed.manifest_digest.hex());
    let manifest = std::fs::read_to_string(&data).expect("manifest blob on disk");
    let size = format!("\"size\":{}", wasm.len());
    assert!(manifest.contains(&size), "{manifest}");
    std::fs::write(
        &data,
        manifest.replace(&size, &format!("\"size\":{}", wasm.len() + 1)),
    )
    .unwrap();

    let err = oci
        .pull_component(&reference(&pushed.pinned))
        .await
        .expect_err("tampered manifest must be refused");
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err:?}");
    assert_eq!(
        files_under(cache.path()),
        Vec::<PathBuf>::new(),
        "nothing may be cached"
    );
}

/// Pushes a manifest with the given config media type and one layer, with oci-client directly
/// (our own push refuses to publish anything but a component).
async fn push_raw(
    registry: &Registry,
    repo: &str,
    config_media_type: &str,
    layer_media_type: &str,
    layer: &[u8],
) -> OciReference {
    use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
    use oci_client::secrets::RegistryAuth;

    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let target: oci_client::Reference = format!("{}/{repo}:v1", registry.addr()).parse().unwrap();
    let layers = vec![ImageLayer::new(
        layer.to_vec(),
        layer_media_type.to_owned(),
        None,
    )];
    let config = Config::new(b"{}".to_vec(), config_media_type.to_owned(), None);
    client
        .push(&target, &layers, config, &RegistryAuth::Anonymous, None)
        .await
        .expect("raw push");
    reference(&format!("{}/{repo}:v1", registry.addr()))
}

#[tokio::test]
async fn a_manifest_that_is_not_a_wasm_artifact_is_refused_with_not_a_component() {
    let registry = Registry::start().expect("registry starts");
    let cache = tempfile::tempdir().unwrap();
    let oci = client(cache.path(), AuthSource::Anonymous);

    // An ordinary container image: OCI image config, a tar layer.
    let image = push_raw(
        &registry,
        "images/app",
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar",
        b"not a tarball, not wasm",
    )
    .await;
    let err = oci.pull_component(&image).await.unwrap_err();
    match &err {
        OciError::NotAComponent { reference, reason } => {
            assert!(reference.starts_with(&format!("{}/images/app@sha256:", registry.addr())));
            assert!(reason.contains(WASM_MANIFEST_CONFIG_MEDIA_TYPE), "{reason}");
        }
        other => panic!("expected NotAComponent, got {other:?}"),
    }

    // The right artifact shape around a core module: the bytes are checked, not just the labels.
    let module = wat::parse_str("(module)").unwrap();
    let artifact = push_raw(
        &registry,
        "tasks/module",
        WASM_MANIFEST_CONFIG_MEDIA_TYPE,
        WASM_LAYER_MEDIA_TYPE,
        &module,
    )
    .await;
    let err = oci.pull_component(&artifact).await.unwrap_err();
    assert!(
        matches!(&err, OciError::NotAComponent { reason, .. } if reason.contains("core wasm module")),
        "{err:?}"
    );
    assert_eq!(
        files_under(cache.path()),
        Vec::<PathBuf>::new(),
        "nothing may be cached"
    );

    // And we never publish one.
    let err = oci
        .push_component(
            &module,
            &reference(&format!("{}/tasks/module:v2", registry.addr())),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NotAComponent { .. }), "{err:?}");
}

#[tokio::test]
async fn htpasswd_registry_push_works_with_a_docker_config_and_is_unauthorized_without() {
    let password = "pw-7f3a9c1e-do-not-leak";
    let registry = Registry::start_with_htpasswd("release-bot", password).expect("registry starts");
    let wasm = component("authed");
    let tag = reference(&format!("{}/tasks/authed:v1", registry.addr()));

    // A DOCKER_CONFIG-style directory, as `docker login` would leave it.
    let docker_config = tempfile::tempdir().unwrap();
    std::fs::write(
        docker_config.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.addr(),
            base64(&format!("release-bot:{password}"))
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let authed = client(
        cache.path(),
        AuthSource::DockerConfigDir(docker_config.path().into()),
    );
    let pushed = authed
        .push_component(&wasm, &tag)
        .await
        .expect("authenticated push");
    let pulled = authed
        .pull_component(&tag)
        .await
        .expect("authenticated pull");
    assert_eq!(pulled.manifest_digest, pushed.manifest_digest);
    assert_eq!(pulled.bytes, wasm);

    let mut shown = vec![format!("{authed:?}"), format!("{pulled:?}")];

    // No credentials at all: the registry is named, the reason is 401.
    let empty_config = tempfile::tempdir().unwrap();
    let anonymous = client(
        cache.path(),
        AuthSource::DockerConfigDir(empty_config.path().into()),
    );
    let other_tag = reference(&format!("{}/tasks/authed:v2", registry.addr()));
    let err = anonymous
        .push_component(&wasm, &other_tag)
        .await
        .unwrap_err();
    match &err {
        OciError::Unauthorized { registry: r, .. } => assert_eq!(r, &registry.addr()),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(err.to_string().contains(&registry.addr()), "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    shown.push(err.to_string());
    shown.push(format!("{err:?}"));
    let err = anonymous.pull_component(&other_tag).await.unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
    shown.push(err.to_string());
    shown.push(format!("{err:?}"));

    // Wrong password, inline docker config: refused, and neither password leaks.
    let wrong = "wrong-5b1d-also-secret";
    let config_json = format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        registry.addr(),
        base64(&format!("release-bot:{wrong}"))
    );
    let source = AuthSource::DockerConfigJson(config_json);
    shown.push(format!("{source:?}"));
    let bad = client(cache.path(), source);
    let err = bad.push_component(&wasm, &other_tag).await.unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
    shown.push(err.to_string());
    shown.push(format!("{err:?}"));
    shown.push(format!("{bad:?}"));

    for text in &shown {
        for secret in [password, wrong] {
            assert!(!text.contains(secret), "secret leaked in: {text}");
            assert!(
                !text.contains(&base64(&format!("release-bot:{secret}"))),
                "leaked: {text}"
            );
        }
    }
}
