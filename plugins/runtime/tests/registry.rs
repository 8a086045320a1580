//! The `registry` host interface against a real registry (Debian's `docker-registry`,
//! distribution 2.8, no referrers API), driven by the fixture guest through the WIT imports:
//! grants, exact bytes and digests, mounts, auth from a docker config, retries.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Harness, run_fixture, string_result};
use kubectl_release_runtime::registry::{
    AuthSource, RegistryClient, RegistryOptions, Repository, RetryPolicy,
};
use kubectl_release_runtime::{Digest, Grants, Limits, LoadedTask, RunContext, RunOutcome};
use kubectl_release_stack::registry::Registry;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const SIG_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const SBOM_TYPE: &str = "application/spdx+json";

fn client(auth: AuthSource) -> Arc<RegistryClient> {
    Arc::new(
        RegistryClient::new(RegistryOptions {
            auth,
            ..RegistryOptions::default()
        })
        .unwrap(),
    )
}

fn ctx(client: &Arc<RegistryClient>, grants: &[&str]) -> RunContext {
    RunContext {
        grants: Arc::new(Grants::parse_all(grants.iter().copied()).unwrap()),
        registry: Some(client.clone()),
        limits: Limits {
            deadline: Duration::from_secs(120),
            ..Limits::default()
        },
        ..RunContext::default()
    }
}

fn repo(registry: &Registry, path: &str) -> Repository {
    format!("{}/{path}", registry.addr()).parse().unwrap()
}

fn kind(outcome: &RunOutcome) -> String {
    string_result(outcome, "error-kind")
}

/// Pushes a small OCI image (config + `layers` layers, contents derived from `seed`) and
/// returns its manifest digest; tagged `tag` if given, else pushed by digest.
async fn push_image(
    c: &RegistryClient,
    repo: &Repository,
    seed: &str,
    layers: usize,
    platform: (&str, &str),
    tag: Option<&str>,
) -> Digest {
    let config = format!(
        r#"{{"architecture":"{}","os":"{}","config":{{"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#,
        platform.1, platform.0
    );
    let config_digest = c.put_blob(repo, config.clone().into_bytes()).await.unwrap();
    let mut layer_json = Vec::new();
    for i in 0..layers {
        let bytes = format!("layer {i} of {seed} {}", "x".repeat(100 * (i + 1))).into_bytes();
        let len = bytes.len();
        let d = c.put_blob(repo, bytes).await.unwrap();
        layer_json.push(format!(
            r#"{{"mediaType":"{OCI_LAYER}","digest":"{d}","size":{len}}}"#
        ));
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{}]}}"#,
        config.len(),
        layer_json.join(",")
    );
    put(c, repo, tag, OCI_MANIFEST, manifest.into_bytes()).await
}

async fn put(
    c: &RegistryClient,
    repo: &Repository,
    tag: Option<&str>,
    media_type: &str,
    bytes: Vec<u8>,
) -> Digest {
    let reference = match tag {
        Some(t) => format!("{repo}:{t}"),
        None => format!("{repo}@{}", Digest::of(&bytes)),
    };
    c.put_manifest(&reference.parse().unwrap(), media_type, bytes)
        .await
        .unwrap()
}

const PLATFORMS: [(&str, &str); 4] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("linux", "s390x"),
    ("linux", "ppc64le"),
];

/// A 4-platform image index (each child: config + 2 layers), tagged `tag`.
async fn push_index(c: &RegistryClient, repo: &Repository, seed: &str, tag: &str) -> Digest {
    let mut entries = Vec::new();
    for (os, arch) in PLATFORMS {
        let d = push_image(c, repo, &format!("{seed}-{arch}"), 2, (os, arch), None).await;
        let m = c
            .get_manifest(&format!("{repo}@{d}").parse().unwrap())
            .await
            .unwrap();
        entries.push(format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":{},"platform":{{"os":"{os}","architecture":"{arch}"}}}}"#,
            m.bytes.len()
        ));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    );
    put(c, repo, Some(tag), OCI_INDEX, index.into_bytes()).await
}

/// Upload sessions the registry ever opened in `path` (distribution keeps the `_uploads`
/// directory once a blob upload started there).
fn uploads_dir(registry: &Registry, path: &str) -> PathBuf {
    registry
        .storage_root()
        .join("docker/registry/v2/repositories")
        .join(path)
        .join("_uploads")
}

