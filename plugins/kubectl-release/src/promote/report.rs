//! What `promote` prints: the Konflux push-snapshot images, the counts, and on `--dry-run` the
//! plan as a table.

use anyhow::{Context, anyhow};
use kubectl_release_runtime::{NamedValue, Value};
use push_to_registry_task::Request;
use serde::Serialize;
use serde_json::Value as Json;

use crate::cli::OutputFormat;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    /// `{name, shasum, urls[], arches[], oses[]}` per component (Konflux push-snapshot results).
    pub images: Vec<Json>,
    pub tagged: u64,
    pub unchanged: u64,
    pub blobs_mounted: u64,
    pub bytes_copied: u64,
    pub manifests_copied: u64,
    pub referrers_copied: u64,
    /// Per component: destination, mode, tags with their action, what a copy moves.
    pub plan: Vec<Json>,
}

fn string<'a>(results: &'a [NamedValue], name: &str) -> anyhow::Result<&'a str> {
    match results.iter().find(|r| r.name == name).map(|r| &r.value) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(anyhow!("the task did not return the result `{name}`")),
    }
}

impl Summary {
    pub fn from_results(results: &[NamedValue]) -> anyhow::Result<Summary> {
        let count = |name: &str| -> anyhow::Result<u64> {
            string(results, name)?
                .parse()
                .with_context(|| format!("result `{name}` is not a number"))
        };
        let list = |name: &str, key: &str| -> anyhow::Result<Vec<Json>> {
            let doc: Json = serde_json::from_str(string(results, name)?)
                .with_context(|| format!("result `{name}` is not JSON"))?;
            Ok(doc[key].as_array().cloned().unwrap_or_default())
        };
        Ok(Summary {
            images: list("images", "images")?,
            tagged: count("tagged")?,
            unchanged: count("unchanged")?,
            blobs_mounted: count("blobs-mounted")?,
            bytes_copied: count("bytes-copied")?,
            manifests_copied: count("manifests-copied")?,
            referrers_copied: count("referrers-copied")?,
            plan: list("plan", "images")?,
        })
    }

    pub fn merge(&mut self, other: Summary) {
        self.images.extend(other.images);
        self.plan.extend(other.plan);
        self.tagged += other.tagged;
        self.unchanged += other.unchanged;
        self.blobs_mounted += other.blobs_mounted;
        self.bytes_copied += other.bytes_copied;
        self.manifests_copied += other.manifests_copied;
        self.referrers_copied += other.referrers_copied;
    }

    /// Snapshot order, whatever order the runs finished in.
    pub fn sort_like(&mut self, request: &Request) {
        let rank = |name: &str| {
            request
                .items
                .iter()
                .position(|i| i.component == name)
                .unwrap_or(usize::MAX)
        };
        self.images
            .sort_by_key(|i| rank(i["name"].as_str().unwrap_or_default()));
        self.plan
            .sort_by_key(|i| rank(i["component"].as_str().unwrap_or_default()));
    }
}

/// Konflux's results shape plus counts; the plan too on a dry run.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Report<'a> {
    dry_run: bool,
    images: &'a [Json],
    tagged: u64,
    unchanged: u64,
    blobs_mounted: u64,
    bytes_copied: u64,
    manifests_copied: u64,
    referrers_copied: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<&'a [Json]>,
}

