//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on a free
//! 127.0.0.1 port, with its own config and storage in a temporary directory.
//!
//! The storage directory is exposed on purpose: fault-injection tests corrupt blobs on disk to
//! prove that clients verify what they receive instead of trusting the registry.
//!
//! [`Registry::start_oci11`] starts the stack's OCI 1.1 registry instead (`hack/oci11-registry`:
//! go-containerregistry's registry with the referrers API), built on demand by
//! `hack/stack build oci11-registry`.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where Debian installs distribution's registry binary.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// A free port can be taken between our probe and the registry's bind; retry with a new one.
const START_ATTEMPTS: usize = 3;

pub type Result<T> = std::result::Result<T, RegistryError>;

#[derive(Debug)]
pub struct RegistryError(String);

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegistryError {}

/// `docker-registry serve CONFIG`, its output to `log`.
fn serve(config_path: &Path, log: fs::File) -> Result<std::process::Child> {
    let log_err = log
        .try_clone()
        .map_err(|e| err(format!("cloning the log handle: {e}")))?;
    Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| err(format!("starting {REGISTRY_BIN}: {e}")))
}

fn err(msg: impl Into<String>) -> RegistryError {
    RegistryError(msg.into())
}

/// A running registry; the process is killed and its storage removed on drop.
pub struct Registry {
    child: Option<Child>,
    addr: SocketAddr,
    dir: TempDir,
    auth: Option<(String, String)>,
    kind: Kind,
}

