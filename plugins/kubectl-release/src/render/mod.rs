//! `kubectl release render` and `kubectl release bundle`: a devfile and its configuration in,
//! plain manifests out (a directory or stdout), or a Flux OCI artifact pushed to a registry, by
//! the embedded `render-manifests` task. The task's input tree is the closest directory that
//! holds the devfile, its config directory, the values files and the snapshot; a bundle run is
//! granted exactly `registry:push` on the target repository. With `--config-from`, the task reads
//! the ConfigMaps and Secrets itself through the `cluster` import, as the kubeconfig's user (like
//! kubectl), granted exactly `cluster:get` on `NAMESPACE/ConfigMap` and/or `NAMESPACE/Secret`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use kubectl_release_runtime::registry::{RegistryClient, RegistryOptions, Repository};
use kubectl_release_runtime::{
    ClusterClient, ClusterOptions, Digest, FileTrees, GivenValue, Grants, LogLevel, LogSink,
    RunContext, RunIdentity, RunOutcome, Value, params,
};
use render_manifests_task::objects::{ConfigKind, ConfigRef};
use render_manifests_task::{INPUT_REASONS, TASK_NAME, parse_target};

use crate::cli::{OutputFormat, TaskRef};
use crate::{EXIT_TASK_FAILED, EXIT_USAGE, source};

/// What to render. Precedence, lowest first: the devfile's variables, <config-dir>/base.yaml,
/// <config-dir>/<env>.yaml, --config-from objects in order, --values files in order, --set in
/// order, --var-file, --var. A HelmRelease's values are the layers from base.yaml to --set
/// (variables only feed `{{ }}`).
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The devfile.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        default_value = "devfile.yaml"
    )]
    pub devfile: PathBuf,
    /// Environment: <config-dir>/base.yaml then <config-dir>/<ENV>.yaml (which must exist).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// The values directory, relative to the devfile.
    #[arg(long, value_name = "DIR", default_value = "config")]
    pub config_dir: String,
    /// Values from a ConfigMap or Secret in the cluster (configmap/NAME, cm/NAME or secret/NAME),
    /// over the env file, under --values; later ones winning. A key ending in .yaml, .yml or
    /// .json holds a values document, any other key a.b.c is set like --set a.b.c=VALUE, in
    /// sorted key order. Read with your kubeconfig (KUBECONFIG or ~/.kube/config).
    #[arg(long = "config-from", value_name = "KIND/NAME", value_parser = ConfigRef::parse)]
    pub config_from: Vec<ConfigRef>,
    /// Namespace of the --config-from objects (default: the kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// More values files, later ones winning.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// A value: path.to.key=value.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A devfile variable override: NAME=VALUE.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Variable overrides from a file of NAME=VALUE lines (# comments allowed).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_file: Option<PathBuf>,
    /// A Snapshot whose images (components[].containerImage, REPO@sha256:...) are pinned.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Total time for the run.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Take the task from this OCI reference instead of the embedded one.
    #[arg(long, value_name = "oci://REF")]
    pub module: Option<String>,
    #[command(flatten)]
    pub helm: HelmArgs,
}

const HELM: &str = "HelmRelease";

