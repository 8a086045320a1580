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
    let values = Request {
        values: vec!["extra.yaml".into()],
        ..prod.clone()
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