#[tokio::test]
async fn retag_preserves_the_digest_and_uploads_nothing() {
    let registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let app = repo(&registry, "team/app");
    let digest = push_image(
        &setup,
        &app,
        "retag",
        3,
        ("linux", "amd64"),
        Some("build-1"),
    )
    .await;

    // A repository that has never seen an upload, to prove none happens there either.
    let other = repo(&registry, "team/release");
    let blobs_before = registry.stored_blobs();

    let h = Harness::new();
    let task = h.fixture();
    let run_client = client(AuthSource::Anonymous);
    let grants = [&format!("registry:push={app}")[..]];
    let ctx = ctx(&run_client, &grants);
    let source = format!("{app}@{digest}");

    let outcome = run_fixture(
        &task,
        &ctx,
        "registry-put",
        &[
            ("source", &source),
            ("destination", &format!("{app}:released")),
        ],
    )
    .await;
    assert_eq!(kind(&outcome), "none", "{outcome:?}");
    assert_eq!(string_result(&outcome, "digest"), digest.to_string());
    assert_eq!(string_result(&outcome, "media-type"), OCI_MANIFEST);
    let resolved = setup
        .resolve(&format!("{app}:released").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resolved.digest, digest.to_string());

    // 100 retags in one run: timed, and still no blob bytes sent.
    let started = Instant::now();
    let outcome = run_fixture(
        &task,
        &ctx,
        "registry-put",
        &[
            ("source", &source),
            ("destination", &format!("{app}:v")),
            ("count", "100"),
        ],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(kind(&outcome), "none", "{outcome:?}");
    eprintln!("MEASURED: 100 retags through the registry interface in {elapsed:?}");

    let stats = run_client.stats();
    assert_eq!(stats.blob_bytes_sent, 0, "{stats:?}");
    assert_eq!(registry.stored_blobs(), blobs_before, "no blob was added");
    assert!(!uploads_dir(&registry, "team/release").exists());
    let tags = setup.list_tags(&app).await.unwrap();
    assert_eq!(tags.len(), 102, "{tags:?}");
    assert!(tags.contains(&"v-99".to_owned()));
    let _ = other;
}

#[tokio::test]
async fn copy_of_a_multi_arch_index_inside_one_registry_mounts_every_blob() {
    let registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let src = repo(&registry, "build/app");
    let dst = repo(&registry, "release/app");
    let index = push_index(&setup, &src, "multi", "candidate").await;
    let blobs_before = registry.stored_blobs();

    let h = Harness::new();
    let task = h.fixture();
    let run_client = client(AuthSource::Anonymous);
    let grants = [
        &format!("registry:pull={src}")[..],
        &format!("registry:push={dst}")[..],
    ];
    let ctx = ctx(&run_client, &grants);
    let params = [
        ("source", format!("{src}@{index}")),
        ("destination", format!("{dst}:v1.0.0")),
    ];
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let outcome = run_fixture(&task, &ctx, "registry-copy", &params).await;
    assert_eq!(kind(&outcome), "none", "{outcome:?}");
    assert_eq!(string_result(&outcome, "digest"), index.to_string());
    // 4 platforms x (config + 2 layers); configs differ per platform.
    assert_eq!(
        string_result(&outcome, "transfers"),
        "present=0,mounted=12,copied=0"
    );
    let stats = run_client.stats();
    assert_eq!(
        (stats.blob_bytes_sent, stats.blobs_mounted),
        (0, 12),
        "{stats:?}"
    );
    assert_eq!(
        registry.stored_blobs(),
        blobs_before,
        "a mount adds no blob"
    );
    assert!(
        !uploads_dir(&registry, "release/app").exists(),
        "no upload session was opened in the destination"
    );
    let copied = setup
        .get_manifest(&format!("{dst}:v1.0.0").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(copied.digest, index);

    // Again: everything is there already. Within one registry the host asks for the mount
    // straight away, and a registry answers it the same way for a blob the destination has, so
    // these count as mounts; no upload was opened and no byte moved.
    let again = run_fixture(&task, &ctx, "registry-copy", &params).await;
    assert_eq!(
        string_result(&again, "transfers"),
        "present=0,mounted=12,copied=0"
    );
    assert!(!uploads_dir(&registry, "release/app").exists());
}

#[tokio::test]
async fn copy_across_registries_streams_the_blobs() {
    let a = Registry::start().unwrap();
    let b = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let src = repo(&a, "build/app");
    let dst = repo(&b, "mirror/app");
    let digest = push_image(&setup, &src, "across", 2, ("linux", "amd64"), None).await;

    let h = Harness::new();
    let run_client = client(AuthSource::Anonymous);
    let grants = [
        &format!("registry:pull={src}")[..],
        &format!("registry:push={dst}")[..],
    ];
    let outcome = run_fixture(
        &h.fixture(),
        &ctx(&run_client, &grants),
        "registry-copy",
        &[
            ("source", &format!("{src}@{digest}")),
            ("destination", &format!("{dst}:v1")),
        ],
    )
    .await;
    assert_eq!(kind(&outcome), "none", "{outcome:?}");
    assert_eq!(
        string_result(&outcome, "transfers"),
        "present=0,mounted=0,copied=3"
    );
    assert!(run_client.stats().blob_bytes_sent > 0);
    let copied = setup
        .resolve(&format!("{dst}:v1").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(copied.digest, digest.to_string());
}

#[tokio::test]
async fn ungranted_calls_are_denied_and_write_nothing() {
    let registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let src = repo(&registry, "build/app");
    let dst = repo(&registry, "release/app");
    let digest = push_image(&setup, &src, "denied", 1, ("linux", "amd64"), None).await;
    let blobs_before = registry.stored_blobs();

    let h = Harness::new();
    let task = h.fixture();
    let run_client = client(AuthSource::Anonymous);
    // Pull on both: reading the destination is fine, writing it is not.
    let grants = [&format!("registry:pull={}/*", registry.addr())[..]];
    let source = format!("{src}@{digest}");

    let put = run_fixture(
        &task,
        &ctx(&run_client, &grants),
        "registry-put",
        &[("source", &source), ("destination", &format!("{dst}:v1"))],
    )
    .await;
    assert_eq!(kind(&put), "denied", "{put:?}");
    let message = string_result(&put, "message");
    assert!(
        message.contains(&format!("needs push on {dst}"))
            && message.contains(&format!("(granted: registry:pull={}/*)", registry.addr())),
        "{message}"
    );

    let copy = run_fixture(
        &task,
        &ctx(&run_client, &grants),
        "registry-copy",
        &[("source", &source), ("destination", &format!("{dst}:v1"))],
    )
    .await;
    assert_eq!(kind(&copy), "denied", "{copy:?}");
    assert!(string_result(&copy, "message").contains("registry.transfer-blob"));

    // Nothing reached the destination: no tag, no upload, no blob.
    let tags = setup.list_tags(&dst).await;
    assert!(tags.is_err() || tags.unwrap().is_empty());
    assert!(!uploads_dir(&registry, "release/app").exists());
    assert_eq!(registry.stored_blobs(), blobs_before);
    assert_eq!(
        run_client.stats().requests,
        2,
        "only the two get-manifest calls went out"
    );

    // Granted, but the host serves no registry access: still denied.
    let mut no_access = ctx(&run_client, &[&format!("registry:push={dst}")[..]]);
    no_access.registry = None;
    let outcome = run_fixture(
        &task,
        &no_access,
        "registry-resolve",
        &[("source", &format!("{dst}:v1"))],
    )
    .await;
    assert_eq!(kind(&outcome), "denied");
    assert!(string_result(&outcome, "message").contains("does not serve registry access"));
}

#[tokio::test]
async fn a_put_whose_bytes_do_not_match_the_digest_is_refused() {
    let registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let app = repo(&registry, "team/app");
    let digest = push_image(&setup, &app, "wrong", 1, ("linux", "amd64"), None).await;
    let other = Digest::of(b"something else");

    let h = Harness::new();
    let run_client = client(AuthSource::Anonymous);
    let outcome = run_fixture(
        &h.fixture(),
        &ctx(&run_client, &[&format!("registry:push={app}")[..]]),
        "registry-put",
        &[
            ("source", &format!("{app}@{digest}")),
            ("destination", &format!("{app}@{other}")),
        ],
    )
    .await;
    assert_eq!(kind(&outcome), "invalid", "{outcome:?}");
    let message = string_result(&outcome, "message");
    assert!(
        message.contains(&format!("hash to {digest}, not {other}")),
        "{message}"
    );
    let err = setup
        .resolve(&format!("{app}@{other}").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind.as_str(), "not-found", "{err}");
    assert_eq!(
        run_client.stats().requests,
        1,
        "only the get-manifest went out"
    );
}

/// Collects every `tracing` event of the test, to prove secrets never reach a log.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn htpasswd_registry_works_with_docker_config_credentials_only() {
    const PASSWORD: &str = "pa55-Secret-word";
    let registry = Registry::start_with_htpasswd("releaser", PASSWORD).unwrap();
    let auth_b64 = base64(&format!("releaser:{PASSWORD}"));
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth_b64}"}}}}}}"#,
        registry.addr()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), &config).unwrap();

    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let authed = client(AuthSource::DockerConfigDir(dir.path().to_path_buf()));
    let app = repo(&registry, "team/app");
    let digest = push_image(&authed, &app, "auth", 1, ("linux", "amd64"), Some("v1")).await;

    let h = Harness::new();
    let task = h.fixture();
    let grants = [&format!("registry:push={app}")[..]];
    let with_creds = run_fixture(
        &task,
        &ctx(&authed, &grants),
        "registry-put",
        &[
            ("source", &format!("{app}:v1")),
            ("destination", &format!("{app}:released")),
        ],
    )
    .await;
    assert_eq!(kind(&with_creds), "none", "{with_creds:?}");
    assert_eq!(string_result(&with_creds, "digest"), digest.to_string());

    let anonymous = client(AuthSource::Anonymous);
    let without = run_fixture(
        &task,
        &ctx(&anonymous, &grants),
        "registry-resolve",
        &[("source", &format!("{app}:v1"))],
    )
    .await;
    assert_eq!(kind(&without), "denied", "{without:?}");
    let message = string_result(&without, "message");
    assert!(message.contains("401"), "{message}");

    let wrong = client(AuthSource::DockerConfigJson(
        config.replace(&auth_b64, &base64("releaser:nope")),
    ));
    let outcome = run_fixture(
        &task,
        &ctx(&wrong, &grants),
        "registry-put",
        &[
            ("source", &format!("{app}:v1")),
            ("destination", &format!("{app}:other")),
        ],
    )
    .await;
    assert_eq!(kind(&outcome), "denied", "{outcome:?}");

    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logged.contains("registry"), "the capture works: {logged}");
    for outcome in [&with_creds, &without, &outcome] {
        let shown = format!("{outcome:?}");
        assert!(
            !shown.contains(PASSWORD) && !shown.contains(&auth_b64),
            "{shown}"
        );
    }
    assert!(!logged.contains(PASSWORD), "password in the logs");
    assert!(
        !logged.contains(&auth_b64),
        "encoded credentials in the logs"
    );
    let shown = format!("{authed:?}");
    assert!(
        !shown.contains(PASSWORD) && !shown.contains(&auth_b64),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_restarted_mid_run_is_retried() {
    let mut registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let app = repo(&registry, "team/app");
    let digest = push_image(&setup, &app, "restart", 1, ("linux", "amd64"), None).await;
    let tags_dir = registry
        .storage_root()
        .join("docker/registry/v2/repositories/team/app/_manifests/tags");

    // Restart as soon as the run has written its first tag.
    let restarter = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !tags_dir.join("r-0").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        registry.stop();
        std::thread::sleep(Duration::from_millis(500));
        registry.start_again().unwrap();
        registry
    });

    let h = Harness::new();
    let run_client = client(AuthSource::Anonymous);
    let outcome = run_fixture(
        &h.fixture(),
        &ctx(&run_client, &[&format!("registry:push={app}")[..]]),
        "registry-put",
        &[
            ("source", &format!("{app}@{digest}")),
            ("destination", &format!("{app}:r")),
            ("count", "200"),
        ],
    )
    .await;
    let registry = restarter.join().unwrap();
    assert_eq!(kind(&outcome), "none", "{outcome:?}\n{}", registry.log());
    let stats = run_client.stats();
    assert!(stats.retries > 0, "the restart was not noticed: {stats:?}");
    eprintln!("MEASURED: restart mid-run: {stats:?}");
    let tags = setup.list_tags(&app).await.unwrap();
    assert_eq!(tags.len(), 200);
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable_after_the_retries() {
    let registry = Registry::start().unwrap();
    let app = repo(&registry, "team/app");
    let addr = registry.addr();
    drop(registry);
    let c = Arc::new(
        RegistryClient::new(RegistryOptions {
            auth: AuthSource::Anonymous,
            retry: RetryPolicy {
                attempts: 3,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(20),
            },
            ..RegistryOptions::default()
        })
        .unwrap(),
    );
    let h = Harness::new();
    let outcome = run_fixture(
        &h.fixture(),
        &ctx(&c, &[&format!("registry:pull={app}")[..]]),
        "registry-resolve",
        &[("source", &format!("{app}:v1"))],
    )
    .await;
    assert_eq!(kind(&outcome), "unavailable", "{outcome:?}");
    let message = string_result(&outcome, "message");
    assert!(
        message.contains(&addr) && message.contains("after 3 tries"),
        "{message}"
    );
    assert_eq!(c.stats().retries, 2);
}

