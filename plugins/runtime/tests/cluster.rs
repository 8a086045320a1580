//! The `cluster` host interface against the stack's real kube-apiserver, driven by the fixture
//! guest through the WIT imports (`cluster-call` mode): grants before the API server, the typed
//! errors, server-side apply, patches, compare-and-swap, and kubeconfig Secrets whose token
//! never passes through the task.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Harness, run_fixture, string_result};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubectl_release_runtime::cluster::{
    KUBECONFIG_KEY, SERVICE_ACCOUNT_ANNOTATION, TOKEN_EXPIRES_ANNOTATION,
};
use kubectl_release_runtime::{
    ClusterClient, ClusterOptions, Grants, Limits, LoadedTask, LogLine, LogSink, RunContext,
    RunOutcome,
};
use kubectl_release_stack::{Stack, TESTER_USER, eventually};
use serde_json::{Value, json};

async fn admin_host() -> Arc<ClusterClient> {
    let stack = Stack::shared();
    Arc::new(
        ClusterClient::from_kubeconfig(&stack.admin_kubeconfig(), ClusterOptions::default())
            .await
            .unwrap(),
    )
}

/// The fixture, and a context with `grants` served by the admin's cluster client. The harness
/// is returned to keep the fixture's runtime alive.
async fn admin_run(grants: &[&str]) -> (Harness, Arc<LoadedTask>, RunContext) {
    let host = admin_host().await;
    let h = Harness::new();
    let task = h.fixture();
    (h, task, ctx(Some(&host), grants))
}

fn ctx(client: Option<&Arc<ClusterClient>>, grants: &[&str]) -> RunContext {
    RunContext {
        grants: Arc::new(Grants::parse_all(grants.iter().copied()).unwrap()),
        cluster: client.cloned(),
        limits: Limits {
            deadline: Duration::from_secs(60),
            ..Limits::default()
        },
        ..RunContext::default()
    }
}

/// One `cluster-call` run: `(error-kind, message)`.
async fn call(task: &LoadedTask, ctx: &RunContext, params: &[(&str, &str)]) -> (String, String) {
    let outcome = run_fixture(task, ctx, "cluster-call", params).await;
    answer(&outcome)
}

fn answer(outcome: &RunOutcome) -> (String, String) {
    (
        string_result(outcome, "error-kind"),
        string_result(outcome, "message"),
    )
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn config_map(namespace: &str, name: &str, data: &[(&str, &str)]) -> String {
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "namespace": namespace },
        "data": data,
    })
    .to_string()
}

async fn admin_create_config_map(
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> ConfigMap {
    let admin = Stack::shared().admin().await.unwrap();
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        data: Some([("k".to_owned(), "v0".to_owned())].into()),
        ..ConfigMap::default()
    };
    Api::<ConfigMap>::namespaced(admin, namespace)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
}

async fn admin_get_config_map(namespace: &str, name: &str) -> Option<ConfigMap> {
    let admin = Stack::shared().admin().await.unwrap();
    Api::<ConfigMap>::namespaced(admin, namespace)
        .get_opt(name)
        .await
        .unwrap()
}

#[tokio::test]
async fn granted_get_and_list_return_the_objects_json() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-read").await.unwrap();
    admin_create_config_map(&ns, "alpha", &[("app", "x")]).await;
    admin_create_config_map(&ns, "beta", &[("app", "y")]).await;
    let grant = format!("cluster:get,list={}/ConfigMap", ns.name());
    let (_h, task, ctx) = admin_run(&[&grant]).await;

    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "get"), ("namespace", &ns), ("name", "alpha")],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    let got = json_of(&message);
    assert_eq!(got["apiVersion"], "v1");
    assert_eq!(got["kind"], "ConfigMap");
    assert_eq!(got["metadata"]["name"], "alpha");
    assert_eq!(got["metadata"]["namespace"], ns.name());
    assert_eq!(got["data"]["k"], "v0");

    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "list"),
            ("namespace", &ns),
            ("label-selector", "app=x"),
        ],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    let items = json_of(&message);
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 1, "{message}");
    assert_eq!(items[0]["metadata"]["name"], "alpha");
    assert_eq!(items[0]["kind"], "ConfigMap", "list items carry their kind");
    assert_eq!(items[0]["apiVersion"], "v1");

    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "list"),
            ("namespace", &ns),
            ("label-selector", "app"),
        ],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    let names: Vec<String> = json_of(&message)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "get"), ("namespace", &ns), ("name", "missing")],
    )
    .await;
    assert_eq!(kind, "not-found", "{message}");
    assert!(message.contains("missing"), "{message}");
}

