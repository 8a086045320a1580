//! What a run may reach outside its sandbox. Deny by default: a run gets exactly the grants its
//! host parsed for it, and every host call is checked against them.
//!
//! Command-line form, one grant per `--grant`:
//!
//! ```text
//! registry:pull=REPOSITORY        registry:push=REPOSITORY     (push implies pull)
//! cluster:VERB[,VERB...]=NAMESPACE/KIND[.GROUP]
//! ```
//!
//! `REPOSITORY` is a full name (`127.0.0.1:5000/team/app`) or a prefix ending in `/*`;
//! `NAMESPACE` and `KIND` may be `*`. `KIND.GROUP` (`Snapshot.appstudio.redhat.com`,
//! `ConfigMap.core` for the core group) grants that kind of that API group only; a bare `KIND`
//! matches the kind in any group.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::suggest;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grants {
    pub registry: Vec<RegistryGrant>,
    pub cluster: Vec<ClusterGrant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryAccess {
    Pull,
    Push,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryGrant {
    pub access: RegistryAccess,
    pub repository: RepositoryPattern,
}

/// An exact repository or every repository below a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum RepositoryPattern {
    Exact(String),
    Below(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Create,
    Update,
    Apply,
    Patch,
    Delete,
    Token,
}

const VERBS: &[(&str, Verb)] = &[
    ("get", Verb::Get),
    ("list", Verb::List),
    ("create", Verb::Create),
    ("update", Verb::Update),
    ("apply", Verb::Apply),
    ("patch", Verb::Patch),
    ("delete", Verb::Delete),
    ("token", Verb::Token),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterGrant {
    pub verbs: BTreeSet<Verb>,
    /// `*` for every namespace.
    pub namespace: String,
    /// `*` for every kind.
    pub kind: String,
    /// The API group (`""` for the core group); `None`: any group.
    pub group: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid grant `{grant}`: {reason}")]
pub struct GrantError {
    pub grant: String,
    pub reason: String,
}

impl Grants {
    /// Parses every `--grant` value; the first bad one is reported with what is wrong with it.
    pub fn parse_all<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Self, GrantError> {
        let mut grants = Grants::default();
        for spec in specs {
            let err = |reason: String| GrantError {
                grant: spec.to_owned(),
                reason,
            };
            let (scope, target) = spec.split_once('=').ok_or_else(|| {
                err(
                    "expected SCOPE:ACCESS=TARGET, e.g. registry:push=127.0.0.1:5000/team/app"
                        .into(),
                )
            })?;
            let (area, access) = scope
                .split_once(':')
                .ok_or_else(|| err(format!("`{scope}` names no access; expected registry:pull, registry:push or cluster:VERBS")))?;
            match area {
                "registry" => grants.registry.push(RegistryGrant {
                    access: match access {
                        "pull" => RegistryAccess::Pull,
                        "push" => RegistryAccess::Push,
                        other => {
                            return Err(err(format!(
                                "registry access `{other}` is not pull or push{}",
                                suggest::hint(other, ["pull", "push"])
                            )));
                        }
                    },
                    repository: target.parse().map_err(err)?,
                }),
                "cluster" => grants
                    .cluster
                    .push(parse_cluster(access, target).map_err(err)?),
                other => {
                    return Err(err(format!(
                        "unknown grant area `{other}`{}; areas: registry, cluster",
                        suggest::hint(other, ["registry", "cluster"])
                    )));
                }
            }
        }
        Ok(grants)
    }

    pub fn allows_registry(&self, access: RegistryAccess, repository: &str) -> bool {
        self.registry
            .iter()
            .any(|g| g.access >= access && g.repository.matches(repository))
    }

    /// `group`: the API group of the call's `apiVersion` (`""` for `v1`).
    pub fn allows_cluster(
        &self,
        verb: Verb,
        namespace: Option<&str>,
        kind: &str,
        group: &str,
    ) -> bool {
        self.cluster.iter().any(|g| {
            g.verbs.contains(&verb)
                && (g.namespace == "*" || Some(g.namespace.as_str()) == namespace)
                && (g.kind == "*" || g.kind.eq_ignore_ascii_case(kind))
                && g.group.as_deref().is_none_or(|want| want == group)
        })
    }

    /// The registry grants as one line, for denial messages.
    pub fn describe_registry(&self) -> String {
        describe(self.registry.iter())
    }

    pub fn describe_cluster(&self) -> String {
        describe(self.cluster.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.registry.is_empty() && self.cluster.is_empty()
    }
}

fn describe<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let all: Vec<String> = items.map(|g| g.to_string()).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

fn parse_cluster(verbs: &str, target: &str) -> Result<ClusterGrant, String> {
    let verbs = verbs
        .split(',')
        .map(|v| {
            VERBS
                .iter()
                .find(|(name, _)| *name == v)
                .map(|(_, verb)| *verb)
                .ok_or_else(|| {
                    format!(
                        "unknown verb `{v}`{}; verbs: {}",
                        suggest::hint(v, VERBS.iter().map(|(n, _)| *n)),
                        VERBS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    )
                })
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    let (namespace, kind) = target
        .split_once('/')
        .filter(|(ns, kind)| !ns.is_empty() && !kind.is_empty() && !kind.contains('/'))
        .ok_or_else(|| {
            format!("cluster target `{target}` is not NAMESPACE/KIND (either may be *)")
        })?;
    let (kind, group) = match kind.split_once('.') {
        Some((kind, "core")) => (kind, Some(String::new())),
        Some((kind, group)) if !kind.is_empty() && !group.is_empty() => {
            (kind, Some(group.to_owned()))
        }
        Some(_) => {
            return Err(format!(
                "cluster target `{target}`: expected KIND or KIND.GROUP (ConfigMap.core for the core group)"
            ));
        }
        None => (kind, None),
    };
    Ok(ClusterGrant {
        verbs,
        namespace: namespace.to_owned(),
        kind: kind.to_owned(),
        group,
    })
}

impl FromStr for RepositoryPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = |repo: &str| {
            repo.contains('/')
                && !repo.contains(['@', ' '])
                && !repo.ends_with('/')
                && repo.split('/').all(|part| !part.is_empty())
        };
        if let Some(prefix) = s.strip_suffix("/*") {
            if valid(&format!("{prefix}/x")) {
                return Ok(Self::Below(prefix.to_owned()));
            }
        } else if valid(s) && !s.contains('*') && !s.rsplit('/').next().unwrap_or("").contains(':')
        {
            return Ok(Self::Exact(s.to_owned()));
        }
        Err(format!(
            "`{s}` is not a repository (REGISTRY/PATH, no tag or digest) or a prefix ending in /*"
        ))
    }
}

impl RepositoryPattern {
    pub fn matches(&self, repository: &str) -> bool {
        match self {
            Self::Exact(r) => r == repository,
            Self::Below(prefix) => repository
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1),
        }
    }
}

impl From<RepositoryPattern> for String {
    fn from(p: RepositoryPattern) -> String {
        p.to_string()
    }
}

impl fmt::Display for RepositoryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(r) => f.write_str(r),
            Self::Below(p) => write!(f, "{p}/*"),
        }
    }
}

