use super::*;

const DEVFILE: &str = r#"schemaVersion: 2.2.0
metadata:
  name: app
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
      uri: kubernetes/{{APP}}.yaml
  - name: route
    openshift:
      deployByDefault: false
      inlined: |
        apiVersion: route.openshift.io/v1
        kind: Route
        metadata:
          name: "{{APP}}"
commands:
  - id: build
    apply:
      component: shop-image
  - id: k8s
    apply:
      component: k8s
  - id: deploy
    composite:
      commands: [build, k8s]
      group:
        kind: deploy
        isDefault: true
"#;

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: "{{APP}}"
  namespace: "{{ namespace }}"
spec:
  replicas: {{ replicas }}
  template:
    spec:
      initContainers:
        - name: migrate
          image: "{{IMAGE}}:dev"
      containers:
        - name: app
          image: "{{ IMAGE }}:dev"
        - name: proxy
          image: envoyproxy/envoy:v1
---
apiVersion: v1
kind: Service
metadata:
  name: "{{APP}}"
  namespace: "{{ namespace }}"
"#;

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

fn tree() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut put = |p: &str, t: &str| files.insert(p.to_owned(), t.as_bytes().to_vec());
    put("app/devfile.yaml", DEVFILE);
    put("app/kubernetes/shop.yaml", MANIFEST);
    put("app/config/base.yaml", "namespace: shop-dev\nreplicas: 1\n");
    put("app/config/prod.yaml", "namespace: shop-prod\n");
    put("extra.yaml", "replicas: 2\n");
    let snapshot = format!(
        "spec:\n  components:\n  - name: shop-image\n    containerImage: quay.io/ci/shop@{DIGEST}\n"
    );
    put("snapshot.yaml", &snapshot);
    files
}

fn request() -> Request {
    Request {
        devfile: "app/devfile.yaml".into(),
        config_dir: "config".into(),
        ..Request::default()
    }
}

fn file<'a>(r: &'a Rendered, name: &str) -> &'a str {
    let (_, bytes) = r.files.iter().find(|(n, _)| n == name).unwrap_or_else(|| {
        panic!(
            "no {name} in {:?}",
            r.files.iter().map(|f| &f.0).collect::<Vec<_>>()
        )
    });
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn renders_an_odo_style_devfile_with_a_uri_manifest_full_of_variables() {
    let req = Request {
        env: Some("prod".into()),
        snapshot: Some("snapshot.yaml".into()),
        ..request()
    };
    let r = render(&mut tree(), &req).unwrap();
    assert_eq!(
        r.resources,
        ["Deployment/shop-prod/shop", "Service/shop-prod/shop"]
    );
    let names: Vec<&str> = r.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "apps_v1_deployment_shop-prod_shop.yaml",
            "v1_service_shop-prod_shop.yaml"
        ]
    );
    let deployment = file(&r, "apps_v1_deployment_shop-prod_shop.yaml");
    assert_eq!(
        deployment
            .matches(&format!("quay.io/ci/shop@{DIGEST}"))
            .count(),
        2,
        "{deployment}"
    );
    assert!(deployment.contains("replicas: 1"), "{deployment}");
    assert!(deployment.contains("image: envoyproxy/envoy:v1"));
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("envoyproxy/envoy:v1"));
}