#[tokio::test]
async fn ungranted_calls_are_denied_before_the_api_server() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-deny").await.unwrap();
    let other = stack.namespace("cluster-deny-other").await.unwrap();
    admin_create_config_map(&ns, "keep", &[]).await;
    let grant = format!("cluster:get,create={}/ConfigMap", ns.name());
    let (_h, task, ctx) = admin_run(&[&grant]).await;

    // Another namespace: not created there.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "create"),
            ("object", &config_map(&other, "sneaky", &[])),
        ],
    )
    .await;
    assert_eq!(kind, "denied", "{message}");
    assert!(
        message.contains(&format!("needs create on {}/ConfigMap", other.name())),
        "{message}"
    );
    assert!(message.contains(&format!("granted: {grant}")), "{message}");
    assert!(message.contains("sneaky"), "names the object: {message}");
    assert!(admin_get_config_map(&other, "sneaky").await.is_none());

    // Another kind in the granted namespace: no Secret made.
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "sneaky", "namespace": ns.name() },
        "stringData": { "a": "b" },
    })
    .to_string();
    let (kind, message) = call(&task, &ctx, &[("call", "create"), ("object", &secret)]).await;
    assert_eq!(kind, "denied", "{message}");
    assert!(
        message.contains(&format!("needs create on {}/Secret", ns.name())),
        "{message}"
    );
    let admin = stack.admin().await.unwrap();
    assert!(
        Api::<Secret>::namespaced(admin, &ns)
            .get_opt("sneaky")
            .await
            .unwrap()
            .is_none()
    );

    // Another verb on a granted object: still there.
    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "delete"), ("namespace", &ns), ("name", "keep")],
    )
    .await;
    assert_eq!(kind, "denied", "{message}");
    assert!(
        message.contains(&format!("needs delete on {}/ConfigMap", ns.name())),
        "{message}"
    );
    assert!(admin_get_config_map(&ns, "keep").await.is_some());

    // All namespaces need a `*` grant.
    let (kind, message) = call(&task, &ctx, &[("call", "list")]).await;
    assert_eq!(kind, "denied", "{message}");
    assert!(message.contains("needs list on */ConfigMap"), "{message}");

    // A host whose API server does not exist answers `denied`, not `unavailable`: the refusal
    // came before any connection.
    let nowhere = unreachable_host(Duration::from_secs(5)).await;
    let (kind, message) = call(
        &task,
        &self::ctx(Some(&nowhere), &[&grant]),
        &[("call", "get"), ("namespace", &other), ("name", "keep")],
    )
    .await;
    assert_eq!(kind, "denied", "{message}");

    // A host without cluster access refuses even granted calls.
    let (kind, message) = call(
        &task,
        &self::ctx(None, &[&grant]),
        &[("call", "get"), ("namespace", &ns), ("name", "keep")],
    )
    .await;
    assert_eq!(kind, "denied", "{message}");
    assert!(
        message.contains("does not serve cluster access"),
        "{message}"
    );
    assert!(message.contains(&grant), "{message}");
}

#[tokio::test]
async fn create_of_an_existing_name_is_a_conflict() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-create").await.unwrap();
    let grant = format!("cluster:create={}/ConfigMap", ns.name());
    let (_h, task, ctx) = admin_run(&[&grant]).await;
    let object = config_map(&ns, "once", &[("k", "first")]);

    let (kind, message) = call(&task, &ctx, &[("call", "create"), ("object", &object)]).await;
    assert_eq!(kind, "none", "{message}");
    let created = json_of(&message);
    assert_eq!(created["metadata"]["name"], "once");
    assert!(created["metadata"]["uid"].is_string(), "{message}");

    let again = config_map(&ns, "once", &[("k", "second")]);
    let (kind, message) = call(&task, &ctx, &[("call", "create"), ("object", &again)]).await;
    assert_eq!(kind, "conflict", "{message}");
    assert!(message.contains("already exists"), "{message}");
    let stored = admin_get_config_map(&ns, "once").await.unwrap();
    assert_eq!(stored.data.unwrap()["k"], "first");
}

