//! `kubectl release promote` as a user runs it: the real binary, the embedded `push-to-registry`
//! task, real registries: Debian's `docker-registry` (distribution 2.8: no referrers API, so
//! signatures travel as cosign-style `sha256-<hex>.sig` tags) and go-containerregistry's registry
//! with the OCI 1.1 referrers API (`Registry::start_oci11`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use kubectl_release_runtime::Digest;
use kubectl_release_runtime::registry::{AuthSource, RegistryClient, RegistryOptions, Repository};
use kubectl_release_stack::registry::Registry;
use serde_json::Value as Json;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const GIT_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

struct Cli {
    /// An empty docker config unless a test writes one.
    docker: tempfile::TempDir,
    files: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            docker: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.files.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// `program` (the CLI, or a wrapper around it) with this test's environment.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        // Shared by these tests, so the component is compiled once, not once per run.
        command
            .env(
                "KUBECTL_RELEASE_CACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("promote-cache"),
            )
            .env("DOCKER_CONFIG", self.docker.path())
            .env_remove("RUST_LOG");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_kubectl-release"))
            .args(args)
            .output()
            .unwrap()
    }

    fn promote(&self, snapshot: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["promote", "-f", snapshot.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Json {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client(auth: AuthSource) -> Arc<RegistryClient> {
    Arc::new(
        RegistryClient::new(RegistryOptions {
            auth,
            ..RegistryOptions::default()
        })
        .unwrap(),
    )
}

fn repo(registry: &Registry, path: &str) -> Repository {
    format!("{}/{path}", registry.addr()).parse().unwrap()
}

async fn put(
    c: &RegistryClient,
    repo: &Repository,
    tag: Option<&str>,
    media_type: &str,
    bytes: Vec<u8>,
) -> (Digest, usize) {
    let reference = match tag {
        Some(t) => format!("{repo}:{t}"),
        None => format!("{repo}@{}", Digest::of(&bytes)),
    };
    let len = bytes.len();
    (
        c.put_manifest(&reference.parse().unwrap(), media_type, bytes)
            .await
            .unwrap(),
        len,
    )
}

/// A small single-platform image: config (with labels) and `layers` tiny layers.
async fn push_image(
    c: &RegistryClient,
    repo: &Repository,
    seed: &str,
    arch: &str,
    tag: Option<&str>,
) -> (Digest, usize) {
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","created":"2024-05-01T12:34:56Z","config":{{"Labels":{{"version":"1.4.2","seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    );
    let config_digest = c.put_blob(repo, config.clone().into_bytes()).await.unwrap();
    let mut layers = vec![];
    for i in 0..2 {
        let bytes =
            format!("layer {i} of {seed}/{arch} {}", "x".repeat(200 * (i + 1))).into_bytes();
        let len = bytes.len();
        let d = c.put_blob(repo, bytes).await.unwrap();
        layers.push(format!(
            r#"{{"mediaType":"{OCI_LAYER}","digest":"{d}","size":{len}}}"#
        ));
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{}]}}"#,
        config.len(),
        layers.join(",")
    );
    put(c, repo, tag, OCI_MANIFEST, manifest.into_bytes()).await
}

/// A 4-platform index, untagged (the build pushed it by digest).
async fn push_index(c: &RegistryClient, repo: &Repository, seed: &str) -> Digest {
    let mut entries = vec![];
    for arch in ["amd64", "arm64", "s390x", "ppc64le"] {
        let (d, size) = push_image(c, repo, seed, arch, None).await;
        entries.push(format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":{size},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#
        ));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    );
    put(c, repo, None, OCI_INDEX, index.into_bytes()).await.0
}

