//! Test harness for the local stack started by `hack/stack` (see `docs/stack.md`).
//!
//! Every test calls [`Stack::shared`]. With `KUBECTL_RELEASE_STACK` set (the README's test command
//! runs `hack/stack up` once and exports it) the running stack in that state directory is used and
//! left running. Without it, the first test of a run starts a private stack under the system temp
//! directory; test binaries of the same run share it (a file lock serialises start-up) and a small
//! reaper process stops it once no test process has used it for a grace period. That reaper exists
//! because cargo runs test binaries one after another and Rust has no hook that runs after the last
//! test of a process: a stack stopped at the end of one binary would be rebuilt by the next one,
//! and a stack never stopped would leak processes.
//!
//! A stack that cannot start makes the calling test panic with the reason and the log tail; tests
//! are never skipped.

pub mod registry;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::future::Future;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Environment variable naming the state directory of a running stack to reuse.
pub const STACK_ENV: &str = "KUBECTL_RELEASE_STACK";
/// The user name (client certificate CN) of the unprivileged kubeconfig.
pub const TESTER_USER: &str = "kubectl-release-tester";
/// Label put on every namespace made by [`Stack::namespace`], so leftovers are easy to find.
pub const TEST_NAMESPACE_LABEL: &str = "kubectl-release.dev/test";

/// Seconds the reaper waits without any live test process before it stops a private stack; long
/// enough for cargo to start the next test binary.
const REAPER_GRACE_SECONDS: u32 = 20;

