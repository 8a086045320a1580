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

fn stdout_of(out: &Output) -> String {
    assert!(out.status.success(), "{}", show(out));
    text(&out.stdout)
}

/// Every layer, lowest first, as documented on `InputArgs`: the devfile's variables,
/// config/base.yaml, config/prod.yaml, --values in order, --set in order, --var-file, --var in
/// order. Layer i sets `shared` and `ki`..=`k9` to its own name: `ki` is last set by layer i, so
/// it shows that layer i wins over every lower one, and `shared` that the last wins over all.
#[test]
fn config_layers_override_each_other_in_the_documented_order() {
    const LAYERS: [&str; 10] = [
        "devfile", "base", "prod", "values-a", "values-b", "set-1", "set-2", "var-file", "var-1",
        "var-2",
    ];
    let keys = |layer: usize| -> Vec<(String, &str)> {
        let mut keys: Vec<(String, &str)> = (layer..LAYERS.len())
            .map(|k| (format!("k{k}"), LAYERS[layer]))
            .collect();
        keys.push(("shared".into(), LAYERS[layer]));
        keys
    };
    let yaml = |layer: usize| -> String {
        keys(layer)
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()
    };
    let p = Project::new();
    let indented: String = yaml(0).lines().map(|l| format!("  {l}\n")).collect();
    p.write(
        "layers/devfile.yaml",
        &format!(
            "schemaVersion: 2.2.0\nmetadata:\n  name: layers\nvariables:\n{indented}components:\n  - name: k8s\n    kubernetes:\n      uri: configmap.yaml\ncommands:\n  - id: deploy\n    apply:\n      component: k8s\n      group:\n        kind: deploy\n"
        ),
    );
    let data: String = (0..LAYERS.len())
        .map(|k| format!("  k{k}: \"{{{{ k{k} }}}}\"\n"))
        .chain([
            "  shared: \"{{shared}}\"\n".to_owned(),
            "  nested-a: \"{{ nested.a }}\"\n".to_owned(),
            "  nested-b: \"{{ nested.b }}\"\n".to_owned(),
        ])
        .collect();
    p.write(
        "layers/configmap.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: layers\ndata:\n{data}"),
    );
    // Maps merge key by key: base's nested.a survives prod's nested.
    p.write(
        "layers/config/base.yaml",
        &format!("{}nested: {{a: base, b: base}}\n", yaml(1)),
    );
    p.write(
        "layers/config/prod.yaml",
        &format!("{}nested: {{b: prod}}\n", yaml(2)),
    );
    p.write("values-a.yaml", &yaml(3));
    p.write("values-b.yaml", &yaml(4));
    p.write(
        "vars.env",
        &format!(
            "# a comment\n{}",
            keys(7)
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>()
        ),
    );
    let mut args: Vec<String> = [
        "render",
        "-f",
        "layers/devfile.yaml",
        "--env",
        "prod",
        "--values",
        "values-a.yaml",
        "--values",
        "values-b.yaml",
        "--var-file",
        "vars.env",
    ]
    .map(String::from)
    .to_vec();
    for (layer, flag) in [(5, "--set"), (6, "--set"), (8, "--var"), (9, "--var")] {
        for (k, v) in keys(layer) {
            args.extend([flag.to_owned(), format!("{k}={v}")]);
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = stdout_of(&p.run(&args, &[]));
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    let got: Vec<(String, String)> = doc["data"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String)> = (0..LAYERS.len())
        .map(|k| (format!("k{k}"), LAYERS[k].to_owned()))
        .collect();
    expected.extend([
        ("shared".to_owned(), "var-2".to_owned()),
        ("nested-a".to_owned(), "base".to_owned()),
        ("nested-b".to_owned(), "prod".to_owned()),
    ]);
    assert_eq!(got, expected, "{out}");
}

const HELM_RELEASE: &str = "helm.toolkit.fluxcd.io_v2_helmrelease_flux-system_shop.yaml";
const CHART_SOURCE: &str = "source.toolkit.fluxcd.io_v1_ocirepository_flux-system_shop-chart.yaml";

fn helm_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "-f",
        "app/devfile.yaml",
        "--env",
        "prod",
        "--snapshot",
        "snapshot.yaml",
        "--set",
        "replicas=3",
        "--set",
        "image.ref=quay.io/team/shop:dev",
        "--helm-release",
        "shop",
        "--chart",
        "oci://ghcr.io/team/charts/shop:1.2.3",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn render_and_bundle_a_helm_release_with_the_merged_values() {
    let p = Project::new();
    let mut render = vec!["render"];
    render.extend(helm_args(&["--target-namespace", "shop-prod", "-o", "out"]));
    stdout_of(&p.run(&render, &[]));
    let mut names: Vec<String> = std::fs::read_dir(p.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [HELM_RELEASE, CHART_SOURCE]);
    let release = std::fs::read_to_string(p.path("out").join(HELM_RELEASE)).unwrap();
    // base.yaml < prod.yaml < --set, keys sorted, `replicas` a number, the image pinned.
    assert_eq!(
        release,
        format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: shop
  namespace: flux-system
spec:
  interval: 10m
  chartRef:
    kind: OCIRepository
    name: shop-chart
  targetNamespace: shop-prod
  values:
    image:
      ref: quay.io/ci/shop@{DIGEST}
    namespace: shop-prod
    replicas: 3
"
        )
    );
    let source = std::fs::read_to_string(p.path("out").join(CHART_SOURCE)).unwrap();
    assert!(
        source.contains("url: oci://ghcr.io/team/charts/shop\n  ref:\n    tag: 1.2.3\n"),
        "{source}"
    );

    // bundle --output-file: the layer, locally, with the HelmRelease in it; twice the same.
    let bundle = |file: &str| {
        let mut args = vec!["bundle"];
        args.extend(helm_args(&[
            "--output-file",
            file,
            "--source",
            "https://git.example/team/shop",
            "--revision",
            "main@sha1:0123456789abcdef0123456789abcdef01234567",
            "--reproducible",
            "-o",
            "json",
        ]));
        let report: Json = serde_json::from_str(&stdout_of(&p.run(&args, &[]))).unwrap();
        (report, std::fs::read(p.path(file)).unwrap())
    };
    let (first, layer) = bundle("a/shop.tgz");
    p.touch_all(SystemTime::now());
    let (second, again) = bundle("b/shop.tgz");
    assert_eq!(first["digest"], second["digest"], "{first} {second}");
    assert_eq!(layer, again);
    assert_eq!(
        first["resources"],
        serde_json::json!([
            "HelmRelease/flux-system/shop",
            "OCIRepository/flux-system/shop-chart"
        ])
    );
    assert!(first.get("url").is_none(), "nothing pushed: {first}");
    // What Flux would extract (GNU tar reads it as any tar.gz).
    std::fs::create_dir_all(p.path("x")).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(p.path("a/shop.tgz"))
        .arg("-C")
        .arg(p.path("x"))
        .output()
        .unwrap();
    assert!(untar.status.success(), "{}", show(&untar));
    let mut extracted: Vec<String> = std::fs::read_dir(p.path("x"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    extracted.sort();
    assert_eq!(extracted, [HELM_RELEASE, CHART_SOURCE]);
    // No --target-namespace here; otherwise the same HelmRelease.
    assert_eq!(
        std::fs::read_to_string(p.path("x").join(HELM_RELEASE)).unwrap(),
        release.replace("  targetNamespace: shop-prod\n", "")
    );

    // Neither --push nor --output-file: a usage error.
    let out = p.run(
        &[
            "bundle",
            "-f",
            "app/devfile.yaml",
            "--source",
            "s",
            "--revision",
            "r",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    // An unpinned chart is refused before anything is written.
    let mut args = vec!["render"];
    args.extend(helm_args(&[]));
    let last = args.len() - 1;
    args[last] = "oci://ghcr.io/team/charts/shop";
    let out = p.run(&args, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("has no version"),
        "{}",
        show(&out)
    );
}

/// helm-controller's version in Flux v2.9.5 (its go.mod requires helm-controller/api v1.6.4).
const HELM_CONTROLLER: &str = "github.com/fluxcd/helm-controller@v1.6.4";

/// The HelmRelease CRD from helm-controller's Go module, downloaded into (or found in) the
/// module cache the stack uses; never copied into this repository.
fn helm_release_crd() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("KUBECTL_RELEASE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/kubectl-release")
        });
    let path = format!(
        "/usr/local/go/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let download = |sumdb_off: bool| {
        let mut cmd = Command::new("go");
        cmd.args(["mod", "download", "-json", HELM_CONTROLLER])
            .current_dir(std::env::temp_dir())
            .env("PATH", &path)
            .env("GOMODCACHE", cache.join("go/mod"))
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod")
            .env(
                "GOPROXY",
                std::env::var("STACK_GOPROXY").unwrap_or("https://proxy.golang.org".into()),
            );
        if sumdb_off {
            // As hack/stack: where sum.golang.org is unreachable, the proxy's TLS is the check.
            cmd.env("GOSUMDB", "off");
        }
        cmd.output()
    };
    let mut out = download(false)?;
    if !out.status.success() {
        out = download(true)?;
    }
    anyhow::ensure!(
        out.status.success(),
        "go mod download {HELM_CONTROLLER}: {}",
        show(&out)
    );
    let info: Json = serde_json::from_slice(&out.stdout)?;
    let dir = info["Dir"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no Dir in {info}"))?;
    Ok(Path::new(dir).join("config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml"))
}

/// The rendered HelmRelease and its chart's OCIRepository pass a server-side dry-run apply
/// against helm-controller's real CRD schema (CEL rules included).
#[tokio::test(flavor = "multi_thread")]
async fn the_apiserver_accepts_the_helm_release_against_the_flux_crd() -> anyhow::Result<()> {
    use kubectl_release_stack::Stack;

    let stack = Stack::shared();
    let kubectl = |args: &[&str]| {
        Command::new(stack.kubectl())
            .args(args)
            .arg("--kubeconfig")
            .arg(stack.admin_kubeconfig())
            .output()
    };
    let crd = helm_release_crd()?;
    let crd = crd.to_str().unwrap();
    let installed = kubectl(&["apply", "--server-side", "--force-conflicts", "-f", crd])?;
    assert!(installed.status.success(), "{}", show(&installed));
    let established = kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/helmreleases.helm.toolkit.fluxcd.io",
    ])?;
    assert!(established.status.success(), "{}", show(&established));

    let ns = stack.namespace("render-helm").await?;
    let p = Project::new();
    let mut render = vec!["render"];
    render.extend(helm_args(&[
        "--helm-namespace",
        ns.name(),
        "--target-namespace",
        "shop-prod",
        "-o",
        "out",
    ]));
    stdout_of(&p.run(&render, &[]));
    let out = p.path("out");
    let apply = kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        out.to_str().unwrap(),
    ])?;
    assert!(
        apply.status.success(),
        "server-side dry-run: {}",
        show(&apply)
    );
    let applied = text(&apply.stdout);
    assert!(
        applied.contains("helmrelease.helm.toolkit.fluxcd.io/shop serverside-applied")
            && applied
                .contains("ocirepository.source.toolkit.fluxcd.io/shop-chart serverside-applied"),
        "{applied}"
    );

    // The schema is really enforced: the same object without its chart is refused.
    let file = std::fs::read_dir(&out)?
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("helmrelease"))
        .unwrap();
    let body = std::fs::read_to_string(&file)?;
    let broken = body.replace(
        "  chartRef:\n    kind: OCIRepository\n    name: shop-chart\n",
        "",
    );
    assert_ne!(broken, body);
    p.write("broken.yaml", &broken);
    let refused = kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        p.path("broken.yaml").to_str().unwrap(),
    ])?;
    assert!(!refused.status.success(), "{}", show(&refused));
    assert!(
        text(&refused.stderr).contains("either chart or chartRef must be set"),
        "{}",
        show(&refused)
    );
    Ok(())
}