pub fn print(format: OutputFormat, summary: &Summary, dry_run: bool) -> anyhow::Result<()> {
    let report = Report {
        dry_run,
        images: &summary.images,
        tagged: summary.tagged,
        unchanged: summary.unchanged,
        blobs_mounted: summary.blobs_mounted,
        bytes_copied: summary.bytes_copied,
        manifests_copied: summary.manifests_copied,
        referrers_copied: summary.referrers_copied,
        plan: dry_run.then_some(summary.plan.as_slice()),
    };
    crate::output::print(format, &report, || {
        if dry_run {
            print!("{}", plan_table(&summary.plan));
            println!(
                "dry run: would write {} tag(s) ({} unchanged), copy {} manifest(s) and {} referrer(s), move {} blob(s)",
                summary.tagged,
                summary.unchanged,
                summary.manifests_copied,
                summary.referrers_copied,
                summary.blobs_mounted
            );
        } else {
            for image in &summary.images {
                let urls: Vec<&str> = image["urls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_str)
                    .collect();
                println!(
                    "{} {}",
                    image["name"].as_str().unwrap_or("?"),
                    image["shasum"].as_str().unwrap_or("?")
                );
                for url in urls {
                    println!("  {url}");
                }
            }
            println!(
                "tagged {}, unchanged {}, manifests copied {}, referrers copied {}, blobs mounted {}, bytes copied {}",
                summary.tagged,
                summary.unchanged,
                summary.manifests_copied,
                summary.referrers_copied,
                summary.blobs_mounted,
                summary.bytes_copied
            );
        }
    })
}

/// COMPONENT / DESTINATION / TAG / ACTION / COPY, one row per tag.
pub fn plan_table(plan: &[Json]) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "COMPONENT".into(),
        "DESTINATION".into(),
        "TAG".into(),
        "ACTION".into(),
        "COPY".into(),
    ]];
    for image in plan {
        let s = |k: &str| image[k].as_str().unwrap_or_default().to_owned();
        let n = |k: &str| image[k].as_u64().unwrap_or_default();
        let copy = if s("mode") == "in-place" {
            "in place".to_owned()
        } else if n("manifests") + n("blobs") + n("referrers") == 0 {
            "already there".to_owned()
        } else {
            format!(
                "{} manifests, {} blobs, {} referrers",
                n("manifests"),
                n("blobs"),
                n("referrers")
            )
        };
        for (i, tag) in image["tags"].as_array().into_iter().flatten().enumerate() {
            let t = |k: &str| tag[k].as_str().unwrap_or_default().to_owned();
            let first = i == 0;
            rows.push([
                if first { s("component") } else { String::new() },
                if first {
                    s("destination")
                } else {
                    String::new()
                },
                t("tag"),
                t("action"),
                if first { copy.clone() } else { String::new() },
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table_has_a_row_per_tag() {
        let plan = vec![
            serde_json::json!({"component": "api", "destination": "reg/r/api", "mode": "copy",
                "tags": [{"tag": "released", "action": "tag"}, {"tag": "v1", "action": "unchanged"}],
                "manifests": 5, "blobs": 12, "referrers": 1}),
            serde_json::json!({"component": "worker", "destination": "reg/b/worker", "mode": "in-place",
                "tags": [{"tag": "released", "action": "unchanged"}], "manifests": 0, "blobs": 0, "referrers": 0}),
        ];
        let table = plan_table(&plan);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].starts_with("COMPONENT  DESTINATION"), "{table}");
        assert!(
            lines[1].contains("api")
                && lines[1].contains("released")
                && lines[1].contains("5 manifests, 12 blobs, 1 referrers"),
            "{table}"
        );
        assert!(
            lines[2].trim_start().starts_with("v1") && lines[2].contains("unchanged"),
            "{table}"
        );
        assert!(
            lines[3].contains("worker") && lines[3].contains("in place"),
            "{table}"
        );
    }

    #[test]
    fn summaries_merge_counts_and_images() {
        let results = |name: &str, tagged: &str| {
            let s = |n: &str, v: &str| NamedValue {
                name: n.into(),
                value: Value::String(v.into()),
            };
            vec![
                s(
                    "images",
                    &format!(
                        r#"{{"images":[{{"name":"{name}","shasum":"sha256:x","urls":[],"arches":[]}}]}}"#
                    ),
                ),
                s("tagged", tagged),
                s("unchanged", "1"),
                s("blobs-mounted", "2"),
                s("bytes-copied", "0"),
                s("manifests-copied", "1"),
                s("referrers-copied", "0"),
                s("plan", r#"{"images":[]}"#),
            ]
        };
        let mut a = Summary::from_results(&results("b", "1")).unwrap();
        a.merge(Summary::from_results(&results("a", "2")).unwrap());
        assert_eq!((a.tagged, a.unchanged, a.blobs_mounted), (3, 2, 4));
        assert_eq!(a.images.len(), 2);
        assert!(
            Summary::from_results(&[])
                .unwrap_err()
                .to_string()
                .contains("`images`")
        );
    }
}
