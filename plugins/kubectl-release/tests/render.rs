//! `kubectl release render` and `bundle` as a user runs them: the real binary, the embedded
//! `render-manifests` task and, for bundles, a real registry (Debian's `docker-registry`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use kubectl_release_stack::registry::Registry;
use serde_json::Value as Json;

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

const DEVFILE: &str = r#"schemaVersion: 2.2.0
metadata:
  name: shop
variables:
  APP: shop
  IMAGE: quay.io/team/shop
components:
  - name: shop-image
    image:
      imageName: "{{ IMAGE }}:dev"
      dockerfile:
        uri: Dockerfile
  - name: k8s
    kubernetes:
      uri: kubernetes/deploy.yaml
commands:
  - id: deploy
    apply:
      component: k8s
      group:
        kind: deploy
"#;

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: "{{APP}}"
  namespace: "{{ namespace }}"
spec:
  replicas: {{ replicas }}
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: app
          image: "{{ IMAGE }}:dev"
---
apiVersion: v1
kind: Service
metadata:
  name: "{{APP}}"
  namespace: "{{ namespace }}"
spec:
  selector: {app: shop}
  ports: [{port: 80}]
"#;

/// A project directory: devfile, a uri manifest full of variables, config layers, a snapshot.
struct Project {
    dir: tempfile::TempDir,
    docker: tempfile::TempDir,
}

/// One component cache for every test here: the task is precompiled once (writes are atomic).
fn cache() -> &'static Path {
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

impl Project {
    fn new() -> Self {
        let p = Self {
            dir: tempfile::tempdir().unwrap(),
            docker: tempfile::tempdir().unwrap(),
        };
        p.write("app/devfile.yaml", DEVFILE);
        p.write("app/kubernetes/deploy.yaml", MANIFEST);
        p.write("app/config/base.yaml", "namespace: shop-dev\nreplicas: 1\n");
        p.write("app/config/prod.yaml", "namespace: shop-prod\n");
        p.write(
            "snapshot.yaml",
            &format!(
                "spec:\n  components:\n  - name: shop-image\n    containerImage: quay.io/ci/shop@{DIGEST}\n"
            ),
        );
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-release"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("KUBECTL_RELEASE_CACHE", cache())
            .env("DOCKER_CONFIG", self.docker.path())
            .env_remove("RUST_LOG")
            .env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn bundle(&self, registry: &Registry, env: &[(&str, &str)]) -> Output {
        let target = format!("oci://{}/team/shop:v1", registry.addr());
        self.run(
            &[
                "bundle",
                "-f",
                "app/devfile.yaml",
                "--env",
                "prod",
                "--snapshot",
                "snapshot.yaml",
                "--push",
                &target,
                "--source",
                "https://git.example/team/shop",
                "--revision",
                "main@sha1:0123456789abcdef0123456789abcdef01234567",
                "--reproducible",
                "-o",
                "json",
            ],
            env,
        )
    }

    /// Sets every file's mtime.
    fn touch_all(&self, time: SystemTime) {
        fn walk(dir: &Path, time: SystemTime) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, time);
                } else {
                    std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .unwrap()
                        .set_modified(time)
                        .unwrap();
                }
            }
        }
        walk(self.dir.path(), time);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn blob(registry: &Registry, digest: &str) -> Vec<u8> {
    std::fs::read(registry.blob_data_path(digest.strip_prefix("sha256:").unwrap())).unwrap()
}

fn nothing_pushed(registry: &Registry) -> bool {
    !registry
        .storage_root()
        .join("docker/registry/v2/repositories")
        .exists()
}