/// A running local stack, described by the `stack.env` file in its state directory.
#[derive(Debug, Clone)]
pub struct Stack {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

/// The htpasswd-protected registry and its test user.
#[derive(Debug, Clone)]
pub struct AuthRegistry {
    /// `127.0.0.1:<port>`, plain HTTP.
    pub address: String,
    pub username: String,
    pub password: String,
    /// A file holding `username:password`.
    pub credentials_file: PathBuf,
}

impl Stack {
    /// The stack shared by all tests of this run: the one named by `KUBECTL_RELEASE_STACK`, or a
    /// private one started on first use. Panics with the reason when no stack can be had.
    pub fn shared() -> &'static Stack {
        static SHARED: OnceLock<Result<Stack, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Stack::connect().map_err(|e| format!("{e:#}"))) {
            Ok(stack) => stack,
            Err(reason) => panic!("the local test stack is not available: {reason}"),
        }
    }

    fn connect() -> Result<Stack> {
        match std::env::var_os(STACK_ENV) {
            Some(dir) if !dir.is_empty() => Stack::open(PathBuf::from(dir)),
            _ => private::start(),
        }
    }

    /// Opens the running stack whose state directory is `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Stack> {
        let dir = dir.into();
        let env_file = dir.join("stack.env");
        let text = fs::read_to_string(&env_file).with_context(|| {
            format!(
                "{} not readable: is the stack up? (hack/stack up, then export {STACK_ENV}={})",
                env_file.display(),
                dir.display()
            )
        })?;
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let stack = Stack { dir, env };
        let apiserver_pid = stack.dir.join("pids/kube-apiserver.pid");
        let pid = fs::read_to_string(&apiserver_pid)
            .with_context(|| format!("{} missing: stack not running", apiserver_pid.display()))?;
        if !Path::new("/proc").join(pid.trim()).exists() {
            bail!(
                "kube-apiserver (pid {}) of the stack in {} is not running; see {}",
                pid.trim(),
                stack.dir.display(),
                stack.dir.join("logs/kube-apiserver.log").display()
            );
        }
        Ok(stack)
    }

    /// The state directory (`KUBECTL_RELEASE_STACK`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A value of `stack.env`, e.g. `KUBECTL_RELEASE_STACK_REGISTRY`.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.env
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, key: &str) -> &str {
        self.var(key)
            .unwrap_or_else(|| panic!("{key} missing in {}/stack.env", self.dir.display()))
    }

    /// Admin kubeconfig (client certificate in `system:masters`).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        PathBuf::from(self.required("KUBECONFIG"))
    }

    /// Kubeconfig of [`TESTER_USER`], who has no cluster-wide rights, `edit` in
    /// [`Stack::tester_namespace`] and in every namespace made by [`Stack::namespace`].
    pub fn tester_kubeconfig(&self) -> PathBuf {
        PathBuf::from(self.required("KUBECTL_RELEASE_STACK_TESTER_KUBECONFIG"))
    }

    /// The namespace the stack itself grants [`TESTER_USER`] `edit` in.
    pub fn tester_namespace(&self) -> &str {
        self.required("KUBECTL_RELEASE_STACK_TESTER_NAMESPACE")
    }

    /// `https://127.0.0.1:<port>`.
    pub fn apiserver_url(&self) -> &str {
        self.required("KUBECTL_RELEASE_STACK_APISERVER")
    }

    /// A client with cluster-admin rights. Make one per test: a client belongs to the tokio
    /// runtime it was made in, and each `#[tokio::test]` has its own.
    pub async fn admin(&self) -> Result<Client> {
        client_from(&self.admin_kubeconfig()).await
    }

    /// A client for [`TESTER_USER`].
    pub async fn tester(&self) -> Result<Client> {
        client_from(&self.tester_kubeconfig()).await
    }

    /// The plain-HTTP registry without auth (Debian docker-registry), `127.0.0.1:<port>`.
    pub fn registry(&self) -> &str {
        self.required("KUBECTL_RELEASE_STACK_REGISTRY")
    }

    /// The htpasswd-protected registry.
    pub fn auth_registry(&self) -> AuthRegistry {
        AuthRegistry {
            address: self
                .required("KUBECTL_RELEASE_STACK_REGISTRY_AUTH")
                .to_owned(),
            username: self
                .required("KUBECTL_RELEASE_STACK_REGISTRY_AUTH_USER")
                .to_owned(),
            password: self
                .required("KUBECTL_RELEASE_STACK_REGISTRY_AUTH_PASSWORD")
                .to_owned(),
            credentials_file: PathBuf::from(
                self.required("KUBECTL_RELEASE_STACK_REGISTRY_AUTH_FILE"),
            ),
        }
    }

    /// The OCI 1.1 registry with the referrers API (`hack/oci11-registry`, go-containerregistry's
    /// registry; anonymous, plain HTTP), `127.0.0.1:<port>`. Shared by every test of the run; a
    /// test that needs a registry of its own uses [`registry::Registry::start_oci11`].
    pub fn oci11_registry(&self) -> &str {
        self.required("KUBECTL_RELEASE_STACK_OCI11_REGISTRY")
    }

    /// The `oci11-registry` binary the stack runs.
    pub fn oci11_registry_bin(&self) -> PathBuf {
        PathBuf::from(self.required("KUBECTL_RELEASE_STACK_OCI11_REGISTRY_BIN"))
    }

    /// Flux source-controller's artifact storage server, `127.0.0.1:<port>`.
    pub fn source_controller(&self) -> &str {
        self.required("KUBECTL_RELEASE_STACK_SOURCE_CONTROLLER")
    }

    /// The kubectl built with the stack, for debugging and scripts (tests use kube clients).
    pub fn kubectl(&self) -> PathBuf {
        PathBuf::from(self.required("KUBECTL_RELEASE_STACK_KUBECTL"))
    }

    /// A fresh namespace `<prefix>-<unique suffix>` in which [`TESTER_USER`] has `edit`. The guard
    /// deletes it when dropped.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace> {
        let name = unique_name(prefix);
        let client = self.admin().await?;
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_NAMESPACE_LABEL.to_owned(), "true".to_owned())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        let guard = TestNamespace {
            name: name.clone(),
            kubeconfig: self.admin_kubeconfig(),
        };
        let binding = RoleBinding {
            metadata: ObjectMeta {
                name: Some(format!("{TESTER_USER}-edit")),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: "edit".into(),
            },
            subjects: Some(vec![Subject {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "User".into(),
                name: TESTER_USER.into(),
                namespace: None,
            }]),
        };
        Api::<RoleBinding>::namespaced(client, &name)
            .create(&PostParams::default(), &binding)
            .await
            .with_context(|| format!("binding {TESTER_USER} to edit in {name}"))?;
        Ok(guard)
    }
}

/// A namespace owned by one test; deleted (without waiting) on drop.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    kubeconfig: PathBuf,
}