/// A devfile whose one manifest, a ConfigMap, shows the values `--config-from` tests look at.
fn config_from_project() -> Project {
    let p = Project::new();
    p.write(
        "cfg/devfile.yaml",
        "schemaVersion: 2.2.0\nmetadata:\n  name: cfg\ncomponents:\n  - name: k8s\n    kubernetes:\n      uri: shown.yaml\ncommands:\n  - id: deploy\n    apply:\n      component: k8s\n      group:\n        kind: deploy\n",
    );
    p.write(
        "cfg/shown.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shown\ndata:\n  region: \"{{ region }}\"\n  tier: \"{{ tier }}\"\n  replicas: \"{{ replicas }}\"\n  image-tag: \"{{ image.tag }}\"\n  password: \"{{ db.password }}\"\n  only-prod: \"{{ only-prod }}\"\n",
    );
    p.write(
        "cfg/config/base.yaml",
        "region: base\ntier: base\nreplicas: 1\nimage: {tag: base}\nonly-prod: base\n",
    );
    p.write(
        "cfg/config/prod.yaml",
        "region: prod\ntier: prod\nreplicas: 2\nimage: {tag: prod}\nonly-prod: prod\n",
    );
    p
}

/// Regular files under `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                found.push(e.path());
            }
        }
    }
    found
}