#[test]
fn render_prints_pinned_manifests_and_writes_one_file_per_resource() {
    let p = Project::new();
    let out = p.run(
        &[
            "render",
            "-f",
            "app/devfile.yaml",
            "--env",
            "prod",
            "--snapshot",
            "snapshot.yaml",
            "--set",
            "replicas=3",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("image: quay.io/ci/shop@{DIGEST}")),
        "{stdout}"
    );
    assert!(stdout.contains("namespace: shop-prod"), "{stdout}");
    assert!(stdout.contains("replicas: 3"), "{stdout}");
    assert_eq!(stdout.matches("\n---\n").count(), 1, "{stdout}");

    let out = p.run(&["render", "-f", "app/devfile.yaml", "-o", "out"], &[]);
    assert!(out.status.success(), "{}", show(&out));
    let mut names: Vec<String> = std::fs::read_dir(p.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "apps_v1_deployment_shop-dev_shop.yaml",
            "v1_service_shop-dev_shop.yaml"
        ]
    );
    // With --flux-source, the objects a cluster needs to pull the bundle come along.
    let out = p.run(
        &[
            "render",
            "-f",
            "app/devfile.yaml",
            "-o",
            "flux",
            "--flux-source",
            "oci://reg.example/team/shop-config:v1",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        p.path("flux/source.toolkit.fluxcd.io_v1_ocirepository_flux-system_shop-config.yaml")
            .is_file()
    );
    assert!(
        p.path("flux/kustomize.toolkit.fluxcd.io_v1_kustomization_flux-system_shop-config.yaml")
            .is_file()
    );
    // Unpinned (no snapshot): the devfile's image, variables substituted.
    let deployment =
        std::fs::read_to_string(p.path("out/apps_v1_deployment_shop-dev_shop.yaml")).unwrap();
    assert!(
        deployment.contains("image: quay.io/team/shop:dev"),
        "{deployment}"
    );
}

#[test]
fn bundle_digest_is_the_same_in_any_time_zone_and_with_any_file_times() {
    let registry = Registry::start().unwrap();
    let p = Project::new();
    p.touch_all(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    let first = p.bundle(&registry, &[("TZ", "UTC")]);
    assert!(first.status.success(), "{}", show(&first));
    p.touch_all(SystemTime::now());
    let second = p.bundle(&registry, &[("TZ", "Pacific/Auckland")]);
    assert!(second.status.success(), "{}", show(&second));
    let (a, b): (Json, Json) = (
        serde_json::from_slice(&first.stdout).unwrap(),
        serde_json::from_slice(&second.stdout).unwrap(),
    );
    assert_eq!(a["digest"], b["digest"]);
    let digest = a["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{a}");
    assert_eq!(a["tag"], "v1");

    // What the registry holds: the Flux artifact, tagged.
    let manifest: Json = serde_json::from_slice(&blob(&registry, digest)).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.flux.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.cncf.flux.content.v1.tar+gzip"
    );
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://git.example/team/shop"
    );
    let link = registry
        .storage_root()
        .join("docker/registry/v2/repositories/team/shop/_manifests/tags/v1/current/link");
    assert_eq!(std::fs::read_to_string(link).unwrap(), digest);
    let layer = blob(&registry, manifest["layers"][0]["digest"].as_str().unwrap());
    assert_eq!(&layer[..4], &[0x1f, 0x8b, 8, 0], "gzip, no name");
    assert_eq!(&layer[4..8], &[0, 0, 0, 0], "gzip mtime zero");

    // SOURCE_DATE_EPOCH sets `created`, still in UTC whatever TZ says.
    let third = p.bundle(
        &registry,
        &[
            ("TZ", "America/New_York"),
            ("SOURCE_DATE_EPOCH", "1700000000"),
        ],
    );
    assert!(third.status.success(), "{}", show(&third));
    let c: Json = serde_json::from_slice(&third.stdout).unwrap();
    let manifest: Json =
        serde_json::from_slice(&blob(&registry, c["digest"].as_str().unwrap())).unwrap();
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
}