#[tokio::test]
async fn replace_is_a_compare_and_swap_on_the_resource_version() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-replace").await.unwrap();
    admin_create_config_map(&ns, "cas", &[]).await;
    let grant = format!("cluster:get,update={}/ConfigMap", ns.name());
    let (_h, task, ctx) = admin_run(&[&grant]).await;

    let (_, read) = call(
        &task,
        &ctx,
        &[("call", "get"), ("namespace", &ns), ("name", "cas")],
    )
    .await;
    let mut stale = json_of(&read);
    // Someone else writes first.
    let admin = stack.admin().await.unwrap();
    let mut theirs = admin_get_config_map(&ns, "cas").await.unwrap();
    theirs.data = Some([("k".to_owned(), "theirs".to_owned())].into());
    Api::<ConfigMap>::namespaced(admin, &ns)
        .replace("cas", &PostParams::default(), &theirs)
        .await
        .unwrap();

    stale["data"]["k"] = "mine".into();
    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "replace"), ("object", &stale.to_string())],
    )
    .await;
    assert_eq!(kind, "conflict", "{message}");
    assert_eq!(
        admin_get_config_map(&ns, "cas")
            .await
            .unwrap()
            .data
            .unwrap()["k"],
        "theirs"
    );

    // Read again, then the swap goes through.
    let (_, read) = call(
        &task,
        &ctx,
        &[("call", "get"), ("namespace", &ns), ("name", "cas")],
    )
    .await;
    let mut fresh = json_of(&read);
    fresh["data"]["k"] = "mine".into();
    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "replace"), ("object", &fresh.to_string())],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    assert_eq!(json_of(&message)["data"]["k"], "mine");

    // Without a resourceVersion there is nothing to compare: refused before the server.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "replace"),
            ("object", &config_map(&ns, "cas", &[("k", "blind")])),
        ],
    )
    .await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("metadata.resourceVersion"), "{message}");
}