async fn create_config(
    client: &kube::Client,
    namespace: &str,
    configmaps: &[(&str, &[(&str, &str)])],
    secrets: &[(&str, &[(&str, &str)])],
) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::api::{Api, ObjectMeta, PostParams};

    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    let map = |data: &[(&str, &str)]| {
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    for (name, data) in configmaps {
        let cm = ConfigMap {
            metadata: meta(name),
            data: Some(map(data)),
            ..Default::default()
        };
        Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &cm)
            .await?;
    }
    for (name, data) in secrets {
        // stringData: the API server stores it base64-encoded in `data`, which is what the task reads.
        let secret = Secret {
            metadata: meta(name),
            string_data: Some(map(data)),
            ..Default::default()
        };
        Api::<Secret>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &secret)
            .await?;
    }
    Ok(())
}

/// `--config-from` on a real apiserver as an unprivileged user: a ConfigMap and a Secret sit
/// over config/prod.yaml and under --set, in the order given; the run is granted exactly
/// `cluster:get` on the namespace's ConfigMaps and Secrets; the Secret draws a warning and its
/// value is never logged.
#[tokio::test(flavor = "multi_thread")]
async fn config_from_a_configmap_and_a_secret_sits_between_env_files_and_set() -> anyhow::Result<()>
{
    use kubectl_release_stack::Stack;

    let stack = Stack::shared();
    let ns = stack.namespace("render-config").await?;
    create_config(
        &stack.admin().await?,
        &ns,
        &[(
            "portal-config",
            &[
                ("replicas", "4"),
                ("image.tag", "v2-portal"),
                ("values.yaml", "region: portal\ntier: portal\n"),
            ],
        )],
        &[(
            "db",
            &[("db.password", "s3cr3t-from-secret"), ("tier", "secret")],
        )],
    )
    .await?;
    let p = config_from_project();
    let kubeconfig = stack.tester_kubeconfig();
    let env = [
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ("RUST_LOG", "warn,task=info,kubectl_release=debug"),
    ];
    let out = p.run(
        &[
            "render",
            "-f",
            "cfg/devfile.yaml",
            "--env",
            "prod",
            "--config-from",
            "configmap/portal-config",
            "--config-from",
            "Secret/db",
            "-n",
            &ns,
            "--set",
            "replicas=5",
        ],
        &env,
    );
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&stdout_of(&out))?;
    let data = &doc["data"];
    for (key, expected) in [
        ("only-prod", "prod"),              // prod.yaml, nothing above it
        ("region", "portal"),               // the ConfigMap's values.yaml over prod.yaml
        ("image-tag", "v2-portal"),         // the ConfigMap's plain key image.tag, nested
        ("tier", "secret"),                 // the Secret (given second) over the ConfigMap
        ("password", "s3cr3t-from-secret"), // Secret data, base64-decoded
        ("replicas", "5"),                  // --set over the ConfigMap
    ] {
        assert_eq!(data[key].as_str(), Some(expected), "{key}: {}", show(&out));
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "runs with grants: cluster:get={ns}/ConfigMap.core, cluster:get={ns}/Secret.core\n",
            ns = ns.name()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: values from secret {}/db end up in plain text in the rendered output",
            ns.name()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cr3t"),
        "a secret value was logged: {stderr}"
    );

    // The kubeconfig context's namespace by default (the tester's is `default`, where it may
    // read nothing): -n is what made the run above work.
    let out = p.run(
        &[
            "render",
            "-f",
            "cfg/devfile.yaml",
            "--config-from",
            "cm/portal-config",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("runs with grants: cluster:get=default/ConfigMap.core\n"),
        "{}",
        show(&out)
    );
    Ok(())
}