/// A cosign-style signature of `subject`: tagged `sha256-<hex>.sig`.
async fn push_signature(c: &RegistryClient, repo: &Repository, subject: &Digest) -> Digest {
    let config = b"{}".to_vec();
    let config_digest = c.put_blob(repo, config.clone()).await.unwrap();
    let payload = format!(r#"{{"critical":{{"image":{{"docker-manifest-digest":"{subject}"}}}}}}"#)
        .into_bytes();
    let payload_len = payload.len();
    let payload_digest = c.put_blob(repo, payload).await.unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":2}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{payload_digest}","size":{payload_len},"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQ"}}}}]}}"#
    );
    let tag = format!(
        "sha256-{}.sig",
        subject.to_string().trim_start_matches("sha256:")
    );
    put(c, repo, Some(&tag), OCI_MANIFEST, manifest.into_bytes())
        .await
        .0
}

/// An OCI 1.1 SBOM referrer of `subject` (size `subject_size`), listed in the referrers tag
/// scheme's `sha256-<hex>` index, as a client does against a registry without the referrers API.
async fn push_sbom(
    c: &RegistryClient,
    repo: &Repository,
    subject: &Digest,
    subject_size: usize,
) -> Digest {
    let empty = c.put_blob(repo, b"{}".to_vec()).await.unwrap();
    let sbom = br#"{"spdxVersion":"SPDX-2.3","name":"shop"}"#.to_vec();
    let sbom_len = sbom.len();
    let sbom_digest = c.put_blob(repo, sbom).await.unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/spdx+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/spdx+json","digest":"{sbom_digest}","size":{sbom_len}}}],"subject":{{"mediaType":"{OCI_INDEX}","digest":"{subject}","size":{subject_size}}}}}"#
    );
    let (referrer, size) = put(c, repo, None, OCI_MANIFEST, manifest.into_bytes()).await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{referrer}","size":{size},"artifactType":"application/spdx+json"}}]}}"#
    );
    let tag = format!(
        "sha256-{}",
        subject.to_string().trim_start_matches("sha256:")
    );
    put(c, repo, Some(&tag), OCI_INDEX, index.into_bytes()).await;
    referrer
}

async fn resolve(c: &RegistryClient, reference: &str) -> Option<String> {
    c.resolve(&reference.parse().unwrap())
        .await
        .ok()
        .map(|d| d.digest)
}