#[tokio::test]
async fn server_side_apply_and_its_dry_run() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-apply").await.unwrap();
    let grant = format!("cluster:apply={}/ConfigMap", ns.name());
    let (_h, task, ctx) = admin_run(&[&grant]).await;
    let object = config_map(&ns, "applied", &[("k", "v1")]);

    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "apply"),
            ("object", &object),
            ("field-manager", "release-bot"),
            ("dry-run", "true"),
        ],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    assert_eq!(json_of(&message)["data"]["k"], "v1");
    assert!(
        admin_get_config_map(&ns, "applied").await.is_none(),
        "a dry run stores nothing"
    );

    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "apply"),
            ("object", &object),
            ("field-manager", "release-bot"),
        ],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    let stored = admin_get_config_map(&ns, "applied").await.unwrap();
    assert_eq!(stored.data.as_ref().unwrap()["k"], "v1");
    let managers: Vec<String> = stored
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"release-bot".to_owned()), "{managers:?}");

    // Re-applying with a new value as the same manager updates it.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "apply"),
            ("object", &config_map(&ns, "applied", &[("k", "v2")])),
            ("field-manager", "release-bot"),
        ],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    assert_eq!(
        admin_get_config_map(&ns, "applied")
            .await
            .unwrap()
            .data
            .unwrap()["k"],
        "v2"
    );

    // Another manager setting the same field differently is not forced through.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "apply"),
            ("object", &config_map(&ns, "applied", &[("k", "other")])),
            ("field-manager", "someone-else"),
        ],
    )
    .await;
    assert_eq!(kind, "conflict", "{message}");
    assert!(message.contains("release-bot"), "{message}");
}

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-patch").await.unwrap();
    admin_create_config_map(&ns, "patched", &[]).await;
    let grant = format!("cluster:patch={}/ConfigMap", ns.name());
    let (_h, task, ctx) = admin_run(&[&grant]).await;
    let patch = |kind: &'static str, body: &'static str| {
        vec![
            ("call", "patch"),
            ("namespace", ns.name()),
            ("name", "patched"),
            ("patch-kind", kind),
            ("patch", body),
        ]
    };

    let (kind, message) = call(&task, &ctx, &patch("merge", r#"{"data":{"m":"1"}}"#)).await;
    assert_eq!(kind, "none", "{message}");
    assert_eq!(json_of(&message)["data"]["m"], "1");

    let (kind, message) = call(
        &task,
        &ctx,
        &patch("json", r#"[{"op":"replace","path":"/data/k","value":"j"}]"#),
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    assert_eq!(json_of(&message)["data"]["k"], "j");

    let (kind, message) = call(
        &task,
        &ctx,
        &patch("strategic", r#"{"metadata":{"labels":{"s":"yes"}}}"#),
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    let data = admin_get_config_map(&ns, "patched").await.unwrap();
    assert_eq!(data.metadata.labels.unwrap()["s"], "yes");
    let data = data.data.unwrap();
    assert_eq!((data["k"].as_str(), data["m"].as_str()), ("j", "1"));

    // A JSON patch whose test fails changes nothing and is refused by the server.
    let (kind, message) = call(
        &task,
        &ctx,
        &patch("json", r#"[{"op":"test","path":"/data/k","value":"nope"}]"#),
    )
    .await;
    assert_ne!(kind, "none", "{message}");

    // The wrong shape for the patch kind never reaches the server.
    let (kind, message) = call(&task, &ctx, &patch("json", r#"{"data":{}}"#)).await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("array of operations"), "{message}");
}

#[tokio::test]
async fn delete_is_conditional_on_the_resource_version() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-delete").await.unwrap();
    let cm = admin_create_config_map(&ns, "doomed", &[]).await;
    let rv = cm.metadata.resource_version.unwrap();
    let grant = format!("cluster:delete={}/ConfigMap", ns.name());
    let (_h, task, ctx) = admin_run(&[&grant]).await;
    let delete_at = |rv: &'static str| {
        [
            ("call", "delete"),
            ("namespace", ns.name()),
            ("name", "doomed"),
            ("resource-version", rv),
        ]
    };

    let (kind, message) = call(&task, &ctx, &delete_at("1")).await;
    assert_eq!(kind, "conflict", "{message}");
    assert!(admin_get_config_map(&ns, "doomed").await.is_some());

    let rv: &'static str = rv.leak();
    let (kind, message) = call(&task, &ctx, &delete_at(rv)).await;
    assert_eq!(kind, "none", "{message}");
    assert!(admin_get_config_map(&ns, "doomed").await.is_none());

    let (kind, message) = call(&task, &ctx, &delete_at(rv)).await;
    assert_eq!(kind, "not-found", "{message}");
}

#[tokio::test]
async fn malformed_requests_are_invalid_and_name_the_problem() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-invalid").await.unwrap();
    let host = admin_host().await;
    let ctx = ctx(
        Some(&host),
        &[
            "cluster:get,create,apply=*/ConfigMap",
            "cluster:get=*/Namespace",
        ],
    );
    let h = Harness::new();
    let task = h.fixture();
    let create = |object: &str| {
        let object = object.to_owned();
        let task = &task;
        let ctx = &ctx;
        async move { call(task, ctx, &[("call", "create"), ("object", &object)]).await }
    };

    let (kind, message) = create("{not json").await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("not valid JSON"), "{message}");

    let (kind, message) =
        create(r#"{"apiVersion":"v1","metadata":{"name":"a","namespace":"x"}}"#).await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("`kind`"), "{message}");

    let (kind, message) = create(r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#).await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("`apiVersion`"), "{message}");

    let (kind, message) = create(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#).await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("`metadata.name`"), "{message}");

    // A namespaced kind without a namespace.
    let (kind, message) =
        create(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#).await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("namespaced"), "{message}");

    // A cluster-scoped kind with one.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "get"),
            ("kind", "Namespace"),
            ("namespace", &ns),
            ("name", &ns),
        ],
    )
    .await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("cluster-scoped"), "{message}");
    // ... and without, it works.
    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "get"), ("kind", "Namespace"), ("name", &ns)],
    )
    .await;
    assert_eq!(kind, "none", "{message}");

    // A kind the server does not have (case matters).
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "get"),
            ("kind", "configmap"),
            ("namespace", &ns),
            ("name", "a"),
        ],
    )
    .await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("no kind `configmap`"), "{message}");

    // A name that would leave its URL path segment.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "get"),
            ("namespace", &ns),
            ("name", "../../../api/v1/namespaces/kube-system/secrets/x"),
        ],
    )
    .await;
    assert_eq!(kind, "invalid", "{message}");

    // The server's own validation: a bad data key.
    let (kind, message) = create(&config_map(&ns, "bad-key", &[("not a key!", "v")])).await;
    assert_eq!(kind, "invalid", "{message}");

    // Apply without a field manager.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "apply"),
            ("object", &config_map(&ns, "a", &[])),
            ("field-manager", ""),
        ],
    )
    .await;
    assert_eq!(kind, "invalid", "{message}");
    assert!(message.contains("field manager"), "{message}");
}