/// Which registry implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's `docker-registry` (distribution 2.8): no referrers API, per-repository blob links,
    /// cross-repository mounts.
    Distribution,
    /// `hack/oci11-registry` (go-containerregistry's `pkg/registry`): the OCI 1.1 referrers API
    /// and `OCI-Subject`; no auth, no mounts (one blob store for all repositories, so a blob
    /// pushed anywhere is present everywhere); manifests in memory, blobs on disk.
    Oci11,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a test secret, but tests assert that secrets never leak through Debug.
        f.debug_struct("Registry")
            .field("addr", &self.addr)
            .field("dir", &self.dir.path())
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Starts an anonymous registry (no auth).
    pub fn start() -> Result<Self> {
        Self::launch(None)
    }

    /// Starts a registry that requires HTTP basic auth for `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Result<Self> {
        Self::launch(Some((user.to_owned(), password.to_owned())))
    }

    /// Starts a fresh OCI 1.1 registry with the referrers API (`hack/oci11-registry`), anonymous,
    /// its blobs in a temporary directory. The binary is built on first use in a process by
    /// `hack/stack build oci11-registry` (cached; seconds when Go's build cache is warm).
    pub fn start_oci11() -> Result<Self> {
        let bin = oci11_binary()?;
        let dir = TempDir::new()
            .map_err(|e| err(format!("creating a temp dir for the registry: {e}")))?;
        let log_path = dir.path().join("registry.log");
        let log = fs::File::create(&log_path)
            .map_err(|e| err(format!("creating {}: {e}", log_path.display())))?;
        // Port 0: the registry binds a free port itself and prints its address first, so there
        // is no window between choosing a port and binding it.
        let mut child = Command::new(&bin)
            .args(["-port", "0", "-blobs"])
            .arg(dir.path().join("storage"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| err(format!("starting {}: {e}", bin.display())))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        let read = io::BufReader::new(stdout).read_line(&mut first);
        let addr = match (read, first.trim().parse::<SocketAddr>()) {
            (Ok(_), Ok(addr)) => addr,
            (read, _) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!(
                    "{} printed no address ({read:?}, {first:?}); log:\n{}",
                    bin.display(),
                    fs::read_to_string(&log_path).unwrap_or_default()
                )));
            }
        };
        if let Err(e) = wait_ready(&mut child, addr) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err(format!(
                "{e}; log:\n{}",
                fs::read_to_string(&log_path).unwrap_or_default()
            )));
        }
        Ok(Registry {
            child: Some(child),
            addr,
            dir,
            auth: None,
            kind: Kind::Oci11,
        })
    }

    /// Which implementation this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `127.0.0.1:PORT`, the registry host as it appears in image references.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The registry's filesystem storage root; blobs live under
    /// `docker/registry/v2/blobs/sha256/<first 2 hex>/<hex>/data` ([`Kind::Distribution`]) or
    /// `sha256/<hex>` ([`Kind::Oci11`], which keeps only blobs on disk).
    pub fn storage_root(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Every blob data file in the registry's storage: a mount or a retag adds none, an upload
    /// adds one (for [`Kind::Oci11`]: an upload of a blob the registry has in no repository).
    pub fn stored_blobs(&self) -> std::collections::BTreeSet<PathBuf> {
        fn walk(dir: &Path, out: &mut std::collections::BTreeSet<PathBuf>, data: bool) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out, data);
                } else if !data || p.file_name().is_some_and(|n| n == "data") {
                    out.insert(p);
                }
            }
        }
        let mut out = std::collections::BTreeSet::new();
        match self.kind {
            Kind::Distribution => walk(
                &self.storage_root().join("docker/registry/v2/blobs"),
                &mut out,
                true,
            ),
            Kind::Oci11 => walk(&self.storage_root().join("sha256"), &mut out, false),
        }
        out
    }

    /// The on-disk file holding the blob with this `sha256` hex digest.
    pub fn blob_data_path(&self, sha256_hex: &str) -> PathBuf {
        match self.kind {
            Kind::Distribution => self
                .storage_root()
                .join("docker/registry/v2/blobs/sha256")
                .join(&sha256_hex[..2])
                .join(sha256_hex)
                .join("data"),
            Kind::Oci11 => self.storage_root().join("sha256").join(sha256_hex),
        }
    }

    /// The credentials this registry accepts, if it was started with htpasswd.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's own log, for diagnosing a failing test.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Kills the registry now (the storage stays until drop), e.g. to prove that a later
    /// operation makes no network call.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the registry and starts it again on the same address with the same storage and
    /// credentials, as an operator's restart would; clients see refused connections meanwhile.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.start_again()
    }

    /// Starts a stopped registry again on the same address and storage (see [`Self::stop`]).
    /// Not for [`Kind::Oci11`], whose manifests live in memory and would be gone.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        if self.kind == Kind::Oci11 {
            return Err(err(
                "the OCI 1.1 registry keeps manifests in memory: a restart would lose them",
            ));
        }
        let log_path = self.dir.path().join("registry.log");
        let log = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(|e| err(format!("opening {}: {e}", log_path.display())))?;
        let mut child = serve(&self.dir.path().join("config.yml"), log)?;
        match wait_ready(&mut child, self.addr) {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(err(format!(
                    "restarting the registry on {}: {e}; registry log:\n{}",
                    self.addr,
                    self.log()
                )))
            }
        }
    }

    fn launch(auth: Option<(String, String)>) -> Result<Self> {
        if !Path::new(REGISTRY_BIN).exists() {
            return Err(err(format!(
                "{REGISTRY_BIN} not found: install it with `apt-get install docker-registry` \
                 (the project's setup script does this)"
            )));
        }
        let dir = TempDir::new()
            .map_err(|e| err(format!("creating a temp dir for the registry: {e}")))?;
        fs::create_dir_all(dir.path().join("storage"))
            .map_err(|e| err(format!("creating registry storage: {e}")))?;
        let htpasswd_path = match &auth {
            Some((user, password)) => Some(write_htpasswd(dir.path(), user, password)?),
            None => None,
        };

        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let addr = free_port()?;
            let config = config_yaml(addr, &dir.path().join("storage"), htpasswd_path.as_deref());
            let config_path = dir.path().join("config.yml");
            fs::write(&config_path, config)
                .map_err(|e| err(format!("writing {}: {e}", config_path.display())))?;
            let log_path = dir.path().join("registry.log");
            let log = fs::File::create(&log_path)
                .map_err(|e| err(format!("creating {}: {e}", log_path.display())))?;
            let mut child = serve(&config_path, log)?;
            match wait_ready(&mut child, addr) {
                Ok(()) => {
                    return Ok(Registry {
                        child: Some(child),
                        addr,
                        dir,
                        auth,
                        kind: Kind::Distribution,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = fs::read_to_string(&log_path).unwrap_or_default();
                    last_error = format!("{e}; registry log:\n{log}");
                }
            }
        }
        Err(err(format!(
            "docker-registry did not start after {START_ATTEMPTS} attempts: {last_error}"
        )))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `hack/oci11-registry` binary, built (or found up to date) once per process by
/// `hack/stack build oci11-registry`, which prints its path and serialises concurrent builds.
fn oci11_binary() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = crate::repo_root().join("hack/stack");
        let out = Command::new(&script)
            .args(["build", "oci11-registry"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {} build oci11-registry: {e}", script.display()))?;
        let path = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .map(|l| PathBuf::from(l.trim()))
            .unwrap_or_default();
        if !out.status.success() || !path.is_file() {
            return Err(format!(
                "hack/stack build oci11-registry failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(path)
    })
    .clone()
    .map_err(err)
}

fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(err(format!("the registry exited early with {status}")));
        }
        match probe_v2(addr) {
            // 401 means up: the htpasswd instance answers /v2/ only to authenticated clients.
            Ok(200) | Ok(401) => return Ok(()),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(status) => {
                return Err(err(format!(
                    "GET /v2/ answered {status} until the deadline"
                )));
            }
            Err(e) => {
                return Err(err(format!(
                    "GET /v2/ on {addr} failed until the deadline: {e}"
                )));
            }
        }
    }
}

/// A directory removed on drop; std only, so the harness needs no extra dependency.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "kr-registry-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| err(format!("finding a free port on 127.0.0.1: {e}")))?;
    listener
        .local_addr()
        .map_err(|e| err(format!("finding a free port on 127.0.0.1: {e}")))
}

fn write_htpasswd(dir: &Path, user: &str, password: &str) -> Result<PathBuf> {
    let output = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .map_err(|e| {
            err(format!(
                "running htpasswd: {e} (install it with `apt-get install apache2-utils`)"
            ))
        })?;
    if !output.status.success() {
        return Err(err(format!(
            "htpasswd failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let path = dir.join("htpasswd");
    fs::write(&path, &output.stdout)
        .map_err(|e| err(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

fn config_yaml(addr: SocketAddr, storage: &Path, htpasswd: Option<&Path>) -> String {
    // No blob descriptor cache: every request reads the storage, so on-disk faults are visible
    // immediately. `delete.enabled` lets tests remove manifests and blobs through the API.
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: {addr}\n  secret: kubectl-release-test-only\n",
        storage = yaml_quote(&storage.display().to_string()),
    );
    if let Some(path) = htpasswd {
        let _ = write!(
            yaml,
            "auth:\n  htpasswd:\n    realm: kubectl-release-test\n    path: {}\n",
            yaml_quote(&path.display().to_string())
        );
    }
    yaml
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Status code of `GET /v2/`, with std only so the launcher needs no HTTP client.
fn probe_v2(addr: SocketAddr) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET /v2/ HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    // "HTTP/1.x NNN"
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("not an HTTP response"))
}