async fn tags(c: &RegistryClient, repo: &Repository) -> BTreeSet<String> {
    c.list_tags(repo)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn snapshot(components: &[(&str, String)]) -> String {
    let mut s = String::from(
        "apiVersion: appstudio.redhat.com/v1alpha1\nkind: Snapshot\nmetadata:\n  name: snap-1\nspec:\n  application: shop\n  components:\n",
    );
    for (name, image) in components {
        s.push_str(&format!(
            "    - name: {name}\n      containerImage: {image}\n      source:\n        git:\n          url: https://git.example/{name}\n          revision: {GIT_SHA}\n"
        ));
    }
    s
}

fn count(report: &Json, name: &str) -> u64 {
    report[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no count `{name}` in {report}"))
}

#[test]
fn multi_arch_index_is_promoted_by_digest_with_its_referrers_and_a_rerun_writes_nothing() {
    let registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let build = repo(&registry, "build/shop");
    let release = repo(&registry, "release/shop");
    let (index, sig, sbom) = rt.block_on(async {
        let index = push_index(&c, &build, "shop").await;
        let sig = push_signature(&c, &build, &index).await;
        let size = c
            .get_manifest(&format!("{build}@{index}").parse().unwrap())
            .await
            .unwrap()
            .bytes
            .len();
        let sbom = push_sbom(&c, &build, &index, size).await;
        (index, sig, sbom)
    });
    let blobs_before = registry.stored_blobs();

    let cli = Cli::new();
    let snap = cli.file(
        "snapshot.yaml",
        &snapshot(&[("shop", format!("{build}@{index}"))]),
    );
    let mapping = cli.file(
        "mapping.yaml",
        &format!(
            "components:\n  - name: shop\n    repository: {release}\n    tags: [released, \"v1-{{{{ git_short_sha }}}}\", \"{{{{ labels.version }}}}\"]\n"
        ),
    );
    let map = mapping.to_str().unwrap();

    // Dry run: the plan, nothing written.
    let dry = cli.promote(&snap, &["--mapping", map, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let table = text(&dry.stdout);
    assert!(
        table.contains("COMPONENT") && table.contains("v1-0123456") && table.contains("1.4.2"),
        "{table}"
    );
    assert!(
        table.contains("5 manifests, 15 blobs, 3 referrers"),
        "{table}"
    );
    assert!(
        rt.block_on(tags(&c, &release)).is_empty(),
        "a dry run wrote tags"
    );

    let first = cli.promote(&snap, &["--mapping", map, "-o", "json"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let report = json(&first);
    assert_eq!(count(&report, "tagged"), 3, "{report}");
    assert_eq!(count(&report, "unchanged"), 0);
    assert_eq!(
        count(&report, "manifests-copied"),
        5,
        "4 children and the index: {report}"
    );
    // The signature tag, the SBOM, and the referrers-scheme index tag listing it.
    assert_eq!(count(&report, "referrers-copied"), 3, "{report}");
    assert_eq!(
        count(&report, "bytes-copied"),
        0,
        "same registry: every blob is mounted"
    );
    // 4 configs + 8 layers, the signature's `{}` and payload, the SBOM's layer (`{}` is shared).
    assert_eq!(count(&report, "blobs-mounted"), 12 + 2 + 1, "{report}");
    let image = &report["images"][0];
    assert_eq!(image["name"], "shop");
    assert_eq!(image["shasum"], index.to_string());
    assert_eq!(
        image["arches"],
        serde_json::json!(["amd64", "arm64", "s390x", "ppc64le"])
    );
    assert_eq!(image["oses"], serde_json::json!(["linux"]));
    assert_eq!(
        image["urls"],
        serde_json::json!([
            format!("{release}:released"),
            format!("{release}:v1-0123456"),
            format!("{release}:1.4.2")
        ])
    );

    rt.block_on(async {
        // Digest preserved, for every tag; the signature followed under its digest tag.
        for tag in ["released", "v1-0123456", "1.4.2"] {
            assert_eq!(
                resolve(&c, &format!("{release}:{tag}")).await,
                Some(index.to_string()),
                "{tag}"
            );
        }
        let sig_tag = format!(
            "sha256-{}.sig",
            index.to_string().trim_start_matches("sha256:")
        );
        assert_eq!(
            resolve(&c, &format!("{release}:{sig_tag}")).await,
            Some(sig.to_string())
        );
        let referrers = c.referrers(&release, &index, None).await.unwrap();
        let found: Vec<&str> = referrers.iter().map(|d| d.digest.as_str()).collect();
        assert_eq!(
            found,
            [sbom.to_string()],
            "the SBOM is a referrer of the promoted index"
        );
        let src = c
            .get_manifest(&format!("{build}@{index}").parse().unwrap())
            .await
            .unwrap();
        let dst = c
            .get_manifest(&format!("{release}:released").parse().unwrap())
            .await
            .unwrap();
        assert_eq!(src.bytes, dst.bytes, "the exact bytes");
    });
    assert_eq!(
        registry.stored_blobs(),
        blobs_before,
        "mounts store no new blob data"
    );

    // Again: everything is already there.
    let second = cli.promote(&snap, &["--mapping", map, "-o", "json"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    let report = json(&second);
    assert_eq!(count(&report, "tagged"), 0, "{report}");
    assert_eq!(count(&report, "unchanged"), 3);
    assert_eq!(count(&report, "manifests-copied"), 0);
    assert_eq!(count(&report, "referrers-copied"), 0);
    assert_eq!(count(&report, "blobs-mounted"), 0);
}

#[test]
fn in_place_tagging_of_several_components_at_once() {
    let registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let names = ["api", "worker", "ui"];
    let images: Vec<(String, Digest)> = rt.block_on(async {
        let mut out = vec![];
        for n in names {
            let r = repo(&registry, &format!("build/{n}"));
            let (d, _) = push_image(&c, &r, n, "amd64", Some("build-7")).await;
            out.push((r.to_string(), d));
        }
        out
    });
    let cli = Cli::new();
    let components: Vec<(&str, String)> = names
        .iter()
        .zip(&images)
        .map(|(n, (r, d))| (*n, format!("{r}@{d}")))
        .collect();
    let snap = cli.file("snapshot.yaml", &snapshot(&components));
    let out = cli.promote(
        &snap,
        &[
            "--tag",
            "released",
            "--tag",
            "{{ digest_sha }}",
            "--concurrency",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("tagged 6, unchanged 0"), "{stdout}");
    rt.block_on(async {
        for (r, d) in &images {
            assert_eq!(
                resolve(&c, &format!("{r}:released")).await,
                Some(d.to_string())
            );
            let hex = d.to_string().trim_start_matches("sha256:").to_owned();
            assert_eq!(
                resolve(&c, &format!("{r}:{hex}")).await,
                Some(d.to_string())
            );
        }
    });
    let again = cli.promote(
        &snap,
        &[
            "--tag",
            "released",
            "--tag",
            "{{ digest_sha }}",
            "-o",
            "yaml",
        ],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("unchanged: 6"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn a_terminal_gets_a_progress_bar_and_a_pipe_does_not() {
    let registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let components: Vec<(&str, String)> = rt.block_on(async {
        let mut out = vec![];
        for n in ["api", "worker"] {
            let r = repo(&registry, &format!("build/{n}"));
            let (d, _) = push_image(&c, &r, n, "amd64", None).await;
            out.push((n, format!("{r}@{d}")));
        }
        out
    });
    let cli = Cli::new();
    let snap = cli.file("snapshot.yaml", &snapshot(&components));

    // A pipe (what CI logs see): the task's lines, no bar, no event markers.
    let piped = cli.promote(&snap, &["--tag", "piped"]);
    assert_eq!(piped.status.code(), Some(0), "{}", text(&piped.stderr));
    let stderr = text(&piped.stderr);
    assert!(stderr.contains("promoting api"), "{stderr}");
    assert!(!stderr.contains("components"), "{stderr}");
    assert!(!stderr.contains("promoted api"), "{stderr}");

    // A terminal: `script` gives the command a pseudo-terminal and records what it draws.
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command = [
        env!("CARGO_BIN_EXE_kubectl-release"),
        "promote",
        "-f",
        snap.to_str().unwrap(),
        "--tag",
        "tty",
    ]
    .map(quote)
    .join(" ");
    let out = cli
        .command("script")
        .args(["-qefc", &command, "/dev/null"])
        .output()
        .unwrap();
    let screen = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(screen.contains("promoting ["), "{screen}");
    assert!(screen.contains("/2 components"), "{screen}");
    assert!(screen.contains("tagged 2, unchanged 0"), "{screen}");
    assert!(!screen.contains("promoted api"), "{screen}");
}

#[test]
fn a_snapshot_is_read_by_name_from_the_cluster() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
    use kubectl_release_stack::{Stack, eventually};

    let stack = Stack::shared();
    let registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let r = repo(&registry, "build/api");
    let (digest, _) = rt.block_on(push_image(&c, &r, "api", "amd64", None));
    let ns = rt.block_on(async {
        let admin = stack.admin().await.unwrap();
        // Konflux's own CRD lives in a module the Go proxy here refuses; this minimal one (ours,
        // schema left open) is enough for the apiserver to serve Snapshot objects.
        let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "snapshots.appstudio.redhat.com"},
            "spec": {"group": "appstudio.redhat.com", "scope": "Namespaced",
                "names": {"kind": "Snapshot", "plural": "snapshots", "singular": "snapshot", "listKind": "SnapshotList"},
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        }))
        .unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
        crds.patch(
            "snapshots.appstudio.redhat.com",
            &PatchParams::apply("kubectl-release-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        let ns = stack.namespace("promote-by-name").await.unwrap();
        let resource = ApiResource {
            group: "appstudio.redhat.com".into(),
            version: "v1alpha1".into(),
            api_version: "appstudio.redhat.com/v1alpha1".into(),
            kind: "Snapshot".into(),
            plural: "snapshots".into(),
        };
        let snapshots: Api<DynamicObject> = Api::namespaced_with(admin, &ns, &resource);
        let object: DynamicObject = serde_yaml_ng::from_str(&snapshot(&[("api", format!("{r}@{digest}"))])).unwrap();
        eventually("the Snapshot CRD to be served", std::time::Duration::from_secs(30), || {
            let (snapshots, object) = (snapshots.clone(), object.clone());
            async move {
                let mut object = object;
                object.metadata.name = Some("tested".into());
                match snapshots.create(&PostParams::default(), &object).await {
                    Ok(_) => Ok(Some(())),
                    Err(e) => Err(e.into()),
                }
            }
        })
        .await
        .unwrap();
        ns
    });

    let cli = Cli::new();
    let kubeconfig = stack.admin_kubeconfig();
    let run = |args: &[&str]| {
        cli.command(env!("CARGO_BIN_EXE_kubectl-release"))
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap()
    };
    let out = run(&["promote", "tested", "-n", &ns, "--tag", "from-cluster"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("tagged 1"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        rt.block_on(resolve(&c, &format!("{r}:from-cluster"))),
        Some(digest.to_string())
    );

    let missing = run(&["promote", "untested", "-n", &ns]);
    assert_ne!(missing.status.code(), Some(0));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains(&format!("snapshot {}/untested not found", &*ns)),
        "{stderr}"
    );
    let both = run(&["promote", "tested", "-f", "snapshot.yaml"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
}

#[test]
fn bad_inputs_exit_2_name_the_component_and_write_nothing() {
    let registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let build = repo(&registry, "build/api");
    let release = repo(&registry, "release/api");
    let (digest, _) = rt.block_on(push_image(&c, &build, "api", "amd64", Some("build-1")));
    let good = format!("{build}@{digest}");
    let cli = Cli::new();

    let tagged = cli.file(
        "tagged.yaml",
        &snapshot(&[("api", good.clone()), ("worker", format!("{build}:latest"))]),
    );
    let out = cli.promote(&tagged, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("component `worker`") && err.contains("uses the tag `latest`"),
        "{err}"
    );

    let snap = cli.file("snapshot.yaml", &snapshot(&[("api", good.clone())]));
    let mapping = cli.file("mapping.yaml", &format!("components:\n  - name: api\n    repository: {release}\n  - name: ghost\n    repository: {release}\n"));
    let out = cli.promote(&snap, &["--mapping", mapping.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`ghost` is not in the snapshot"),
        "{}",
        text(&out.stderr)
    );

    let out = cli.promote(&snap, &["--tag", "ok", "--tag", "not/ok"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("tag `not/ok` contains `/`"),
        "{}",
        text(&out.stderr)
    );

    // Only the registry can tell: the image has no such label. Still refused before any write.
    let out = cli.promote(&snap, &["--tag", "released", "--tag", "{{ labels.nope }}"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("component `api`") && err.contains("no label `nope`"),
        "{err}"
    );

    let ts: BTreeSet<String> = rt.block_on(tags(&c, &build));
    assert_eq!(
        ts,
        BTreeSet::from(["build-1".to_owned()]),
        "no tag was written"
    );
    assert!(rt.block_on(tags(&c, &release)).is_empty());
}

fn base64(input: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn credentials_come_from_the_docker_config_and_never_show() {
    const PASSWORD: &str = "pr0mote-Secret-word";
    let registry = Registry::start_with_htpasswd("releaser", PASSWORD).unwrap();
    let auth = base64(&format!("releaser:{PASSWORD}"));
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
        registry.addr()
    );
    let cli = Cli::new();
    std::fs::write(cli.docker.path().join("config.json"), &config).unwrap();

    let rt = tokio();
    let c = client(AuthSource::DockerConfigDir(cli.docker.path().to_path_buf()));
    let build = repo(&registry, "build/api");
    let release = repo(&registry, "release/api");
    let (digest, _) = rt.block_on(push_image(&c, &build, "api", "amd64", None));
    let snap = cli.file(
        "snapshot.yaml",
        &snapshot(&[("api", format!("{build}@{digest}"))]),
    );
    let mapping = cli.file(
        "mapping.yaml",
        &format!("components: [{{name: api, repository: {release}, tags: [released]}}]\n"),
    );

    let out = cli.promote(
        &snap,
        &["--mapping", mapping.to_str().unwrap(), "-o", "json", "-vv"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        rt.block_on(resolve(&c, &format!("{release}:released"))),
        Some(digest.to_string())
    );
    for stream in [text(&out.stdout), text(&out.stderr)] {
        assert!(
            !stream.contains(PASSWORD) && !stream.contains(&auth),
            "credentials leaked:\n{stream}"
        );
    }

    // Without the credentials: a failure naming the component, nothing written.
    std::fs::remove_file(cli.docker.path().join("config.json")).unwrap();
    let out = cli.promote(
        &snap,
        &[
            "--mapping",
            mapping.to_str().unwrap(),
            "--tag",
            "x",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("component `api`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_tag_in_one_share_of_a_concurrent_run_writes_nothing_anywhere() {
    let registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    // The label `seed` becomes the tag; "u i" is not a valid tag, which only the config tells.
    let seeds = [("api", "api"), ("worker", "worker"), ("ui", "u i")];
    let images: Vec<(Repository, Digest)> = rt.block_on(async {
        let mut out = vec![];
        for (n, seed) in seeds {
            let r = repo(&registry, &format!("build/{n}"));
            let (d, _) = push_image(&c, &r, seed, "amd64", None).await;
            out.push((r, d));
        }
        out
    });
    let cli = Cli::new();
    let components: Vec<(&str, String)> = seeds
        .iter()
        .zip(&images)
        .map(|((n, _), (r, d))| (*n, format!("{r}@{d}")))
        .collect();
    let snap = cli.file("snapshot.yaml", &snapshot(&components));
    let out = cli.promote(
        &snap,
        &[
            "--tag",
            "released",
            "--tag",
            "{{ labels.seed }}",
            "--concurrency",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("component `ui`") && err.contains("expands to `u i`"),
        "{err}"
    );
    for (r, _) in &images {
        assert!(rt.block_on(tags(&c, r)).is_empty(), "{r} got a tag");
    }
}

#[test]
fn an_unreachable_registry_fails_naming_the_component() {
    let cli = Cli::new();
    // Port 9 (discard) on loopback: nothing listens, connections are refused.
    let image = format!("127.0.0.1:9/build/api@sha256:{}", "a".repeat(64));
    let snap = cli.file("snapshot.yaml", &snapshot(&[("api", image)]));
    let out = cli.promote(&snap, &["--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("component `api`") && err.contains("RegistryUnavailable"),
        "{err}"
    );
}

#[test]
fn a_registry_that_comes_back_within_the_retries_is_ridden_out() {
    let mut registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let build = repo(&registry, "build/api");
    let (digest, _) = rt.block_on(push_image(&c, &build, "api", "amd64", None));
    let cli = Cli::new();
    let snap = cli.file(
        "snapshot.yaml",
        &snapshot(&[("api", format!("{build}@{digest}"))]),
    );

    // Down when the run starts, back a moment later: the host's retries carry the run through.
    registry.stop();
    let child = cli
        .command(env!("CARGO_BIN_EXE_kubectl-release"))
        .args(["promote", "-f", snap.to_str().unwrap(), "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    registry.start_again().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(count(&json(&out), "tagged"), 1);
    assert_eq!(
        rt.block_on(resolve(&c, &format!("{build}:released"))),
        Some(digest.to_string())
    );
}

#[test]
fn a_copy_to_another_registry_streams_the_blobs_and_keeps_the_digest() {
    let build_registry = Registry::start().unwrap();
    let release_registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let build = repo(&build_registry, "build/api");
    let release = repo(&release_registry, "release/api");
    let index = rt.block_on(push_index(&c, &build, "api"));
    let cli = Cli::new();
    let snap = cli.file(
        "snapshot.yaml",
        &snapshot(&[("api", format!("{build}@{index}"))]),
    );
    let mapping = cli.file(
        "mapping.yaml",
        &format!("components: [{{name: api, repository: {release}, tags: [v2]}}]\n"),
    );
    let out = cli.promote(
        &snap,
        &["--mapping", mapping.to_str().unwrap(), "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    assert_eq!(count(&report, "blobs-mounted"), 0, "{report}");
    assert!(count(&report, "bytes-copied") > 0, "{report}");
    assert_eq!(count(&report, "manifests-copied"), 5, "{report}");
    assert_eq!(
        rt.block_on(resolve(&c, &format!("{release}:v2"))),
        Some(index.to_string())
    );
    // Again: the destination has it all.
    let again = cli.promote(
        &snap,
        &["--mapping", mapping.to_str().unwrap(), "-o", "json"],
    );
    let report = json(&again);
    assert_eq!(
        (count(&report, "unchanged"), count(&report, "bytes-copied")),
        (1, 0),
        "{report}"
    );
}

/// Not a benchmark with other tools side by side, just the figure: retag 100 single-arch images
/// in place (`cargo test -p kubectl-release --test promote -- --ignored --nocapture`).
#[test]
#[ignore]
fn timing_retag_100_images_in_place() {
    let registry = Registry::start().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let components: Vec<(String, String)> = rt.block_on(async {
        let mut out = vec![];
        for i in 0..100 {
            let r = repo(&registry, &format!("build/app{i}"));
            let (d, _) = push_image(&c, &r, &format!("app{i}"), "amd64", None).await;
            out.push((format!("app{i}"), format!("{r}@{d}")));
        }
        out
    });
    let refs: Vec<(&str, String)> = components
        .iter()
        .map(|(n, i)| (n.as_str(), i.clone()))
        .collect();
    let cli = Cli::new();
    let snap = cli.file("snapshot.yaml", &snapshot(&refs));
    cli.promote(&snap, &["--dry-run"]); // warm the compiled-component cache
    for concurrency in ["1", "4"] {
        let tag = format!("released-{concurrency}");
        let started = std::time::Instant::now();
        let out = cli.promote(
            &snap,
            &["--tag", &tag, "--concurrency", concurrency, "-o", "json"],
        );
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report = json(&out);
        assert_eq!(count(&report, "tagged"), 100);
        eprintln!(
            "retag 100 images in place, concurrency {concurrency}: {took:?}, bytes copied {}",
            count(&report, "bytes-copied")
        );
    }
}

/// `GET http://<addr><path>` with std only: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: {OCI_INDEX}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = vec![];
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let status = text(&response[9..12]).parse().unwrap();
    (status, response[split + 4..].to_vec())
}

/// Issue #4: OCI 1.1 referrers against a registry with the referrers API (`hack/oci11-registry`).
/// The SBOM is pushed by digest only, with no tag of any scheme, so only
/// `GET /v2/<repo>/referrers/<digest>` can find it; a copy to another repository brings it along
/// and the destination's referrers API lists it, and a second run writes nothing.
#[test]
fn oci11_referrer_found_only_by_the_referrers_api_follows_a_copied_index() {
    const SPDX: &str = "application/spdx+json";
    let registry = Registry::start_oci11().unwrap();
    let rt = tokio();
    let c = client(AuthSource::Anonymous);
    let build = repo(&registry, "build/shop");
    let release = repo(&registry, "release/shop");
    let (index, sbom, sbom_bytes) = rt.block_on(async {
        let index = push_index(&c, &build, "shop").await;
        let size = c
            .get_manifest(&format!("{build}@{index}").parse().unwrap())
            .await
            .unwrap()
            .bytes
            .len();
        let empty = c.put_blob(&build, b"{}".to_vec()).await.unwrap();
        let doc = br#"{"spdxVersion":"SPDX-2.3","name":"shop","oci":"1.1"}"#.to_vec();
        let doc_len = doc.len();
        let doc_digest = c.put_blob(&build, doc).await.unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{SPDX}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"{SPDX}","digest":"{doc_digest}","size":{doc_len}}}],"subject":{{"mediaType":"{OCI_INDEX}","digest":"{index}","size":{size}}},"annotations":{{"org.opencontainers.image.created":"2024-05-01T12:34:56Z"}}}}"#
        );
        let bytes = manifest.into_bytes();
        let (sbom, _) = put(&c, &build, None, OCI_MANIFEST, bytes.clone()).await;
        (index, sbom, bytes)
    });
    rt.block_on(async {
        assert!(
            tags(&c, &build).await.is_empty(),
            "no tag at all: not the cosign scheme, not the referrers tag fallback"
        );
        let listed = c.referrers(&build, &index, Some(SPDX)).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|d| (d.digest.as_str(), d.artifact_type.as_deref()))
                .collect::<Vec<_>>(),
            [(sbom.to_string().as_str(), Some(SPDX))],
            "the source registry lists the SBOM through its referrers API"
        );
    });
    let blobs_before = registry.stored_blobs();

    let cli = Cli::new();
    let snap = cli.file(
        "snapshot.yaml",
        &snapshot(&[("shop", format!("{build}@{index}"))]),
    );
    let mapping = cli.file(
        "mapping.yaml",
        &format!("components: [{{name: shop, repository: {release}, tags: [released]}}]\n"),
    );
    let map = mapping.to_str().unwrap();
    let first = cli.promote(&snap, &["--mapping", map, "-o", "json"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let report = json(&first);
    assert_eq!(count(&report, "tagged"), 1, "{report}");
    assert_eq!(count(&report, "unchanged"), 0, "{report}");
    assert_eq!(
        count(&report, "manifests-copied"),
        5,
        "4 children and the index: {report}"
    );
    assert_eq!(count(&report, "referrers-copied"), 1, "the SBOM: {report}");
    assert_eq!(
        count(&report, "bytes-copied"),
        0,
        "one registry, one blob store: {report}"
    );
    assert_eq!(report["images"][0]["shasum"], index.to_string());
    let log = registry.log();
    assert!(
        log.contains(&format!("GET /v2/build/shop/referrers/{index}")),
        "the task asked the referrers API:\n{log}"
    );
    assert!(
        !log.contains(&format!("/manifests/sha256-{}", index.hex())),
        "and never needed the tag fallback:\n{log}"
    );

    rt.block_on(async {
        assert_eq!(
            resolve(&c, &format!("{release}:released")).await,
            Some(index.to_string()),
            "digest preserved"
        );
        let copied = c
            .get_manifest(&format!("{release}@{sbom}").parse().unwrap())
            .await
            .unwrap();
        assert_eq!(
            copied.bytes, sbom_bytes,
            "the SBOM's exact bytes, by digest"
        );
        assert_eq!(
            tags(&c, &release).await,
            BTreeSet::from(["released".to_owned()]),
            "no referrer tag was invented at the destination"
        );
    });
    // The destination's own referrers API, as any OCI 1.1 client asks it.
    let (status, body) = http_get(
        &registry.addr(),
        &format!("/v2/release/shop/referrers/{index}"),
    );
    assert_eq!(status, 200, "{}", text(&body));
    let listed: Json = serde_json::from_slice(&body).unwrap();
    let manifests = listed["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{listed}");
    assert_eq!(manifests[0]["digest"], sbom.to_string());
    assert_eq!(manifests[0]["artifactType"], SPDX);
    assert_eq!(manifests[0]["size"], sbom_bytes.len());
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.created"],
        "2024-05-01T12:34:56Z"
    );
    assert_eq!(
        registry.stored_blobs(),
        blobs_before,
        "no blob was uploaded again"
    );

    let second = cli.promote(&snap, &["--mapping", map, "-o", "json"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    let report = json(&second);
    assert_eq!(count(&report, "tagged"), 0, "{report}");
    assert_eq!(count(&report, "unchanged"), 1, "{report}");
    assert_eq!(count(&report, "manifests-copied"), 0, "{report}");
    assert_eq!(count(&report, "referrers-copied"), 0, "{report}");
    assert_eq!(count(&report, "blobs-mounted"), 0, "{report}");
    assert_eq!(count(&report, "bytes-copied"), 0, "{report}");
}
