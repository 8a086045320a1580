//! Image references as promotion needs them: a full repository name and a sha256 digest.

use std::fmt;

/// `registry.example:5000/team/app@sha256:<64 hex>`: what was tested, pinned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    pub repository: String,
    /// `sha256:<64 lowercase hex>`.
    pub digest: String,
}

impl ImageRef {
    /// Parses a pinned reference; the error says what is wrong in words a release engineer can
    /// act on (a tag where a digest belongs, a short digest, a repository without a registry).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("is empty".into());
        }
        let Some((name, digest)) = text.split_once('@') else {
            return Err(match tag_of(text) {
                Some(tag) => format!(
                    "`{text}` uses the tag `{tag}`, not a digest: promotion needs `REPOSITORY@sha256:<64 hex>` so that the tested image is the released one"
                ),
                None => {
                    format!("`{text}` has no digest: promotion needs `REPOSITORY@sha256:<64 hex>`")
                }
            });
        };
        if let Some(tag) = tag_of(name) {
            return Err(format!(
                "`{text}` has both the tag `{tag}` and a digest: give only `REPOSITORY@sha256:<64 hex>`"
            ));
        }
        validate_digest(digest).map_err(|e| format!("`{text}`: {e}"))?;
        validate_repository(name).map_err(|e| format!("`{text}`: {e}"))?;
        Ok(ImageRef {
            repository: name.to_owned(),
            digest: digest.to_owned(),
        })
    }

    /// The 64 hex digits of the digest.
    pub fn hex(&self) -> &str {
        digest_hex(&self.digest)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository, self.digest)
    }
}

/// The hex part of `sha256:<hex>` (the whole string if it has no algorithm).
pub fn digest_hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, hex)| hex)
}

/// The tag of `repo:tag` (a `:` in the last path segment; a registry port is not a tag).
fn tag_of(name: &str) -> Option<&str> {
    let last = name.rsplit('/').next().unwrap_or(name);
    if !name.contains('/') {
        // `host:5000` alone has no path; `app:v1` has a tag. Either way not a usable repository,
        // but only the second is a tag.
        return last
            .split_once(':')
            .map(|(_, t)| t)
            .filter(|t| !t.chars().all(|c| c.is_ascii_digit()));
    }
    last.split_once(':').map(|(_, t)| t)
}

pub fn validate_digest(digest: &str) -> Result<(), String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!("digest `{digest}` is not `sha256:<64 hex>`"));
    };
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "digest `{digest}` is not `sha256:` followed by 64 lowercase hex digits"
        ));
    }
    Ok(())
}

/// A full repository name: a registry host (with a `.` or a port, or `localhost`) and a path of
/// lowercase components, as the distribution spec allows.
pub fn validate_repository(repository: &str) -> Result<(), String> {
    let Some((host, path)) = repository.split_once('/') else {
        return Err(format!(
            "repository `{repository}` does not name its registry (use e.g. `quay.io/org/app`)"
        ));
    };
    let host_ok = !host.is_empty()
        && (host.contains('.') || host.contains(':') || host == "localhost")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok {
        return Err(format!(
            "repository `{repository}` does not start with a registry host (use e.g. `quay.io/org/app`)"
        ));
    }
    for component in path.split('/') {
        let ok = !component.is_empty()
            && component.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && component
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && component
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "repository `{repository}`: path component `{component}` must be lowercase letters, digits and separators (. _ -)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_a_pinned_reference_with_a_port() {
        let r = ImageRef::parse(&format!("127.0.0.1:5000/team/app@sha256:{HEX}")).unwrap();
        assert_eq!(r.repository, "127.0.0.1:5000/team/app");
        assert_eq!(r.digest, format!("sha256:{HEX}"));
        assert_eq!(r.hex(), HEX);
        assert_eq!(
            r.to_string(),
            format!("127.0.0.1:5000/team/app@sha256:{HEX}")
        );
    }

    #[test]
    fn a_tag_is_refused_with_the_tag_named() {
        let e = ImageRef::parse("quay.io/org/app:latest").unwrap_err();
        assert!(e.contains("uses the tag `latest`, not a digest"), "{e}");
        let e = ImageRef::parse("localhost:5000/app:v1").unwrap_err();
        assert!(e.contains("tag `v1`"), "{e}");
        let e = ImageRef::parse("localhost:5000/app").unwrap_err();
        assert!(e.contains("has no digest"), "{e}");
    }

    #[test]
    fn tag_and_digest_together_are_refused() {
        let e = ImageRef::parse(&format!("quay.io/org/app:v1@sha256:{HEX}")).unwrap_err();
        assert!(e.contains("both the tag `v1` and a digest"), "{e}");
    }

    #[test]
    fn bad_digests_are_refused() {
        for bad in [
            "quay.io/org/app@sha256:abc".to_owned(),
            format!("quay.io/org/app@sha512:{HEX}"),
            format!("quay.io/org/app@sha256:{}", HEX.to_uppercase()),
        ] {
            let e = ImageRef::parse(&bad).unwrap_err();
            assert!(e.contains("digest"), "{bad}: {e}");
        }
    }

    #[test]
    fn repositories_need_a_registry_and_lowercase_paths() {
        assert!(validate_repository("quay.io/org/app").is_ok());
        assert!(validate_repository("localhost/app").is_ok());
        assert!(validate_repository("127.0.0.1:5000/a/b-c/d_e.f").is_ok());
        assert!(validate_repository("app").unwrap_err().contains("registry"));
        assert!(
            validate_repository("org/app")
                .unwrap_err()
                .contains("registry host")
        );
        assert!(
            validate_repository("quay.io/Org/app")
                .unwrap_err()
                .contains("`Org`")
        );
        assert!(validate_repository("quay.io/org//app").is_err());
        assert!(validate_repository("quay.io/org/-app").is_err());
    }

    #[test]
    fn digest_hex_strips_the_algorithm() {
        assert_eq!(digest_hex("sha256:ab"), "ab");
        assert_eq!(digest_hex("ab"), "ab");
    }
}