#[test]
fn layers_apply_in_documented_precedence() {
    let base = |req: Request| render(&mut tree(), &req).unwrap();
    let replicas = |r: &Rendered| {
        let d = file(r, "apps_v1_deployment_shop-prod_shop.yaml").to_owned();
        d.lines()
            .find(|l| l.contains("replicas"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let prod = Request {
        env: Some("prod".into()),
        ..request()
    };
    assert_eq!(replicas(&base(prod.clone())), "replicas: 1");
    // --config-from objects: over the env file, under --values.
    let layer = |text: &str| crate::config::parse_values("layer", text).unwrap();
    let objects = Request {
        config_from: vec![layer("replicas: 5\n"), layer("replicas: 6\n")],
        ..prod.clone()
    };
    assert_eq!(replicas(&base(objects.clone())), "replicas: 6");
    let values = Request {
        values: vec!["extra.yaml".into()],
        ..objects.clone()
    };
    assert_eq!(replicas(&base(values.clone())), "replicas: 2");
    let set = Request {
        set: vec!["replicas=3".into()],
        ..values.clone()
    };
    assert_eq!(replicas(&base(set.clone())), "replicas: 3");
    let var = Request {
        vars: vec!["replicas=4".into()],
        ..set
    };
    assert_eq!(replicas(&base(var)), "replicas: 4");
    // Without --env only base.yaml applies.
    let r = base(request());
    assert_eq!(r.resources[0], "Deployment/shop-dev/shop");
}

#[test]
fn an_unknown_variable_is_named_with_its_file() {
    let mut files = tree();
    files.insert("app/config/base.yaml".into(), b"replicas: 1\n".to_vec());
    let err = render(&mut files, &request()).unwrap_err();
    assert_eq!(err.reason, "UnknownVariable");
    assert!(
        err.message
            .starts_with("app/kubernetes/shop.yaml: unknown variable `namespace`"),
        "{}",
        err.message
    );
}

#[test]
fn a_missing_uri_file_and_env_file_are_errors() {
    let mut files = tree();
    files.remove("app/kubernetes/shop.yaml");
    let err = render(&mut files, &request()).unwrap_err();
    assert_eq!(err.reason, "MissingFile");
    assert!(
        err.message
            .contains("uri `kubernetes/shop.yaml`: app/kubernetes/shop.yaml does not exist"),
        "{}",
        err.message
    );
    let err = render(
        &mut tree(),
        &Request {
            env: Some("qa".into()),
            ..request()
        },
    )
    .unwrap_err();
    assert_eq!(err.reason, "MissingFile");
    assert!(
        err.message.contains("app/config/qa.yaml"),
        "{}",
        err.message
    );
}

#[test]
fn malformed_manifest_yaml_names_file_line_and_column() {
    let mut files = tree();
    files.insert(
        "app/kubernetes/shop.yaml".into(),
        b"apiVersion: v1\nkind: [Service\n".to_vec(),
    );
    let err = render(&mut files, &request()).unwrap_err();
    assert_eq!(err.reason, "InvalidManifest");
    assert!(
        err.message.starts_with("app/kubernetes/shop.yaml:"),
        "{}",
        err.message
    );
}

#[test]
fn join_stays_in_the_tree() {
    assert_eq!(join("a/b", "../c.yaml").as_deref(), Some("a/c.yaml"));
    assert_eq!(join("", "./c.yaml").as_deref(), Some("c.yaml"));
    assert_eq!(join("a", "../../c"), None);
}

fn helm_spec() -> helm::Spec {
    helm::Spec::parse(&helm::Flags {
        name: "shop",
        namespace: "apps",
        chart: Some("oci://ghcr.io/team/charts/shop:1.2.3"),
        ..helm::Flags::default()
    })
    .unwrap()
}

#[test]
fn a_helm_release_carries_the_merged_layers_with_pinned_images() {
    let mut files = tree();
    files.insert(
        "app/config/base.yaml".into(),
        b"replicas: 1\nimage: quay.io/team/shop:dev\nworker: {repository: quay.io/team/shop, digest: ''}\nfrom: base\nonly: {base: b}\n".to_vec(),
    );
    files.insert(
        "app/config/prod.yaml".into(),
        b"from: prod\nonly: {prod: p}\n".to_vec(),
    );
    files.insert("extra.yaml".into(), b"from: values\nz: last\n".to_vec());
    // The devfile needs no deploy command for a HelmRelease.
    files.insert(
        "app/devfile.yaml".into(),
        DEVFILE.as_bytes()[..DEVFILE.find("commands:").unwrap()].to_vec(),
    );
    let req = Request {
        env: Some("prod".into()),
        values: vec!["extra.yaml".into()],
        set: vec!["replicas=3".into(), "only.set=s".into()],
        vars: vec!["from=var".into()],
        snapshot: Some("snapshot.yaml".into()),
        helm: Some(helm_spec()),
        ..request()
    };
    let r = render(&mut files, &req).unwrap();
    assert_eq!(
        r.resources,
        ["HelmRelease/apps/shop", "OCIRepository/apps/shop-chart"]
    );
    let release = file(&r, "helm.toolkit.fluxcd.io_v2_helmrelease_apps_shop.yaml");
    let values = &release[release.find("  values:\n").unwrap()..];
    assert_eq!(
        values,
        format!(
            "  values:
    from: values
    image: quay.io/ci/shop@{DIGEST}
    only:
      base: b
      prod: p
      set: s
    replicas: 3
    worker:
      digest: {DIGEST}
      repository: quay.io/team/shop
    z: last
"
        )
    );
    // Same content from layers written in another key order: the same bytes.
    files.insert(
        "app/config/base.yaml".into(),
        b"only: {base: b}\nfrom: base\nworker: {digest: '', repository: quay.io/team/shop}\nimage: quay.io/team/shop:dev\nreplicas: 1\n".to_vec(),
    );
    let again = render(&mut files, &req).unwrap();
    assert_eq!(r.files, again.files);
}

#[test]
fn a_bundle_of_a_helm_release_holds_it() {
    let req = Request {
        env: Some("prod".into()),
        helm: Some(helm_spec()),
        ..request()
    };
    let r = render(&mut tree(), &req).unwrap();
    let a = crate::artifact::build(&r.files, "s", "main@sha1:0", 0);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(a.layer.as_slice()));
    let mut listed = vec![];
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        listed.push((e.path().unwrap().display().to_string(), body));
    }
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].0,
        "helm.toolkit.fluxcd.io_v2_helmrelease_apps_shop.yaml"
    );
    assert!(
        listed[0].1.contains("kind: HelmRelease")
            && listed[0]
                .1
                .contains("namespace: shop-prod\n    replicas: 1\n"),
        "{}",
        listed[0].1
    );
    assert_eq!(
        a.digest,
        crate::artifact::build(
            &render(&mut tree(), &req).unwrap().files,
            "s",
            "main@sha1:0",
            0
        )
        .digest
    );
}

