//! Tag templates, as Konflux's apply-mapping writes them: `v1-{{ git_short_sha }}`,
//! `{{ labels.version }}-{{ timestamp }}`. Parsed (and unknown variables refused) before any
//! registry call; expanded once the image's config is known; every result validated as a tag.

use std::collections::BTreeMap;

use crate::time;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    GitSha,
    GitShortSha,
    DigestSha,
    /// The image's `created` (or label `build-date`), in the mapping's timestamp format.
    Timestamp,
    /// The release time, in the mapping's timestamp format.
    ReleaseTimestamp,
    Label(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    raw: String,
    pieces: Vec<Piece>,
}

/// What a template can refer to, for one image.
#[derive(Clone, Debug, Default)]
pub struct Vars<'a> {
    pub git_sha: Option<&'a str>,
    pub digest_hex: &'a str,
    /// Seconds since the epoch of the image's creation, when the config says.
    pub created: Option<i64>,
    pub release: i64,
    pub labels: Option<&'a BTreeMap<String, String>>,
    pub timestamp_format: &'a str,
}

impl Template {
    pub fn parse(raw: &str) -> Result<Template, String> {
        let mut pieces = vec![];
        let mut rest = raw;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(format!("tag `{raw}` has an unclosed `{{{{`"));
            };
            let name = after[..end].trim();
            pieces.push(Piece::Var(
                parse_var(name).map_err(|e| format!("tag `{raw}`: {e}"))?,
            ));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("tag `{raw}` has a `}}}}` without `{{{{`"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        let template = Template {
            raw: raw.to_owned(),
            pieces,
        };
        if template.is_literal() {
            validate_tag(raw)?;
        }
        Ok(template)
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    pub fn is_literal(&self) -> bool {
        self.vars().next().is_none()
    }

    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v),
            Piece::Text(_) => None,
        })
    }

    /// Whether expanding needs the image config (its creation time or labels).
    pub fn needs_config(&self) -> bool {
        self.vars()
            .any(|v| matches!(v, Var::Timestamp | Var::Label(_)))
    }

    /// The tag this template makes for one image, validated.
    pub fn expand(&self, vars: &Vars) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(&self.value(v, vars)?),
            }
        }
        validate_tag(&out).map_err(|e| {
            if self.is_literal() {
                e
            } else {
                format!(
                    "tag `{}` expands to `{out}`, which {}",
                    self.raw,
                    e.trim_start_matches(&format!("tag `{out}` "))
                )
            }
        })?;
        Ok(out)
    }

    fn value(&self, var: &Var, vars: &Vars) -> Result<String, String> {
        let raw = &self.raw;
        Ok(match var {
            Var::GitSha => vars
                .git_sha
                .ok_or_else(|| {
                    format!(
                        "tag `{raw}` uses git_sha but the component has no `source.git.revision`"
                    )
                })?
                .to_owned(),
            Var::GitShortSha => {
                let sha = vars.git_sha.ok_or_else(|| {
                    format!("tag `{raw}` uses git_short_sha but the component has no `source.git.revision`")
                })?;
                sha.chars().take(7).collect()
            }
            Var::DigestSha => vars.digest_hex.to_owned(),
            Var::Timestamp => {
                let created = vars.created.ok_or_else(|| {
                    format!("tag `{raw}` uses timestamp but the image config has neither `created` nor a `build-date` label")
                })?;
                time::format(created, vars.timestamp_format)?
            }
            Var::ReleaseTimestamp => time::format(vars.release, vars.timestamp_format)?,
            Var::Label(name) => vars
                .labels
                .and_then(|l| l.get(name))
                .ok_or_else(|| {
                    format!("tag `{raw}` uses labels.{name} but the image has no label `{name}`")
                })?
                .clone(),
        })
    }
}

