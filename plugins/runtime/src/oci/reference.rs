//! `oci://host[:port]/repo[:tag][@sha256:...]` references.
//!
//! We parse references ourselves rather than with `oci_client::Reference::from_str` because
//! that silently defaults a missing host to Docker Hub and cannot parse `[::1]`; a release tool
//! should pull exactly what was named.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::OciError;
use crate::Digest;

/// Comma-separated registries (`host[:port]`) that speak plain HTTP although not on loopback.
pub const INSECURE_REGISTRIES_ENV: &str = "KUBECTL_RELEASE_INSECURE_REGISTRIES";

/// A parsed reference. At least one of `tag` and `digest` is set; when both are, the digest
/// decides what is pulled and the tag is informational.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl OciReference {
    /// `host[:port]` as written (IPv6 in brackets), e.g. `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository pinned to `digest`, without a tag: `host/repo@sha256:...`.
    pub fn pinned(&self, digest: &Digest) -> OciReference {
        OciReference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<OciReference, OciError> {
        check_tag(&self.to_string(), tag)?;
        Ok(OciReference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// Whether this registry is on the loopback interface (and so spoken to over plain HTTP).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }

    /// Plain HTTP for loopback registries and those listed in `insecure`; HTTPS for the rest.
    pub fn is_insecure(&self, insecure: &[String]) -> bool {
        self.is_loopback() || insecure.iter().any(|r| r.trim() == self.registry)
    }

    pub(crate) fn to_client_reference(&self) -> oci_client::Reference {
        let registry = self.registry.clone();
        let repository = self.repository.clone();
        match (&self.tag, &self.digest) {
            (_, Some(d)) => oci_client::Reference::with_digest(registry, repository, d.to_string()),
            (Some(t), None) => oci_client::Reference::with_tag(registry, repository, t.clone()),
            // Parsing guarantees a tag or a digest.
            (None, None) => {
                oci_client::Reference::with_tag(registry, repository, "latest".to_owned())
            }
        }
    }
}

impl FromStr for OciReference {
    type Err = OciError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| OciError::InvalidReference {
            reference: input.to_owned(),
            reason: reason.to_owned(),
        };
        let s = input.strip_prefix("oci://").unwrap_or(input);
        if s.is_empty() {
            return Err(invalid("empty reference"));
        }
        if s.contains("://") {
            return Err(invalid("only the oci:// scheme is supported"));
        }
        let (name, digest) = match s.rsplit_once('@') {
            Some((name, digest)) => {
                let digest = digest.parse::<Digest>().map_err(|_| {
                    invalid("the digest must be of the form sha256:<64 lowercase hex digits>")
                })?;
                (name, Some(digest))
            }
            None => (s, None),
        };
        let (registry, rest) = name
            .split_once('/')
            .ok_or_else(|| invalid("expected host[:port]/repository"))?;
        if !looks_like_host(registry) {
            return Err(invalid(
                "the first component must be a registry host (e.g. ghcr.io/org/task or \
                 127.0.0.1:5000/task); Docker Hub is not assumed",
            ));
        }
        check_host(registry).map_err(|r| invalid(&r))?;
        // The tag is after the last ':' of the path part; the host's port was split off above.
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((repo, tag)) => (repo, Some(tag)),
            None => (rest, None),
        };
        check_repository(repository).map_err(|r| invalid(&r))?;
        if let Some(tag) = tag {
            check_tag(input, tag)?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(invalid(
                "name a tag (:v1) or a digest (@sha256:...); `latest` is not assumed",
            ));
        }
        Ok(OciReference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OciReference({self})")
    }
}

pub(crate) fn looks_like_host(s: &str) -> bool {
    s.contains('.') || s.contains(':') || s == "localhost" || s.starts_with('[')
}

/// Splits `host[:port]` into host and optional port; IPv6 hosts keep their brackets off.
fn split_host_port(registry: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = registry.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("unterminated IPv6 address in {registry:?}"))?;
        match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| format!("unexpected {after:?} after the IPv6 address")),
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => Ok((host, Some(port))),
            None => Ok((registry, None)),
        }
    }
}