impl TestNamespace {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::ops::Deref for TestNamespace {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be shutting down: delete from a thread
        // with its own runtime and client.
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let deleted = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let client = client_from(&kubeconfig).await?;
                match Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
                    Err(e) => Err(e.into()),
                }
            })
        })
        .join();
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: deleting test namespace {}: {e:#}", self.name),
            Err(_) => eprintln!("warning: deleting test namespace {} panicked", self.name),
        }
    }
}

/// A kube client from a kubeconfig file.
pub async fn client_from(kubeconfig: &Path) -> Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", kubeconfig.display()))?;
    Client::try_from(config).context("building kube client")
}

/// Polls `check` until it yields `Some`, or fails after `timeout` with `what` and the last error.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last = String::from("condition not met");
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if start.elapsed() > timeout {
            return Err(anyhow!(
                "timed out after {timeout:?} waiting for {what}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `<prefix>-<suffix>`: unique across processes and calls, valid as a namespace or object name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix = format!("{:x}{:x}{n:x}", std::process::id(), nanos >> 12);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63 - suffix.len() - 1)
        .collect();
    format!("{}-{suffix}", prefix.trim_matches('-'))
}

/// The repository root, where `hack/stack` lives.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

mod private {
    //! A private stack for runs without `KUBECTL_RELEASE_STACK`.
    use super::*;

    const REAPER: &str = r#"
users=$1; lock=$2; stack=$3; grace=$4; log=$5
idle=0
while :; do
  sleep 1
  exec 9>>"$lock"
  flock 9
  live=0
  for f in "$users"/[0-9]*; do
    [ -e "$f" ] || continue
    if kill -0 "${f##*/}" 2>/dev/null; then live=1; else rm -f "$f"; fi
  done
  if [ "$live" = 1 ]; then idle=0; else idle=$((idle + 1)); fi
  if [ "$idle" -ge "$grace" ]; then
    "$stack" down >>"$log" 2>&1
    rm -rf "$users"
    exit 0
  fi
  exec 9>&-
done
"#;

    pub(super) fn start() -> Result<Stack> {
        let base = std::env::temp_dir();
        let dir = base.join("kubectl-release-stack");
        let users = base.join("kubectl-release-stack.users");
        let lock_path = base.join("kubectl-release-stack.lock");
        let lock = File::options()
            .create(true)
            .append(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        // Serialises start-up and registration against other test processes and the reaper.
        lock.lock().context("locking the private stack")?;
        fs::create_dir_all(&users)?;
        File::create(users.join(std::process::id().to_string()))?;

        let stack_script = repo_root().join("hack/stack");
        if Stack::open(&dir).is_err() {
            eprintln!(
                "{STACK_ENV} not set: starting a private stack in {} (hack/stack up)",
                dir.display()
            );
            let out = Command::new(&stack_script)
                .arg("up")
                .env("KUBECTL_RELEASE_STACK_DIR", &dir)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running {}", stack_script.display()))?;
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                bail!(
                    "hack/stack up failed ({}):\n{}",
                    out.status,
                    tail.join("\n")
                );
            }
        }
        ensure_reaper(&base, &users, &lock_path, &stack_script, &dir)?;
        let stack = Stack::open(&dir)?;
        drop(lock);
        Ok(stack)
    }

    fn ensure_reaper(
        base: &Path,
        users: &Path,
        lock: &Path,
        stack_script: &Path,
        dir: &Path,
    ) -> Result<()> {
        let pid_file = base.join("kubectl-release-stack.reaper.pid");
        if let Ok(pid) = fs::read_to_string(&pid_file)
            && Path::new("/proc").join(pid.trim()).exists()
        {
            return Ok(());
        }
        // Own process group: the reaper must outlive this test process and not get its Ctrl-C.
        let child = Command::new("bash")
            .process_group(0)
            .arg("-c")
            .arg(REAPER)
            .arg("reaper")
            .arg(users)
            .arg(lock)
            .arg(stack_script)
            .arg(REAPER_GRACE_SECONDS.to_string())
            .arg(base.join("kubectl-release-stack.reaper.log"))
            .env("KUBECTL_RELEASE_STACK_DIR", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the stack reaper")?;
        let mut f = File::create(&pid_file)?;
        write!(f, "{}", child.id())?;
        Ok(())
    }
}
