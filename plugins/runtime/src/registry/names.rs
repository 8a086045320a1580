//! Repository names as tasks pass them: `host[:port]/path`, the registry host always explicit
//! (as in references and grants; Docker Hub is not assumed).

use std::fmt;
use std::str::FromStr;

use super::RegistryError;
use crate::oci::OciReference;
use crate::oci::reference::{check_host, check_repository, looks_like_host};

/// A repository in a registry, e.g. `127.0.0.1:5000/team/app`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    registry: String,
    path: String,
}

impl Repository {
    /// `host[:port]`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The path inside the registry (`team/app`), as it appears in `/v2/<path>/...`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The repository of a reference.
    pub fn of(reference: &OciReference) -> Self {
        Self {
            registry: reference.registry().to_owned(),
            path: reference.repository().to_owned(),
        }
    }
}

impl FromStr for Repository {
    type Err = RegistryError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| {
            RegistryError::invalid(format!("invalid repository {input:?}: {reason}"))
        };
        let s = input.strip_prefix("oci://").unwrap_or(input);
        if s.contains('@') {
            return Err(invalid("a repository names no digest (REGISTRY/PATH)"));
        }
        let (registry, path) = s
            .split_once('/')
            .ok_or_else(|| invalid("expected host[:port]/path"))?;
        if !looks_like_host(registry) {
            return Err(invalid(
                "the first component must be a registry host (e.g. ghcr.io/org/app or \
                 127.0.0.1:5000/app); Docker Hub is not assumed",
            ));
        }
        check_host(registry).map_err(|r| invalid(&r))?;
        if path.contains(':') {
            return Err(invalid("a repository names no tag (REGISTRY/PATH)"));
        }
        check_repository(path).map_err(|r| invalid(&r))?;
        Ok(Self {
            registry: registry.to_owned(),
            path: path.to_owned(),
        })
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Repository({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repositories() {
        let r: Repository = "127.0.0.1:5000/team/app".parse().unwrap();
        assert_eq!((r.registry(), r.path()), ("127.0.0.1:5000", "team/app"));
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app");
        for bad in [
            "team/app",
            "127.0.0.1:5000/app:v1",
            "127.0.0.1:5000/app@sha256:00",
            "127.0.0.1:5000/App",
            "127.0.0.1:5000/",
            "noslash",
        ] {
            assert!(bad.parse::<Repository>().is_err(), "{bad} accepted");
        }
    }
}