impl fmt::Display for RegistryGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            RegistryAccess::Pull => "pull",
            RegistryAccess::Push => "push",
        };
        write!(f, "registry:{access}={}", self.repository)
    }
}

impl fmt::Display for ClusterGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verbs: Vec<&str> = self
            .verbs
            .iter()
            .map(|v| {
                VERBS
                    .iter()
                    .find(|(_, x)| x == v)
                    .map(|(n, _)| *n)
                    .unwrap_or("?")
            })
            .collect();
        let group = match self.group.as_deref() {
            None => String::new(),
            Some("") => ".core".to_owned(),
            Some(g) => format!(".{g}"),
        };
        write!(
            f,
            "cluster:{}={}/{}{group}",
            verbs.join(","),
            self.namespace,
            self.kind
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_registry_grants() {
        let g = Grants::parse_all([
            "registry:push=127.0.0.1:5000/team/app",
            "registry:pull=quay.io/org/*",
        ])
        .unwrap();
        assert!(g.allows_registry(RegistryAccess::Pull, "127.0.0.1:5000/team/app"));
        assert!(g.allows_registry(RegistryAccess::Push, "127.0.0.1:5000/team/app"));
        assert!(!g.allows_registry(RegistryAccess::Push, "127.0.0.1:5000/team/app2"));
        assert!(g.allows_registry(RegistryAccess::Pull, "quay.io/org/a/b"));
        assert!(!g.allows_registry(RegistryAccess::Push, "quay.io/org/a"));
        assert!(!g.allows_registry(RegistryAccess::Pull, "quay.io/organization/a"));
        assert_eq!(
            g.describe_registry(),
            "registry:push=127.0.0.1:5000/team/app, registry:pull=quay.io/org/*"
        );
    }

    #[test]
    fn a_group_narrows_a_cluster_grant_to_that_api_group() {
        let g = Grants::parse_all([
            "cluster:get=team/Snapshot.appstudio.redhat.com",
            "cluster:get=team/Secret.core",
            "cluster:list=team/Job",
        ])
        .unwrap();
        assert!(g.allows_cluster(Verb::Get, Some("team"), "Snapshot", "appstudio.redhat.com"));
        assert!(!g.allows_cluster(Verb::Get, Some("team"), "Snapshot", "evil.example"));
        assert!(g.allows_cluster(Verb::Get, Some("team"), "Secret", ""));
        assert!(!g.allows_cluster(Verb::Get, Some("team"), "Secret", "evil.example"));
        assert!(g.allows_cluster(Verb::List, Some("team"), "Job", "batch"));
        assert_eq!(
            g.describe_cluster(),
            "cluster:get=team/Snapshot.appstudio.redhat.com, cluster:get=team/Secret.core, cluster:list=team/Job"
        );
        assert!(Grants::parse_all(["cluster:get=team/.apps"]).is_err());
        assert!(Grants::parse_all(["cluster:get=team/Job."]).is_err());
    }

    #[test]
    fn parses_and_checks_cluster_grants() {
        let g = Grants::parse_all(["cluster:get,list=team-a/ConfigMap"]).unwrap();
        assert!(g.allows_cluster(Verb::Get, Some("team-a"), "configmap", ""));
        assert!(!g.allows_cluster(Verb::Delete, Some("team-a"), "ConfigMap", ""));
        assert!(!g.allows_cluster(Verb::Get, Some("team-b"), "ConfigMap", ""));
        assert!(!g.allows_cluster(Verb::Get, None, "ConfigMap", ""));
    }

    #[test]
    fn rejects_malformed_grants_with_hints() {
        let err = Grants::parse_all(["registy:push=a/b"]).unwrap_err();
        assert!(err.reason.contains("did you mean `registry`"), "{err}");
        let err = Grants::parse_all(["cluster:gt=ns/Pod"]).unwrap_err();
        assert!(err.reason.contains("did you mean `get`"), "{err}");
        for bad in [
            "registry:push=app:latest",
            "registry:push=noslash",
            "cluster:get=ns",
            "registry=x/y",
        ] {
            assert!(Grants::parse_all([bad]).is_err(), "{bad} accepted");
        }
    }
}