#[test]
fn bad_input_exits_2_with_a_clear_message_and_pushes_nothing() {
    let registry = Registry::start().unwrap();
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "malformed YAML",
            "app/devfile.yaml",
            "schemaVersion: 2.2.0\ncomponents:\n  - name: [k8s\n",
            "app/devfile.yaml:4:1: malformed YAML",
        ),
        (
            "unknown variable",
            "app/kubernetes/deploy.yaml",
            &MANIFEST.replace("{{APP}}", "{{ NAME }}"),
            "unknown variable `NAME`",
        ),
        ("missing uri file", "app/kubernetes/deploy.yaml", "", "app/kubernetes/deploy.yaml does not exist"),
        (
            "two default deploy commands",
            "app/devfile.yaml",
            &DEVFILE.replace("        kind: deploy\n", "        kind: deploy\n        isDefault: true\n  - id: deploy-again\n    apply:\n      component: k8s\n      group: {kind: deploy, isDefault: true}\n"),
            "2 deploy commands are isDefault (deploy, deploy-again)",
        ),
    ];
    for (what, file, contents, expected) in cases {
        let p = Project::new();
        if contents.is_empty() {
            std::fs::remove_file(p.path(file)).unwrap();
        } else {
            p.write(file, contents);
        }
        let out = p.bundle(&registry, &[]);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", show(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(expected),
            "{what}: expected `{expected}` in:\n{stderr}"
        );
        assert!(nothing_pushed(&registry), "{what}: something was pushed");
        let out = p.run(&["render", "-f", "app/devfile.yaml"], &[]);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", show(&out));
    }
}

/// The real thing: Flux's source-controller pulls the pushed bundle through an OCIRepository
/// and reports our digest; the rendered manifests pass a server-side dry-run apply.
#[tokio::test(flavor = "multi_thread")]
async fn source_controller_pulls_the_bundle_and_the_apiserver_accepts_the_manifests()
-> anyhow::Result<()> {
    use kube::api::{Api, ApiResource, DynamicObject, PostParams};
    use kube::core::GroupVersionKind;
    use kubectl_release_stack::{Stack, eventually, unique_name};

    let stack = Stack::shared();
    let ns = stack.namespace("render-flux").await?;
    let p = Project::new();
    let repo = unique_name("shop");
    let target = format!("oci://{}/{repo}:v1", stack.registry());
    let namespace = format!("namespace={}", ns.name());
    let bundle = p.run(
        &[
            "bundle",
            "-f",
            "app/devfile.yaml",
            "--snapshot",
            "snapshot.yaml",
            "--set",
            &namespace,
            "--push",
            &target,
            "--source",
            "https://git.example/team/shop",
            "--revision",
            "main@sha1:0123456789abcdef0123456789abcdef01234567",
            "-o",
            "json",
        ],
        &[],
    );
    assert!(bundle.status.success(), "{}", show(&bundle));
    let report: Json = serde_json::from_slice(&bundle.stdout)?;
    let digest = report["digest"].as_str().unwrap().to_owned();

    let render = p.run(
        &[
            "render",
            "-f",
            "app/devfile.yaml",
            "--snapshot",
            "snapshot.yaml",
            "--set",
            &namespace,
            "-o",
            "out",
        ],
        &[],
    );
    assert!(render.status.success(), "{}", show(&render));
    let apply = Command::new(stack.kubectl())
        .args(["apply", "--server-side", "--dry-run=server", "-f"])
        .arg(p.path("out"))
        .arg("--kubeconfig")
        .arg(stack.admin_kubeconfig())
        .output()?;
    assert!(
        apply.status.success(),
        "server-side dry-run: {}",
        show(&apply)
    );

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "OCIRepository"),
        "ocirepositories",
    );
    let api = Api::<DynamicObject>::namespaced_with(stack.admin().await?, &ns, &resource);
    let obj: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "shop"},
        "spec": {
            "url": format!("oci://{}/{repo}", stack.registry()),
            "ref": {"tag": "v1"},
            "interval": "10m",
            "insecure": true
        }
    }))?;
    api.create(&PostParams::default(), &obj).await?;
    let ready = eventually(
        "OCIRepository to become Ready",
        Duration::from_secs(90),
        || async {
            let o = api.get("shop").await?;
            let ready = o.data["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .cloned();
            match ready {
                Some(c) if c["status"] == "True" => Ok(Some(o)),
                Some(c) => anyhow::bail!("not ready yet: {}", c["message"]),
                None => Ok(None),
            }
        },
    )
    .await?;
    let artifact = &ready.data["status"]["artifact"];
    assert_eq!(artifact["revision"], format!("v1@{digest}"));
    assert_eq!(
        artifact["metadata"]["org.opencontainers.image.revision"],
        "main@sha1:0123456789abcdef0123456789abcdef01234567"
    );
    Ok(())
}
