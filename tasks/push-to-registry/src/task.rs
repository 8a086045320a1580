use kubectl_release_sdk::prelude::*;

use crate::execute::{Counts, execute, read_configs};
use crate::input::Request;
use crate::plan::{Options, Plan, plan};
use crate::registry::{HostRegistry, Registry};

pub const TASK_NAME: &str = "push-to-registry";

pub struct PushToRegistry;

/// The params, parsed and validated, before any host call.
#[derive(Debug)]
pub struct Args {
    pub request: Request,
    /// `None`: the host's clock, at run time.
    pub release_timestamp: Option<i64>,
    pub dry_run: bool,
    /// Only some components (`components` param): one share of a split promotion.
    pub partial: bool,
}

impl Args {
    pub fn from_params(params: &Params) -> Result<Args, TaskError> {
        let snapshot = params.string("snapshot")?;
        let mapping = params.optional_string("mapping")?.unwrap_or_default();
        let tags = params
            .optional_array("tags")?
            .unwrap_or_else(|| vec!["released".to_owned()]);
        let only = params.optional_array("components")?.unwrap_or_default();
        let request = Request::parse(&snapshot, &mapping, &tags)?.only(&only)?;
        let release_timestamp = match params
            .optional_string("release-timestamp")?
            .as_deref()
            .map(str::trim)
        {
            None | Some("") => None,
            Some(text) => Some(crate::time::parse(text).ok_or_else(|| {
                TaskError::invalid_param(
                    "release-timestamp",
                    format!("`{text}` is neither seconds since the epoch nor an RFC 3339 time"),
                )
            })?),
        };
        let dry_run = match params.get("dry-run") {
            None => false,
            Some(_) => params.bool("dry-run")?,
        };
        Ok(Args {
            request,
            release_timestamp,
            dry_run,
            partial: !only.is_empty(),
        })
    }
}

/// Plans and (unless dry-run) performs the promotion; the results every run reports.
/// `on_plan` sees the plan before any write (the component logs it).
pub fn promote<R: Registry>(
    registry: &mut R,
    args: &Args,
    now: i64,
    on_plan: impl FnOnce(&Plan),
) -> Result<Results, TaskError> {
    let options = Options {
        release_timestamp: args.release_timestamp.unwrap_or(now),
    };
    let mut plan = plan(registry, &args.request, &options)?;
    let counts = if args.dry_run {
        read_configs(registry, &mut plan)?;
        on_plan(&plan);
        Counts::planned(&plan)
    } else {
        on_plan(&plan);
        execute(registry, &mut plan)?
    };
    Ok(results(&plan, &counts))
}

pub fn results(plan: &Plan, counts: &Counts) -> Results {
    Results::new()
        .string("images", plan.images_json())
        .string("tagged", counts.tagged.to_string())
        .string("unchanged", counts.unchanged.to_string())
        .string("blobs-mounted", counts.blobs_mounted.to_string())
        .string("bytes-copied", counts.bytes_copied.to_string())
        .string("manifests-copied", counts.manifests_copied.to_string())
        .string("referrers-copied", counts.referrers_copied.to_string())
        .string("plan", plan.plan_json())
}

impl Task for PushToRegistry {
    fn describe() -> TaskSpec {
        TaskSpec::new(
            TASK_NAME,
            "Promotes a snapshot's images by digest: tags them in place, or copies them (whole, with referrers) to the mapping's repositories and tags them there",
        )
        .param(ParamSpec::string(
            "snapshot",
            "The Snapshot as YAML or JSON: the object, its spec, or {components: [{name, containerImage: REPO@sha256:..., source.git.revision}]}",
        ))
        .param(
            ParamSpec::string(
                "mapping",
                "Konflux data.mapping as YAML or JSON: components[].{name, repository, tags[], timestampFormat}, defaults.{tags[], timestampFormat}; empty tags every image in place",
            )
            .default(""),
        )
        .param(
            ParamSpec::array(
                "tags",
                "Tags (templates allowed) for in-place tagging without a mapping, and for mapped components with no tags of their own or in defaults",
            )
            .default(["released"]),
        )
        .param(
            ParamSpec::string(
                "release-timestamp",
                "{{ release_timestamp }}: seconds since the epoch or RFC 3339; empty: now",
            )
            .default(""),
        )
        .param(ParamSpec::string("dry-run", "\"true\": plan and report, write nothing").default("false"))
        .param(
            ParamSpec::array(
                "components",
                "Promote only these components (the whole input is still validated); empty: all",
            )
            .default(Value::array(Vec::<String>::new())),
        )
        .result(ResultSpec::string(
            "images",
            "Konflux push-snapshot results: {\"images\":[{name, shasum, urls[], arches[], oses[]}]}",
        ))
        .result(ResultSpec::string("tagged", "Release tags written"))
        .result(ResultSpec::string("unchanged", "Release tags already at the digest, left alone"))
        .result(ResultSpec::string("blobs-mounted", "Blobs cross-repository mounted (no bytes moved)"))
        .result(ResultSpec::string("bytes-copied", "Blob bytes streamed because a mount was refused"))
        .result(ResultSpec::string("manifests-copied", "Image manifests and index children pushed by digest"))
        .result(ResultSpec::string("referrers-copied", "Signatures, attestations, SBOMs and other referrers copied"))
        .result(ResultSpec::string("plan", "What the run decided per component (JSON), for dry-run tables"))
    }

    fn run(input: Input) -> Result<Outcome, TaskError> {
        let args = Args::from_params(&input.params)?;
        // A share of a split promotion leaves this to whoever split it.
        let unmapped: &[String] = if args.partial {
            &[]
        } else {
            &args.request.unmapped
        };
        for name in unmapped {
            log::warn(
                &format!("component {name} is not in the mapping; skipped"),
                &[("component", name)],
            );
        }
        let now = clock::now().seconds;
        let mut components = vec![];
        let results = promote(&mut HostRegistry, &args, now, |plan| {
            log_plan(plan, args.dry_run);
            components = plan.images.iter().map(|i| i.component.clone()).collect();
        })?;
        // One line per finished component: what a host counts for its progress display.
        if !args.dry_run {
            for name in &components {
                log::info(
                    &format!("promoted {name}"),
                    &[("component", name), ("event", "promoted")],
                );
            }
        }
        Ok(Outcome::succeeded(results))
    }
}

/// One line per component, so a run's log says what it did without reading the results.
pub fn log_plan(plan: &Plan, dry_run: bool) {
    for image in &plan.images {
        let writes = image
            .tags
            .iter()
            .filter(|t| t.state == crate::plan::TagState::Write)
            .count();
        let unchanged = image.tags.len() - writes;
        log::info(
            &format!(
                "{} {}",
                if dry_run {
                    "would promote"
                } else {
                    "promoting"
                },
                image.component
            ),
            &[
                ("component", &image.component),
                ("source", &image.source.to_string()),
                ("destination", &image.destination),
                ("tags", &writes.to_string()),
                ("unchanged", &unchanged.to_string()),
                ("manifests", &image.manifests.to_string()),
                ("blobs", &image.blobs.to_string()),
                ("referrers", &image.referrers.to_string()),
            ],
        );
    }
}