#[test]
fn every_rendered_file_is_what_the_yaml_library_writes() {
    let req = Request {
        env: Some("prod".into()),
        snapshot: Some("snapshot.yaml".into()),
        ..request()
    };
    let mut files = tree();
    // A ConfigMap with a literal block and quoting cases, next to the odo-style manifest.
    let mut manifest = MANIFEST.to_owned();
    manifest.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: x\ndata:\n  app.yaml: |\n    server:\n      port: 8080\n  schedule: '*/5 * * * *'\n  version: '1.10'\n  flag: 'true'\n  empty: ''\n  note: \"a: b\"\n");
    files.insert("app/kubernetes/shop.yaml".into(), manifest.into_bytes());
    let r = render(&mut files, &req).unwrap();
    assert_eq!(r.files.len(), 3);
    for (name, bytes) in &r.files {
        let text = std::str::from_utf8(bytes).unwrap();
        let value: Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(text, serde_yaml_ng::to_string(&value).unwrap(), "{name}");
        assert!(
            crate::emit::to_string(&value).is_some(),
            "{name}: fell back"
        );
    }
}

#[test]
fn the_fast_path_renders_exactly_what_the_library_path_renders() {
    let req = Request {
        env: Some("prod".into()),
        snapshot: Some("snapshot.yaml".into()),
        ..request()
    };
    let manifest = format!(
        "{MANIFEST}---\n# a ConfigMap and a CronJob, written by hand\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: x}}\ndata:\n  app.yaml: |\n    server:\n      port: 8080\n\n    flags: [a, b]\n  LOG: json   # comment\n  n: '007'\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: job\nspec:\n  schedule: \"*/30 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: c\n              image: \"{{{{IMAGE}}}}:dev\"\n              args: [\"run\", 1, 0.5]\n              resources:\n                requests: {{cpu: 50m}}\n"
    );
    let mut fast = tree();
    fast.insert(
        "app/kubernetes/shop.yaml".into(),
        manifest.clone().into_bytes(),
    );
    assert!(
        crate::fast::parse_stream(
            &manifest
                .replace("{{IMAGE}}", "x")
                .replace("{{ IMAGE }}", "x")
                .replace("{{APP}}", "x")
                .replace("{{ namespace }}", "x")
                .replace("{{ replicas }}", "1")
        )
        .is_some(),
        "the manifest should take the fast path"
    );
    // A tab in a comment sends the whole file down the library path, content unchanged.
    let mut slow = tree();
    slow.insert(
        "app/kubernetes/shop.yaml".into(),
        format!("{manifest}#\tend\n").into_bytes(),
    );
    let (a, b) = (
        render(&mut fast, &req).unwrap(),
        render(&mut slow, &req).unwrap(),
    );
    assert_eq!(a.files.len(), 4);
    assert_eq!(a.files, b.files);
    assert_eq!(a.resources, b.resources);
    assert_eq!(a.warnings, b.warnings);
    let job = file(&a, "batch_v1_cronjob_job.yaml");
    assert!(
        job.contains(&format!("image: quay.io/ci/shop@{DIGEST}")),
        "{job}"
    );
    assert!(job.contains("- 0.5\n"), "{job}");
}