/// A Flux HelmRelease (helm.toolkit.fluxcd.io/v2) carrying the merged values (base, env,
/// --values, --set; keys sorted), instead of the devfile's manifests.
#[derive(Debug, Args)]
pub struct HelmArgs {
    /// Render a HelmRelease of this name instead of the devfile's manifests.
    #[arg(long, value_name = "NAME", help_heading = HELM)]
    pub helm_release: Option<String>,
    /// The chart: oci://REG/REPO:VERSION (or @sha256:...; a chartRef to an OCIRepository
    /// NAME-chart, rendered too), or a chart name in --chart-source.
    #[arg(
        long,
        value_name = "oci://REG/REPO:VERSION|NAME",
        requires = "helm_release"
    )]
    pub chart: Option<String>,
    /// The chart's version or semver range (an oci:// chart without a tag, or a named chart).
    #[arg(long, value_name = "VERSION", requires = "helm_release", help_heading = HELM)]
    pub chart_version: Option<String>,
    /// Where the named chart is: HelmRepository|GitRepository|Bucket/[NAMESPACE/]NAME; or,
    /// without --chart, the OCIRepository|HelmChart|ExternalArtifact/[NAMESPACE/]NAME to reference.
    #[arg(long, value_name = "KIND/NAME", requires = "helm_release", help_heading = HELM)]
    pub chart_source: Option<String>,
    /// Namespace of the HelmRelease (and of the chart's OCIRepository).
    #[arg(
        long,
        value_name = "NAMESPACE",
        default_value = "flux-system",
        help_heading = HELM
    )]
    pub helm_namespace: String,
    /// Where the chart's resources go (spec.targetNamespace); default: the HelmRelease's namespace.
    #[arg(
        long,
        value_name = "NAMESPACE",
        requires = "helm_release",
        help_heading = HELM
    )]
    pub target_namespace: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Where to write one file per resource; `-`: all of them to stdout, as one YAML stream.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR|-",
        default_value = "-"
    )]
    pub output: String,
    /// Also write the Flux OCIRepository and Kustomization that pull this published bundle.
    #[arg(long, value_name = "oci://REGISTRY/REPO:TAG")]
    pub flux_source: Option<String>,
    /// Namespace of the OCIRepository and Kustomization.
    #[arg(long, value_name = "NAMESPACE", default_value = "flux-system")]
    pub flux_namespace: String,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Where to publish: oci://REGISTRY/REPO:TAG.
    #[arg(
        long,
        value_name = "oci://REGISTRY/REPO:TAG",
        required_unless_present = "output_file"
    )]
    pub push: Option<String>,
    /// Also (or, without --push, only) write the artifact's content layer, the tar.gz Flux
    /// extracts, to FILE: byte for byte the pushed layer, like `flux build artifact --output`.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// org.opencontainers.image.source, e.g. the git URL.
    #[arg(long, value_name = "URL")]
    pub source: String,
    /// org.opencontainers.image.revision: BRANCH@sha1:COMMIT.
    #[arg(long, value_name = "REF")]
    pub revision: String,
    /// `created` from SOURCE_DATE_EPOCH, or the epoch when unset, instead of now (always UTC).
    #[arg(long)]
    pub reproducible: bool,
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output_format: OutputFormat,
}

/// For `-o -`: one file, not one per resource, between the task and stdout.
const STREAM: &str = "stream.yaml";