/// A subject image with a signature and an SBOM about it (OCI 1.1 artifacts with `subject`,
/// pushed by digest only), and an image with no referrers.
struct Referred {
    app: Repository,
    subject: Digest,
    bare: Digest,
    signature: Digest,
    sbom: Digest,
}

async fn referred(registry: &Registry, setup: &RegistryClient) -> Referred {
    let app = repo(registry, "team/app");
    let subject = push_image(setup, &app, "subject", 1, ("linux", "amd64"), None).await;
    let bare = push_image(setup, &app, "bare", 1, ("linux", "amd64"), None).await;
    let subject_size = setup
        .get_manifest(&format!("{app}@{subject}").parse().unwrap())
        .await
        .unwrap()
        .bytes
        .len();
    let empty = setup.put_blob(&app, b"{}".to_vec()).await.unwrap();
    let artifact = async |artifact_type: &str, payload: &str| {
        let layer = setup
            .put_blob(&app, payload.as_bytes().to_vec())
            .await
            .unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"{artifact_type}","digest":"{layer}","size":{}}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{subject_size}}}}}"#,
            payload.len()
        );
        put(setup, &app, None, OCI_MANIFEST, manifest.into_bytes()).await
    };
    let signature = artifact(SIG_TYPE, "signature").await;
    let sbom = artifact(SBOM_TYPE, "sbom").await;
    Referred {
        app,
        subject,
        bare,
        signature,
        sbom,
    }
}