pub(crate) fn check_host(registry: &str) -> Result<(), String> {
    let (host, port) = split_host_port(registry)?;
    if registry.starts_with('[') {
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{host:?} is not an IPv6 address"))?;
    } else if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(format!("{host:?} is not a valid host name"));
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("{port:?} is not a valid port"));
    }
    Ok(())
}

pub(crate) fn is_loopback_host(registry: &str) -> bool {
    let Ok((host, _)) = split_host_port(registry) else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        // `::ffff:127.0.0.1` is the IPv4 loopback too.
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// OCI distribution spec: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub(crate) fn check_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("the repository is empty".to_owned());
    }
    for component in repo.split('/') {
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let bytes = component.as_bytes();
        let ok = bytes.first().copied().is_some_and(alnum)
            && bytes.last().copied().is_some_and(alnum)
            && bytes
                .iter()
                .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
            && !component.contains("..")
            && !component.contains("___");
        if !ok {
            return Err(format!(
                "repository component {component:?} must be lowercase letters and digits \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

/// OCI distribution spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
fn check_tag(reference: &str, tag: &str) -> Result<(), OciError> {
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(OciError::InvalidReference {
            reference: reference.to_owned(),
            reason: format!(
                "tag {tag:?} must be 1-128 of [A-Za-z0-9_.-] and not start with '.' or '-'"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_with_and_without_scheme() {
        for s in [
            "oci://127.0.0.1:5000/tasks/echo:v1",
            "127.0.0.1:5000/tasks/echo:v1",
        ] {
            let r: OciReference = s.parse().unwrap();
            assert_eq!(r.registry(), "127.0.0.1:5000");
            assert_eq!(r.repository(), "tasks/echo");
            assert_eq!(r.tag(), Some("v1"));
            assert_eq!(r.digest(), None);
            assert_eq!(r.to_string(), "127.0.0.1:5000/tasks/echo:v1");
        }
    }

    #[test]
    fn parses_digest_and_tag_with_digest() {
        let r: OciReference = format!("ghcr.io/org/echo@{D}").parse().unwrap();
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.tag(), None);
        let r: OciReference = format!("oci://ghcr.io/org/echo:v2@{D}").parse().unwrap();
        assert_eq!(r.tag(), Some("v2"));
        assert_eq!(r.to_string(), format!("ghcr.io/org/echo:v2@{D}"));
        assert_eq!(
            r.pinned(r.digest().unwrap()).to_string(),
            format!("ghcr.io/org/echo@{D}")
        );
    }

    #[test]
    fn parses_ipv6_loopback() {
        let r: OciReference = "[::1]:5000/echo:v1".parse().unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
        assert!(r.is_loopback());
    }

    #[test]
    fn loopback_is_plain_http_others_need_listing() {
        let insecure = vec!["registry.lan:5000".to_owned()];
        for (s, expect) in [
            ("127.0.0.1:5000/a:v", true),
            ("127.8.9.10/a:v", true),
            ("localhost:5000/a:v", true),
            ("[::1]:5000/a:v", true),
            ("registry.lan:5000/a:v", true),
            ("registry.lan/a:v", false),
            ("ghcr.io/a:v", false),
            ("128.0.0.1/a:v", false),
        ] {
            let r: OciReference = s.parse().unwrap();
            assert_eq!(r.is_insecure(&insecure), expect, "{s}");
        }
    }

    #[test]
    fn rejects_bad_references_with_a_reason() {
        for bad in [
            "",
            "echo:v1",
            "library/echo:v1",
            "ghcr.io/Org/echo:v1",
            "ghcr.io/org/echo",
            "ghcr.io/org/echo:-v1",
            "ghcr.io/org/echo@sha256:abc",
            "https://ghcr.io/org/echo:v1",
            "ghcr.io:port/echo:v1",
            "[::1/echo:v1",
        ] {
            match bad.parse::<OciReference>() {
                Err(OciError::InvalidReference { reference, reason }) => {
                    assert_eq!(reference, bad);
                    assert!(!reason.is_empty());
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn client_reference_prefers_digest() {
        let r: OciReference = format!("127.0.0.1:5000/echo:v1@{D}").parse().unwrap();
        let c = r.to_client_reference();
        assert_eq!(c.digest(), Some(D));
        assert_eq!(c.registry(), "127.0.0.1:5000");
        assert_eq!(c.repository(), "echo");
    }
}
