//! The CLI as a user runs it: the real binary, real files, a real registry.

use std::path::PathBuf;
use std::process::{Command, Output};

struct Cli {
    cache: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kubectl-release"))
            .args(args)
            .env("KUBECTL_RELEASE_CACHE", self.cache.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fixture() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("tasks/fixtures/fixture.wasm");
    assert!(
        path.exists(),
        "{}: run `cargo xtask build-tasks` first",
        path.display()
    );
    path
}

#[test]
fn lists_and_runs_the_embedded_echo_task() {
    let cli = Cli::new();
    let list = cli.run(&["task", "list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(
        text(&list.stdout).contains("echo"),
        "{}",
        text(&list.stdout)
    );

    let run = cli.run(&["task", "run", "echo", "--param", "message=hi there"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("message: hi there"),
        "{}",
        text(&run.stdout)
    );

    let json = cli.run(&["task", "run", "echo", "--param", "message=x", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["outcome"], "succeeded");
    assert!(report["digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn copies_files_between_the_granted_trees() {
    let cli = Cli::new();
    let input = tempfile::tempdir().unwrap();
    let output = tempfile::tempdir().unwrap();
    std::fs::create_dir(input.path().join("config")).unwrap();
    std::fs::write(input.path().join("config/prod.yaml"), "replicas: 3\n").unwrap();
    let run = cli.run(&[
        "task",
        "run",
        "echo",
        "--param",
        "files=true",
        "--input",
        input.path().to_str().unwrap(),
        "--output",
        output.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_eq!(
        std::fs::read_to_string(output.path().join("out/config/prod.yaml")).unwrap(),
        "replicas: 3\n"
    );
}

#[test]
fn bad_input_exits_2_naming_what_is_wrong() {
    let cli = Cli::new();
    let unknown = cli.run(&["task", "run", "echo", "--param", "mesage=x"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("did you mean `message`"),
        "{}",
        text(&unknown.stderr)
    );

    let grant = cli.run(&["task", "run", "echo", "--grant", "registy:push=a/b"]);
    assert_eq!(grant.status.code(), Some(2));
    assert!(
        text(&grant.stderr).contains("registy:push=a/b"),
        "{}",
        text(&grant.stderr)
    );

    let missing = cli.run(&["task", "run", "no-such-task"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("embedded tasks: "),
        "{}",
        text(&missing.stderr)
    );

    let required = cli.run(&["task", "run", fixture().to_str().unwrap()]);
    assert_eq!(required.status.code(), Some(2));
    assert!(
        text(&required.stderr).contains("needs param `mode`"),
        "{}",
        text(&required.stderr)
    );
}

#[test]
fn a_failing_task_exits_1_with_the_reason() {
    let cli = Cli::new();
    let fixture = fixture();
    let trap = cli.run(&[
        "task",
        "run",
        fixture.to_str().unwrap(),
        "--param",
        "mode=unreachable",
    ]);
    assert_eq!(trap.status.code(), Some(1));
    assert!(
        text(&trap.stderr).contains("Trap: "),
        "{}",
        text(&trap.stderr)
    );

    let slow = cli.run(&[
        "task",
        "run",
        fixture.to_str().unwrap(),
        "--param",
        "mode=loop",
        "--timeout",
        "200ms",
        "-o",
        "json",
    ]);
    assert_eq!(slow.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&slow.stdout).unwrap();
    assert_eq!(report["reason"], "DeadlineExceeded");
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("timeout of 200ms"), "{message}");
}

#[test]
fn dry_run_shows_grants_and_runs_nothing() {
    let cli = Cli::new();
    let out = cli.run(&[
        "task",
        "run",
        fixture().to_str().unwrap(),
        "--param",
        "mode=loop",
        "--grant",
        "registry:push=127.0.0.1:5000/team/app",
        "--grant",
        "cluster:get,list=team-a/ConfigMap",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("registry:push=127.0.0.1:5000/team/app"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cluster:get,list=team-a/ConfigMap"),
        "{stdout}"
    );
    assert!(stdout.contains("mode = loop"), "{stdout}");
}

#[test]
fn a_second_process_start_does_not_compile_again() {
    let cli = Cli::new();
    let fixture = fixture();
    let first = cli.run(&["task", "inspect", fixture.to_str().unwrap(), "-o", "json"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["compiled"], "compiled now");
    assert_eq!(first["world"], "kubectl-release:task/task@0.1.0");
    assert!(
        first["params"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "mode")
    );

    let second = cli.run(&["task", "inspect", fixture.to_str().unwrap(), "-o", "json"]);
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(second["compiled"], "precompiled (cache)");
    assert_eq!(first["digest"], second["digest"]);
}

#[test]
fn push_pull_and_run_through_a_real_registry() {
    let registry = kubectl_release_stack::registry::Registry::start().unwrap();
    let cli = Cli::new();
    let fixture = fixture();
    let reference = format!("oci://{}/tasks/fixture:v1", registry.addr());

    let push = cli.run(&[
        "task",
        "push",
        fixture.to_str().unwrap(),
        &reference,
        "-o",
        "json",
    ]);
    assert!(push.status.success(), "{}", text(&push.stderr));
    let pushed: serde_json::Value = serde_json::from_slice(&push.stdout).unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"));

    let pull = cli.run(&["task", "pull", &reference, "-o", "json"]);
    assert!(pull.status.success(), "{}", text(&pull.stderr));
    let pulled: serde_json::Value = serde_json::from_slice(&pull.stdout).unwrap();
    assert_eq!(pulled["digest"], digest.as_str());

    let run = cli.run(&["task", "run", &reference, "--param", "mode=ok"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(
        text(&run.stderr).contains(&digest),
        "the resolved digest is printed: {}",
        text(&run.stderr)
    );
    assert!(text(&run.stdout).contains("mode: ok"));
}

#[test]
fn cluster_grants_reach_the_cluster_as_the_kubeconfig_user_and_nothing_more() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams};
    use kubectl_release_stack::Stack;

    let stack = Stack::shared();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ns = rt.block_on(async {
        let ns = stack.namespace("cli-cluster").await.unwrap();
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "portal"}, "data": {"replicas": "3"}
        }))
        .unwrap();
        Api::<ConfigMap>::namespaced(stack.admin().await.unwrap(), &ns)
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
        ns
    });
    let cli = Cli::new();
    // The unprivileged test user: the run acts as whoever the kubeconfig names.
    let run = |name: &str, grant: &str| {
        Command::new(env!("CARGO_BIN_EXE_kubectl-release"))
            .args(["task", "run", fixture().to_str().unwrap(), "-o", "json"])
            .args([
                "-p",
                "mode=cluster-call",
                "-p",
                "call=get",
                "-p",
                &format!("namespace={}", &*ns),
            ])
            .args(["-p", &format!("name={name}"), "--grant", grant])
            .env("KUBECTL_RELEASE_CACHE", cli.cache.path())
            .env("KUBECONFIG", stack.tester_kubeconfig())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let result = |out: &Output, name: &str| -> String {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
        report["results"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["name"] == name))
            .and_then(|r| r["value"].as_str())
            .unwrap_or_else(|| panic!("no result {name} in {report}"))
            .to_owned()
    };

    let got = run("portal", &format!("cluster:get={}/ConfigMap", &*ns));
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(result(&got, "error-kind"), "none");
    let object: serde_json::Value = serde_json::from_str(&result(&got, "message")).unwrap();
    assert_eq!(object["data"]["replicas"], "3");

    let denied = run("portal", &format!("cluster:get={}/Secret", &*ns));
    assert_eq!(result(&denied, "error-kind"), "denied");
    assert!(
        result(&denied, "message").contains("granted: cluster:get="),
        "{}",
        result(&denied, "message")
    );
}