pub async fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let stdout = args.output == "-";
    let temp;
    let out_dir = if stdout {
        temp = tempfile::tempdir().context("creating a temporary directory")?;
        temp.path().to_path_buf()
    } else {
        PathBuf::from(&args.output)
    };
    let prepared = prepare(&args.input)?;
    let mut given = prepared.given.clone();
    given.insert("write".into(), text("true"));
    if stdout {
        given.insert("stream".into(), text(STREAM));
    }
    if let Some(target) = &args.flux_source {
        given.insert("flux-source".into(), text(target));
        given.insert("flux-namespace".into(), text(&args.flux_namespace));
    }
    let outcome = run(
        &args.input,
        &prepared,
        given,
        Some(&out_dir),
        Grants::default(),
        None,
    )
    .await?;
    let results = match outcome {
        Ok(results) => results,
        Err(code) => return Ok(code),
    };
    if stdout {
        let stream = std::fs::read(out_dir.join(STREAM)).context("reading the rendered stream")?;
        std::io::Write::write_all(&mut std::io::stdout().lock(), &stream)
            .context("writing to stdout")?;
    } else {
        for name in array(&results, "files") {
            println!("{}", out_dir.join(name).display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn bundle(args: BundleArgs) -> anyhow::Result<ExitCode> {
    let target = match &args.push {
        None => None,
        Some(push) => Some(
            parse_target(push)
                .ok_or_else(|| anyhow!("--push `{push}` is not oci://REGISTRY/REPO:TAG"))?,
        ),
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => Some(
            s.trim()
                .parse::<i64>()
                .map_err(|_| anyhow!("SOURCE_DATE_EPOCH `{s}` is not seconds since the epoch"))?,
        ),
        _ => None,
    };
    let created = match (epoch, args.reproducible) {
        (Some(s), _) => s.to_string(),
        (None, true) => "0".to_owned(),
        (None, false) => String::new(),
    };
    // The layer file is the task's whole output tree: its directory, nothing else written.
    let archive = match &args.output_file {
        None => None,
        Some(file) => {
            let file = normalize(&std::path::absolute(file).context("--output-file")?);
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| anyhow!("--output-file {} is not a file name", file.display()))?;
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            Some((dir, name, file))
        }
    };
    let prepared = prepare(&args.input)?;
    let mut given = prepared.given.clone();
    given.insert("write".into(), text("false"));
    if let Some((repository, tag)) = &target {
        given.insert("push".into(), text(&format!("{repository}:{tag}")));
    }
    if let Some((_, name, _)) = &archive {
        given.insert("archive".into(), text(name));
    }
    given.insert("source".into(), text(&args.source));
    given.insert("revision".into(), text(&args.revision));
    given.insert("created".into(), text(&created));
    let (grants, registry) = match &target {
        None => (Grants::default(), None),
        Some((repository, _)) => (
            Grants::parse_all([format!("registry:push={repository}").as_str()])?,
            Some(Arc::new(
                RegistryClient::new(RegistryOptions::default())
                    .context("preparing registry access")?,
            )),
        ),
    };
    // Connecting (credentials, the client's TLS roots) costs about as much as rendering a
    // thousand resources; start it now so the task's first push finds the connection ready.
    if let (Some(client), Some((repository, _))) = (&registry, &target)
        && let Ok(repo) = repository.parse::<Repository>()
    {
        let client = client.clone();
        tokio::spawn(async move {
            let _ = client.blob_exists(&repo, &Digest::of(b"")).await;
        });
    }
    let outcome = run(
        &args.input,
        &prepared,
        given,
        archive.as_ref().map(|(dir, _, _)| dir.as_path()),
        grants,
        registry,
    )
    .await?;
    let results = match outcome {
        Ok(results) => results,
        Err(code) => return Ok(code),
    };
    let digest = match results.get("digest") {
        Some(Value::String(d)) => d.clone(),
        _ => bail!("the task reported no digest"),
    };
    let mut report = serde_json::json!({
        "digest": digest,
        "files": array(&results, "files"),
        "resources": array(&results, "resources"),
    });
    if let Some((repository, tag)) = &target {
        report["url"] = format!("oci://{repository}:{tag}").into();
        report["repository"] = repository.as_str().into();
        report["tag"] = tag.as_str().into();
    }
    if let Some((_, _, file)) = &archive {
        report["output-file"] = file.display().to_string().into();
    }
    crate::output::print(args.output_format, &report, || println!("{digest}"))?;
    Ok(ExitCode::SUCCESS)
}

fn text(s: &str) -> GivenValue {
    GivenValue::Typed(Value::String(s.to_owned()))
}

fn array(results: &BTreeMap<String, Value>, name: &str) -> Vec<String> {
    match results.get(name) {
        Some(Value::Array(a)) => a.clone(),
        _ => vec![],
    }
}

struct Prepared {
    root: PathBuf,
    given: BTreeMap<String, GivenValue>,
}

/// The input tree's root and the params, with every path made relative to the root.
fn prepare(input: &InputArgs) -> anyhow::Result<Prepared> {
    let abs = |p: &Path| -> anyhow::Result<PathBuf> {
        Ok(normalize(
            &std::path::absolute(p).with_context(|| format!("{}", p.display()))?,
        ))
    };
    let devfile = abs(&input.devfile)?;
    if !devfile.is_file() {
        bail!("{}: the devfile does not exist", input.devfile.display());
    }
    let devfile_dir = devfile.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut paths = vec![
        devfile.clone(),
        normalize(&devfile_dir.join(&input.config_dir)).join("x"),
    ];
    let values: Vec<PathBuf> = input
        .values
        .iter()
        .map(|p| abs(p))
        .collect::<Result<_, _>>()?;
    let snapshot = input.snapshot.as_deref().map(abs).transpose()?;
    paths.extend(values.iter().cloned());
    paths.extend(snapshot.iter().cloned());
    let mut root = devfile_dir.clone();
    for p in &paths {
        while !p.starts_with(&root) {
            root = root
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| anyhow!("no common directory"))?;
        }
    }
    let rel = |p: &Path| -> String {
        p.strip_prefix(&root)
            .unwrap_or(p)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut vars = vec![];
    if let Some(file) = &input.var_file {
        let body = std::fs::read_to_string(file)
            .with_context(|| format!("reading the var file {}", file.display()))?;
        for (n, line) in body.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !line.contains('=') {
                bail!("{}:{}: `{line}` is not NAME=VALUE", file.display(), n + 1);
            }
            vars.push(line.to_owned());
        }
    }
    vars.extend(input.vars.iter().cloned());
    let mut given = BTreeMap::new();
    given.insert("devfile".into(), text(&rel(&devfile)));
    given.insert("env".into(), text(input.env.as_deref().unwrap_or("")));
    given.insert("config-dir".into(), text(&input.config_dir));
    given.insert(
        "values".into(),
        GivenValue::Typed(Value::Array(values.iter().map(|p| rel(p)).collect())),
    );
    given.insert(
        "set".into(),
        GivenValue::Typed(Value::Array(input.set.clone())),
    );
    given.insert("vars".into(), GivenValue::Typed(Value::Array(vars)));
    given.insert(
        "snapshot".into(),
        text(&snapshot.as_deref().map(rel).unwrap_or_default()),
    );
    let h = &input.helm;
    for (name, value) in [
        ("helm-release", &h.helm_release),
        ("chart", &h.chart),
        ("chart-version", &h.chart_version),
        ("chart-source", &h.chart_source),
        ("target-namespace", &h.target_namespace),
    ] {
        given.insert(name.into(), text(value.as_deref().unwrap_or("")));
    }
    given.insert("helm-namespace".into(), text(&h.helm_namespace));
    Ok(Prepared { root, given })
}

/// `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Runs the task; `Err(code)` when it failed (the failure is already reported).
async fn run(
    input: &InputArgs,
    prepared: &Prepared,
    given: BTreeMap<String, GivenValue>,
    output: Option<&Path>,
    grants: Grants,
    registry: Option<Arc<RegistryClient>>,
) -> anyhow::Result<Result<BTreeMap<String, Value>, ExitCode>> {
    let runtime = kubectl_release_runtime::Runtime::new(
        kubectl_release_runtime::EngineBuilder::default().build()?,
    )
    .map_err(|e| anyhow!("{e:#}"))?;
    let task_ref = TaskRef {
        task: TASK_NAME.to_owned(),
        module: input.module.clone(),
    };
    let (task, _origin) = source::load(&runtime, &task_ref).await?;
    let mut given = given;
    let mut grants = grants;
    let cluster = match cluster_access(input).await? {
        None => None,
        Some(access) => {
            let refs: Vec<String> = input.config_from.iter().map(ConfigRef::canonical).collect();
            given.insert("config-from".into(), GivenValue::Typed(Value::Array(refs)));
            given.insert("namespace".into(), text(&access.namespace));
            grants
                .cluster
                .extend(Grants::parse_all(access.grants.iter().map(String::as_str))?.cluster);
            Some(access.client)
        }
    };
    tracing::debug!("{TASK_NAME} runs with grants: {}", describe_grants(&grants));
    let spec = task.describe().await?;
    let bound = params::bind(spec, &given)?;
    let files = FileTrees::new(Some(&prepared.root), output).context("preparing the file trees")?;
    let mut ctx = RunContext {
        grants: Arc::new(grants),
        files,
        registry,
        cluster,
        log: log_sink(),
        ..RunContext::default()
    };
    ctx.limits.deadline = input.timeout;
    let identity = RunIdentity {
        name: format!("{TASK_NAME}-cli"),
        namespace: String::new(),
        uid: format!("cli-{}", std::process::id()),
        attempt: 0,
    };
    match task
        .run_to_completion(&ctx, &bound, &identity, input.timeout)
        .await
    {
        RunOutcome::Succeeded { results } => {
            Ok(Ok(results.into_iter().map(|r| (r.name, r.value)).collect()))
        }
        RunOutcome::Failed(f) => {
            eprintln!("error: {}: {}", f.reason, f.message);
            // The task names files relative to its input tree; say where that is unless it is
            // here, or the failure is about a --config-from object rather than a file.
            let object = [
                "configmap ",
                "secret ",
                "reading configmap ",
                "reading secret ",
            ]
            .iter()
            .any(|p| f.message.starts_with(p));
            if !object && std::env::current_dir().ok().as_deref() != Some(prepared.root.as_path()) {
                eprintln!("(file paths are relative to {})", prepared.root.display());
            }
            let code = if INPUT_REASONS.contains(&f.reason.as_str()) {
                EXIT_USAGE
            } else {
                EXIT_TASK_FAILED
            };
            Ok(Err(ExitCode::from(code)))
        }
        RunOutcome::Pending { .. } => unreachable!("run_to_completion never returns pending"),
    }
}

/// What `--config-from` needs: the namespace of the objects, a client as the kubeconfig's user,
/// and the grants (`cluster:get` on `NAMESPACE/ConfigMap` and/or `NAMESPACE/Secret`, no more).
struct ClusterAccess {
    namespace: String,
    client: Arc<ClusterClient>,
    grants: Vec<String>,
}

/// `None` without `--config-from`: no cluster is contacted, and the run may reach none.
async fn cluster_access(input: &InputArgs) -> anyhow::Result<Option<ClusterAccess>> {
    if input.config_from.is_empty() {
        return Ok(None);
    }
    let config = kube::Config::infer()
        .await
        .context("--config-from: connecting to the cluster (KUBECONFIG or ~/.kube/config)")?;
    let namespace = input
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = ClusterClient::new(config, ClusterOptions::default())
        .context("--config-from: preparing cluster access")?;
    let mut grants = vec![];
    for kind in [ConfigKind::ConfigMap, ConfigKind::Secret] {
        if input.config_from.iter().any(|r| r.kind == kind) {
            grants.push(format!("cluster:get={namespace}/{}.core", kind.api_kind()));
        }
    }
    Ok(Some(ClusterAccess {
        namespace,
        client: Arc::new(client),
        grants,
    }))
}

/// Every grant of the run on one line (`-v` shows it).
fn describe_grants(grants: &Grants) -> String {
    if grants.is_empty() {
        return "none".into();
    }
    [grants.describe_registry(), grants.describe_cluster()]
        .into_iter()
        .filter(|g| g != "none")
        .collect::<Vec<_>>()
        .join(", ")
}

/// Task warnings and errors on stderr (stdout carries the manifests or the report).
fn log_sink() -> LogSink {
    LogSink::new(|line| {
        if line.level < LogLevel::Warn {
            return;
        }
        eprintln!("warning: {}", line.message);
    })
}