#[tokio::test]
async fn an_identity_refused_by_rbac_is_denied() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-rbac").await.unwrap();
    admin_create_config_map(&ns, "visible", &[]).await;
    let tester = Arc::new(
        ClusterClient::from_kubeconfig(&stack.tester_kubeconfig(), ClusterOptions::default())
            .await
            .unwrap(),
    );
    let ctx = ctx(Some(&tester), &["cluster:get,list=*/ConfigMap"]);
    let h = Harness::new();
    let task = h.fixture();

    // The tester has `edit` in test namespaces: granted and allowed.
    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "get"), ("namespace", &ns), ("name", "visible")],
    )
    .await;
    assert_eq!(kind, "none", "{message}");

    // Granted to the run, but RBAC refuses the host's identity.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "get"),
            ("namespace", "kube-system"),
            ("name", "extension-apiserver-authentication"),
        ],
    )
    .await;
    assert_eq!(kind, "denied", "{message}");
    assert!(message.contains("refused the host's identity"), "{message}");
    assert!(message.contains(TESTER_USER), "{message}");

    let (kind, message) = call(&task, &ctx, &[("call", "list")]).await;
    assert_eq!(kind, "denied", "{message}");
}

/// A client for an API server that is not there: port 1 on loopback refuses connections.
async fn unreachable_host(call_timeout: Duration) -> Arc<ClusterClient> {
    let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
    Arc::new(
        ClusterClient::new(
            config,
            ClusterOptions {
                call_timeout,
                retries: 2,
                retry_backoff: Duration::from_millis(50),
                ..ClusterOptions::default()
            },
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn an_unreachable_or_silent_api_server_is_unavailable_or_a_timeout() {
    let h = Harness::new();
    let task = h.fixture();
    let grant = ["cluster:get=team/ConfigMap"];
    let params = [("call", "get"), ("namespace", "team"), ("name", "x")];

    let nowhere = unreachable_host(Duration::from_secs(10)).await;
    let (kind, message) = call(&task, &ctx(Some(&nowhere), &grant), &params).await;
    assert_eq!(kind, "unavailable", "{message}");
    assert!(message.contains("unreachable"), "{message}");

    // Accepts connections and never answers (not even the TLS handshake).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let config = kube::Config::new(format!("https://{addr}").parse().unwrap());
    let host = Arc::new(
        ClusterClient::new(
            config,
            ClusterOptions {
                call_timeout: Duration::from_millis(800),
                ..ClusterOptions::default()
            },
        )
        .unwrap(),
    );
    let started = Instant::now();
    let (kind, message) = call(&task, &ctx(Some(&host), &grant), &params).await;
    assert_eq!(kind, "timeout", "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

/// Collects every `tracing` event of the test, to prove the token never reaches a log.
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

async fn client_from_kubeconfig_text(text: &str) -> kube::Client {
    let kubeconfig = Kubeconfig::from_yaml(text).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// The user a kubeconfig authenticates as, from a SelfSubjectReview.
async fn whoami(client: kube::Client) -> Result<String, kube::Error> {
    let review = Api::<SelfSubjectReview>::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    Ok(review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default())
}

async fn kubeconfig_in_secret(namespace: &str, name: &str) -> (Secret, String) {
    let admin = Stack::shared().admin().await.unwrap();
    let secret = Api::<Secret>::namespaced(admin, namespace)
        .get(name)
        .await
        .unwrap();
    let bytes = secret.data.as_ref().unwrap()[KUBECONFIG_KEY].0.clone();
    (secret, String::from_utf8(bytes).unwrap())
}

fn token_of(kubeconfig: &str) -> String {
    let v: Value = serde_json::from_str(kubeconfig).unwrap();
    v["users"][0]["user"]["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn kubeconfig_secret_authenticates_as_the_service_account_and_hides_the_token() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-token").await.unwrap();
    let admin = stack.admin().await.unwrap();
    admin_create_config_map(&ns, "readable", &[]).await;
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("deployer".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let role = Role {
        metadata: ObjectMeta {
            name: Some("read-config-maps".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".into()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("deployer-reads".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "read-config-maps".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "deployer".into(),
            namespace: Some(ns.to_string()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let task_lines: Arc<Mutex<Vec<LogLine>>> = Arc::default();
    let lines = task_lines.clone();

    let host = admin_host().await;
    let token_grant = format!("cluster:token={}/ServiceAccount", ns.name());
    let create_grant = format!("cluster:create={}/Secret", ns.name());
    let mut run = ctx(Some(&host), &[&token_grant, &create_grant]);
    run.log = LogSink::new(move |line| lines.lock().unwrap().push(line.clone()));
    let h = Harness::new();
    let task = h.fixture();
    let write = |secret: &'static str, sa: &'static str| {
        vec![
            ("call", "write-kubeconfig-secret"),
            ("namespace", ns.name()),
            ("service-account", sa),
            ("secret-name", secret),
            ("expiration-seconds", "3600"),
        ]
    };

    let outcome = run_fixture(
        &task,
        &run,
        "cluster-call",
        &write("deployer-kubeconfig", "deployer"),
    )
    .await;
    let (kind, message) = answer(&outcome);
    assert_eq!(kind, "none", "{message}");
    assert_eq!(
        message, "deployer-kubeconfig",
        "the answer is the Secret's name"
    );

    let (secret, kubeconfig) = kubeconfig_in_secret(&ns, "deployer-kubeconfig").await;
    let annotations = secret.metadata.annotations.clone().unwrap();
    assert_eq!(annotations[SERVICE_ACCOUNT_ANNOTATION], "deployer");
    assert!(annotations.contains_key(TOKEN_EXPIRES_ANNOTATION));
    let token = token_of(&kubeconfig);
    assert!(token.len() > 100, "a JWT");

    // The kubeconfig is the ServiceAccount, with exactly its rights.
    let as_sa = client_from_kubeconfig_text(&kubeconfig).await;
    assert_eq!(
        whoami(as_sa.clone()).await.unwrap(),
        format!("system:serviceaccount:{}:deployer", ns.name())
    );
    Api::<ConfigMap>::namespaced(as_sa.clone(), &ns)
        .get("readable")
        .await
        .unwrap();
    match Api::<Secret>::namespaced(as_sa.clone(), &ns)
        .get("deployer-kubeconfig")
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("the ServiceAccount read a Secret: {other:?}"),
    }

    // Nowhere the task or the logs can see.
    let shown = format!("{outcome:?}");
    assert!(!shown.contains(&token), "token in the outcome");
    let task_logged = format!("{:?}", task_lines.lock().unwrap());
    assert!(
        task_logged.contains("cluster.write-kubeconfig-secret answered"),
        "{task_logged}"
    );
    assert!(!task_logged.contains(&token), "token in the task's logs");
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("wrote a kubeconfig Secret"),
        "the capture works"
    );
    assert!(!logged.contains(&token), "token in the host's logs");

    // The name is taken: without update on Secrets that is a conflict, and the Secret is kept.
    let (kind, message) = call(&task, &run, &write("deployer-kubeconfig", "deployer")).await;
    assert_eq!(kind, "conflict", "{message}");
    assert!(
        message.contains(&format!("update on {}/Secret", ns.name())),
        "{message}"
    );
    assert_eq!(
        kubeconfig_in_secret(&ns, "deployer-kubeconfig").await.1,
        kubeconfig
    );

    // With it, the Secret gets a fresh token.
    let update_grant = format!("cluster:create,update={}/Secret", ns.name());
    let mut renew = ctx(Some(&host), &[&token_grant, &update_grant]);
    renew.log = run.log.clone();
    let (kind, message) = call(&task, &renew, &write("deployer-kubeconfig", "deployer")).await;
    assert_eq!(kind, "none", "{message}");
    let renewed = token_of(&kubeconfig_in_secret(&ns, "deployer-kubeconfig").await.1);
    assert_ne!(renewed, token);

    // A missing ServiceAccount: not-found, and no Secret left behind.
    let (kind, message) = call(&task, &run, &write("ghost-kubeconfig", "ghost")).await;
    assert_eq!(kind, "not-found", "{message}");
    assert!(
        Api::<Secret>::namespaced(admin.clone(), &ns)
            .get_opt("ghost-kubeconfig")
            .await
            .unwrap()
            .is_none()
    );

    // Without the token grant: denied, naming both.
    let only_create = ctx(Some(&host), &[&create_grant]);
    let (kind, message) = call(&task, &only_create, &write("other-kubeconfig", "deployer")).await;
    assert_eq!(kind, "denied", "{message}");
    assert!(
        message.contains(&format!("needs token on {}/ServiceAccount", ns.name())),
        "{message}"
    );
    assert!(message.contains(&create_grant), "{message}");

    // The token is bound to its Secret: deleting the Secret revokes it.
    Api::<Secret>::namespaced(admin.clone(), &ns)
        .delete("deployer-kubeconfig", &Default::default())
        .await
        .unwrap();
    let renewed_config = kubeconfig.replace(&token, &renewed);
    eventually(
        "the deleted Secret's token to stop working",
        Duration::from_secs(30),
        || {
            let config = renewed_config.clone();
            async move {
                let client = client_from_kubeconfig_text(&config).await;
                match whoami(client).await {
                    Err(kube::Error::Api(s)) if s.code == 401 => Ok(Some(())),
                    Ok(user) => Err(anyhow::anyhow!("still authenticates as {user}")),
                    Err(e) => Err(e.into()),
                }
            }
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_list_follows_continue_tokens_to_the_last_page() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-pages").await.unwrap();
    for name in ["p1", "p2", "p3", "p4", "p5"] {
        admin_create_config_map(&ns, name, &[("page", "test")]).await;
    }
    // Two objects a request: the API server answers in three pages.
    let host = Arc::new(
        ClusterClient::from_kubeconfig(
            &stack.admin_kubeconfig(),
            ClusterOptions {
                list_page: 2,
                ..ClusterOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let grant = format!("cluster:list={}/ConfigMap", ns.name());
    let ctx = ctx(Some(&host), &[&grant]);
    let task = Harness::new().fixture();
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "list"),
            ("namespace", &ns),
            ("label-selector", "page=test"),
        ],
    )
    .await;
    assert_eq!(kind, "none", "{message}");
    let names: Vec<String> = json_of(&message)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["p1", "p2", "p3", "p4", "p5"]);
}

#[tokio::test]
async fn a_grant_with_a_group_covers_that_api_group_only() {
    let stack = Stack::shared();
    let ns = stack.namespace("cluster-group").await.unwrap();
    admin_create_config_map(&ns, "core", &[]).await;
    let host = admin_host().await;
    let grant = format!("cluster:get={}/ConfigMap.core", ns.name());
    let ctx = ctx(Some(&host), &[&grant]);
    let task = Harness::new().fixture();

    let (kind, message) = call(
        &task,
        &ctx,
        &[("call", "get"), ("namespace", &ns), ("name", "core")],
    )
    .await;
    assert_eq!(kind, "none", "{message}");

    // The same kind name in another API group: refused before the API server is asked.
    let (kind, message) = call(
        &task,
        &ctx,
        &[
            ("call", "get"),
            ("api-version", "lookalike.example/v1"),
            ("namespace", &ns),
            ("name", "core"),
        ],
    )
    .await;
    assert_eq!(kind, "denied", "{message}");
    assert!(message.contains(&grant), "{message}");
}