/// A missing object exits 2 naming it; a refusal by the apiserver (no RBAC in the namespace)
/// fails naming the refusal; a values key that does not parse exits 2 naming object, key, line
/// and column; an unknown kind exits 2 before anything runs. None of them writes a file or
/// pushes anything.
#[tokio::test(flavor = "multi_thread")]
async fn config_from_failures_name_the_object_and_leave_nothing_behind() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use kube::api::{Api, DeleteParams};
    use kubectl_release_stack::{Stack, TESTER_USER, eventually};

    let stack = Stack::shared();
    let ns = stack.namespace("render-config-bad").await?;
    let admin = stack.admin().await?;
    create_config(
        &admin,
        &ns,
        &[(
            "broken",
            &[("a", "1"), ("values.yaml", "region: eu\nimage: [1\n")],
        )],
        &[],
    )
    .await?;
    // A namespace the tester may not read in: the binding every test namespace gets, removed.
    let closed = stack.namespace("render-config-closed").await?;
    create_config(&admin, &closed, &[("portal-config", &[("a", "1")])], &[]).await?;
    Api::<RoleBinding>::namespaced(admin.clone(), &closed)
        .delete(&format!("{TESTER_USER}-edit"), &DeleteParams::default())
        .await?;
    let tester = stack.tester().await?;
    eventually(
        "the tester to lose its rights",
        Duration::from_secs(30),
        || {
            let api = Api::<ConfigMap>::namespaced(tester.clone(), &closed);
            async move {
                match api.get("portal-config").await {
                    Err(kube::Error::Api(s)) if s.code == 403 => Ok(Some(())),
                    other => anyhow::bail!("still readable: {other:?}"),
                }
            }
        },
    )
    .await?;

    let p = config_from_project();
    let kubeconfig = stack.tester_kubeconfig();
    let env = [
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ("RUST_LOG", "warn,task=info,kubectl_release=debug"),
    ];
    let render = |from: &str, namespace: &str| {
        p.run(
            &[
                "render",
                "-f",
                "cfg/devfile.yaml",
                "--env",
                "prod",
                "--config-from",
                from,
                "-n",
                namespace,
                "-o",
                "out",
            ],
            &env,
        )
    };
    let cases = [
        (
            "missing",
            "configmap/portal-config",
            ns.name(),
            2,
            format!("configmap {}/portal-config not found", ns.name()),
        ),
        (
            "refused",
            "configmap/portal-config",
            closed.name(),
            1,
            format!(
                "configmaps \"portal-config\" is forbidden: User \"{TESTER_USER}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"{}\"",
                closed.name()
            ),
        ),
        (
            "bad values key",
            "cm/broken",
            ns.name(),
            2,
            format!(
                "configmap {}/broken key values.yaml:3:1: malformed YAML",
                ns.name()
            ),
        ),
        (
            "unknown kind",
            "deployment/portal-config",
            ns.name(),
            2,
            "unknown kind `deployment`".to_owned(),
        ),
    ];
    for (what, from, namespace, code, expected) in &cases {
        let out = render(from, namespace);
        assert_eq!(out.status.code(), Some(*code), "{what}: {}", show(&out));
        assert!(
            text(&out.stderr).contains(expected.as_str()),
            "{what}: expected `{expected}` in {}",
            show(&out)
        );
        assert_eq!(files_under(&p.path("out")), Vec::<PathBuf>::new(), "{what}");
    }
    // The grant is exactly get on that namespace's ConfigMaps.
    let out = render("configmap/portal-config", ns.name());
    assert!(
        text(&out.stderr).contains(&format!(
            "runs with grants: cluster:get={}/ConfigMap.core\n",
            ns.name()
        )),
        "{}",
        show(&out)
    );

    // A bundle renders everything before it pushes: a missing ConfigMap pushes nothing.
    let registry = Registry::start()?;
    let target = format!("oci://{}/team/cfg:v1", registry.addr());
    let out = p.run(
        &[
            "bundle",
            "-f",
            "cfg/devfile.yaml",
            "--env",
            "prod",
            "--config-from",
            "configmap/portal-config",
            "-n",
            &ns,
            "--push",
            &target,
            "--source",
            "https://git.example/team/cfg",
            "--revision",
            "main@sha1:0123456789abcdef0123456789abcdef01234567",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("configmap {}/portal-config not found", ns.name())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "runs with grants: registry:push={}/team/cfg, cluster:get={}/ConfigMap.core\n",
            registry.addr(),
            ns.name()
        )),
        "{stderr}"
    );
    assert!(nothing_pushed(&registry), "something was pushed");
    Ok(())
}