/// The fixture's `registry-referrers` of `source@digest` (only `artifact_type` if given), with
/// pull granted on the repository.
async fn referrers_of(
    task: &LoadedTask,
    app: &Repository,
    digest: &Digest,
    artifact_type: Option<&str>,
) -> RunOutcome {
    let run_client = client(AuthSource::Anonymous);
    let ctx = ctx(&run_client, &[&format!("registry:pull={app}")[..]]);
    let source = format!("{app}@{digest}");
    let mut params = vec![("source", source.as_str())];
    if let Some(t) = artifact_type {
        params.push(("artifact-type", t));
    }
    run_fixture(task, &ctx, "registry-referrers", &params).await
}

#[tokio::test]
async fn referrers_come_from_the_tag_schema_fallback() {
    let registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let r = referred(&registry, &setup).await;
    let (app, subject) = (&r.app, &r.subject);

    // The fallback index a 1.1 client writes next to the artifacts.
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        [(SIG_TYPE, &r.signature), (SBOM_TYPE, &r.sbom)]
            .iter()
            .map(|(t, d)| format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"artifactType":"{t}"}}"#
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    put(
        &setup,
        app,
        Some(&format!("sha256-{}", subject.hex())),
        OCI_INDEX,
        index.into_bytes(),
    )
    .await;

    let h = Harness::new();
    let task = h.fixture();
    let all = referrers_of(&task, app, subject, None).await;
    assert_eq!(kind(&all), "none", "{all:?}");
    assert_eq!(
        string_result(&all, "referrers"),
        format!("{SIG_TYPE}={},{SBOM_TYPE}={}", r.signature, r.sbom)
    );
    let sboms = referrers_of(&task, app, subject, Some(SBOM_TYPE)).await;
    assert_eq!(
        string_result(&sboms, "referrers"),
        format!("{SBOM_TYPE}={}", r.sbom)
    );
    let none = referrers_of(&task, app, &r.bare, None).await;
    assert_eq!(kind(&none), "none", "{none:?}");
    assert_eq!(string_result(&none, "referrers"), "");
}