fn parse_var(name: &str) -> Result<Var, String> {
    Ok(match name {
        "git_sha" => Var::GitSha,
        "git_short_sha" => Var::GitShortSha,
        "digest_sha" => Var::DigestSha,
        "timestamp" => Var::Timestamp,
        "release_timestamp" => Var::ReleaseTimestamp,
        _ => match name.strip_prefix("labels.") {
            Some(label) if !label.is_empty() => Var::Label(label.to_owned()),
            _ => {
                return Err(format!(
                    "unknown variable `{{{{ {name} }}}}` (known: git_sha, git_short_sha, digest_sha, timestamp, release_timestamp, labels.NAME)"
                ));
            }
        },
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, the distribution spec's tag grammar.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok {
        return Err(if tag.is_empty() {
            "tag is empty".to_owned()
        } else {
            format!("tag `{tag}` must start with a letter, digit or `_`")
        });
    }
    if tag.len() > 128 {
        return Err(format!("tag `{tag}` is longer than 128 characters"));
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "tag `{tag}` contains `{bad}`; tags allow letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(labels: &'a BTreeMap<String, String>) -> Vars<'a> {
        Vars {
            git_sha: Some("0123456789abcdef0123456789abcdef01234567"),
            digest_hex: "feedbeef",
            created: Some(1_714_566_896),
            release: 1_714_600_000,
            labels: Some(labels),
            timestamp_format: "%s",
        }
    }

    #[test]
    fn expands_every_variable() {
        let labels = BTreeMap::from([("version".to_owned(), "1.4.2".to_owned())]);
        let v = vars(&labels);
        let cases = [
            ("released", "released"),
            ("{{ git_sha }}", "0123456789abcdef0123456789abcdef01234567"),
            ("v1-{{git_short_sha}}", "v1-0123456"),
            ("sha-{{ digest_sha }}", "sha-feedbeef"),
            ("{{ timestamp }}", "1714566896"),
            ("r{{ release_timestamp }}", "r1714600000"),
            ("{{ labels.version }}-{{ git_short_sha }}", "1.4.2-0123456"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                Template::parse(raw).unwrap().expand(&v).unwrap(),
                want,
                "{raw}"
            );
        }
        let dated = Vars {
            timestamp_format: "%Y%m%d",
            ..v
        };
        assert_eq!(
            Template::parse("{{ timestamp }}")
                .unwrap()
                .expand(&dated)
                .unwrap(),
            "20240501"
        );
    }

    #[test]
    fn unknown_variables_and_bad_literals_fail_at_parse() {
        let e = Template::parse("{{ commit }}").unwrap_err();
        assert!(e.contains("unknown variable `{{ commit }}`"), "{e}");
        assert!(Template::parse("{{ labels. }}").is_err());
        assert!(
            Template::parse("v1-{{ git_sha")
                .unwrap_err()
                .contains("unclosed")
        );
        assert!(Template::parse("v1}}").is_err());
        let e = Template::parse("-bad").unwrap_err();
        assert!(e.contains("must start with"), "{e}");
        assert!(Template::parse("a/b").unwrap_err().contains("contains `/`"));
        assert!(
            Template::parse(&"x".repeat(129))
                .unwrap_err()
                .contains("longer than 128")
        );
        assert!(Template::parse(&"x".repeat(128)).is_ok());
        assert!(Template::parse("_ok.1-2").is_ok());
    }

    #[test]
    fn knows_which_templates_need_the_config() {
        assert!(!Template::parse("v{{ git_sha }}").unwrap().needs_config());
        assert!(Template::parse("{{ timestamp }}").unwrap().needs_config());
        assert!(Template::parse("{{ labels.x }}").unwrap().needs_config());
        assert!(Template::parse("released").unwrap().is_literal());
    }

    #[test]
    fn missing_values_name_what_is_missing() {
        let labels = BTreeMap::new();
        let v = Vars {
            git_sha: None,
            created: None,
            ..vars(&labels)
        };
        let e = Template::parse("{{ git_short_sha }}")
            .unwrap()
            .expand(&v)
            .unwrap_err();
        assert!(e.contains("no `source.git.revision`"), "{e}");
        let e = Template::parse("{{ timestamp }}")
            .unwrap()
            .expand(&v)
            .unwrap_err();
        assert!(e.contains("neither `created` nor a `build-date`"), "{e}");
        let e = Template::parse("{{ labels.version }}")
            .unwrap()
            .expand(&v)
            .unwrap_err();
        assert!(e.contains("no label `version`"), "{e}");
    }

    #[test]
    fn an_expansion_that_is_not_a_tag_is_refused() {
        let labels = BTreeMap::from([("version".to_owned(), "1.4 beta".to_owned())]);
        let e = Template::parse("{{ labels.version }}")
            .unwrap()
            .expand(&vars(&labels))
            .unwrap_err();
        assert!(e.contains("expands to `1.4 beta`"), "{e}");
        assert!(e.contains("contains ` `"), "{e}");
    }
}