#[tokio::test]
async fn blobs_resolve_and_paginated_tags() {
    let registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let app = repo(&registry, "team/app");
    let h = Harness::new();
    let task = h.fixture();
    let run_client = client(AuthSource::Anonymous);
    let ctx = ctx(&run_client, &[&format!("registry:push={app}")[..]]);

    let blob = run_fixture(
        &task,
        &ctx,
        "registry-blob",
        &[
            ("destination", &app.to_string()),
            ("contents", "hello blob"),
        ],
    )
    .await;
    assert_eq!(kind(&blob), "none", "{blob:?}");
    assert_eq!(
        string_result(&blob, "digest"),
        Digest::of(b"hello blob").to_string()
    );
    assert_eq!(string_result(&blob, "exists"), "true");
    assert_eq!(string_result(&blob, "contents"), "hello blob");

    let digest = push_image(&setup, &app, "tags", 1, ("linux", "amd64"), Some("t-0")).await;
    let m = setup
        .get_manifest(&format!("{app}:t-0").parse().unwrap())
        .await
        .unwrap();
    // More tags than one page (1000) of tags/list.
    let started = Instant::now();
    for i in 1..1005 {
        put(
            &setup,
            &app,
            Some(&format!("t-{i}")),
            OCI_MANIFEST,
            m.bytes.clone(),
        )
        .await;
    }
    eprintln!(
        "MEASURED: 1004 manifest puts through RegistryClient in {:?}",
        started.elapsed()
    );
    let resolved = run_fixture(
        &task,
        &ctx,
        "registry-resolve",
        &[("source", &format!("{app}:t-0"))],
    )
    .await;
    assert_eq!(kind(&resolved), "none", "{resolved:?}");
    assert_eq!(string_result(&resolved, "digest"), digest.to_string());
    assert_eq!(string_result(&resolved, "media-type"), OCI_MANIFEST);
    assert_eq!(string_result(&resolved, "size"), m.bytes.len().to_string());
    let tags: BTreeSet<String> = string_result(&resolved, "tags")
        .split(',')
        .map(str::to_owned)
        .collect();
    assert_eq!(tags.len(), 1005);

    let missing = run_fixture(
        &task,
        &ctx,
        "registry-resolve",
        &[("source", &format!("{app}:nope"))],
    )
    .await;
    assert_eq!(kind(&missing), "not-found", "{missing:?}");
    let bad = run_fixture(
        &task,
        &ctx,
        "registry-resolve",
        &[("source", "not a reference")],
    )
    .await;
    assert_eq!(kind(&bad), "invalid", "{bad:?}");
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
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A TCP forwarder in front of the registry that holds each chunk from the client for `delay`
/// and records how many connections were open at once. A test device, not a registry: the real
/// registry behind it answers every request; the delay makes overlap (or its absence) visible.
struct SlowForwarder {
    addr: String,
    max_open: Arc<std::sync::atomic::AtomicUsize>,
}

async fn slow_forwarder(upstream: String, delay: Duration) -> SlowForwarder {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let open = Arc::new(AtomicUsize::new(0));
    let max_open = Arc::new(AtomicUsize::new(0));
    let (open2, max2) = (open.clone(), max_open.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (open, max_open, upstream) = (open2.clone(), max2.clone(), upstream.clone());
            tokio::spawn(async move {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                max_open.fetch_max(now, Ordering::SeqCst);
                if let Ok(server) = tokio::net::TcpStream::connect(&upstream).await {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 64 << 10];
                        while let Ok(n) = cr.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            tokio::time::sleep(delay).await;
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    SlowForwarder { addr, max_open }
}

#[tokio::test]
async fn a_batch_overlaps_its_calls_up_to_the_limit_and_checks_each_one() {
    use std::sync::atomic::Ordering;
    let registry = Registry::start().unwrap();
    let setup = client(AuthSource::Anonymous);
    let app = repo(&registry, "team/app");
    let digest = push_image(&setup, &app, "batch", 1, ("linux", "amd64"), None).await;
    let task = Harness::new().fixture();
    let delay = Duration::from_millis(150);

    let mut answers = vec![];
    for in_flight in [1usize, 4] {
        let slow = slow_forwarder(registry.addr().to_owned(), delay).await;
        let src = format!("{}/team/app", slow.addr);
        // The batch's last call reads a repository outside the grants: it is denied on its own
        // while the others go through.
        let mut ctx = ctx(
            &client(AuthSource::Anonymous),
            &[&format!("registry:push={src}")[..]],
        );
        ctx.limits.registry_requests = in_flight;
        let started = Instant::now();
        let outcome = run_fixture(
            &task,
            &ctx,
            "registry-batch",
            &[
                ("source", &format!("{src}@{digest}")),
                ("destination", &src),
                ("count", "8"),
            ],
        )
        .await;
        let elapsed = started.elapsed();
        let Some(kubectl_release_runtime::Value::Array(outcomes)) = outcome.result("outcomes")
        else {
            panic!("no outcomes: {outcome:?}");
        };
        assert_eq!(outcomes.len(), 10, "{outcomes:?}");
        for o in &outcomes[..9] {
            assert_eq!(o, &format!("ok {digest}"), "{outcomes:?}");
        }
        assert!(
            outcomes[9].starts_with("denied: ")
                && outcomes[9].contains(&format!("pull on {src}-ungranted")),
            "{outcomes:?}"
        );
        answers.push((in_flight, elapsed, slow.max_open.load(Ordering::SeqCst)));
    }
    let (_, one_by_one, open_one) = answers[0];
    let (_, overlapped, open_four) = answers[1];
    assert_eq!(
        open_one, 1,
        "one request in flight needs one connection: {answers:?}"
    );
    assert!((2..=4).contains(&open_four), "{answers:?}");
    // 9 requests after the first get-manifest, each held 150 ms by the forwarder.
    assert!(one_by_one >= delay * 9, "{answers:?}");
    assert!(overlapped * 2 < one_by_one, "{answers:?}");
}

/// The same host call against a registry with the OCI 1.1 referrers API (`hack/oci11-registry`):
/// no fallback tag exists, so only `GET /v2/<repo>/referrers/<digest>` can find the artifacts, and
/// the artifact types come from the registry's listing.
#[tokio::test]
async fn referrers_come_from_the_oci11_referrers_api() {
    let registry = Registry::start_oci11().unwrap();
    let setup = client(AuthSource::Anonymous);
    let r = referred(&registry, &setup).await;
    let (app, subject, bare) = (&r.app, &r.subject, &r.bare);
    assert!(setup.list_tags(app).await.unwrap().is_empty(), "no tags");

    let h = Harness::new();
    let task = h.fixture();
    let listed = |outcome: &RunOutcome| -> BTreeSet<String> {
        string_result(outcome, "referrers")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let all = referrers_of(&task, app, subject, None).await;
    assert_eq!(kind(&all), "none", "{all:?}");
    let expected: BTreeSet<String> = [
        format!("{SIG_TYPE}={}", r.signature),
        format!("{SBOM_TYPE}={}", r.sbom),
    ]
    .into();
    assert_eq!(listed(&all), expected);
    let sboms = referrers_of(&task, app, subject, Some(SBOM_TYPE)).await;
    assert_eq!(kind(&sboms), "none", "{sboms:?}");
    assert_eq!(
        string_result(&sboms, "referrers"),
        format!("{SBOM_TYPE}={}", r.sbom)
    );
    let none = referrers_of(&task, app, bare, None).await;
    assert_eq!(kind(&none), "none", "{none:?}");
    assert_eq!(string_result(&none, "referrers"), "");

    let log = registry.log();
    assert!(
        log.contains(&format!("GET /v2/team/app/referrers/{subject}"))
            && log.contains(&format!("GET /v2/team/app/referrers/{bare}")),
        "the referrers API was asked:\n{log}"
    );
    assert!(
        !log.contains("/manifests/sha256-"),
        "the tag fallback was never needed:\n{log}"
    );
}
