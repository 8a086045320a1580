//! Registry credentials from docker config files and credential helpers.
//!
//! Credentials live only inside `oci_client::RegistryAuth` (whose Debug already hides the
//! password) and are never put into errors or logs; every Debug here is written by hand.

use std::fmt;
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;

/// Where to find credentials for a registry.
#[derive(Clone, Default)]
pub enum AuthSource {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; anonymous if neither exists
    /// or it has nothing for the registry. Credential helpers (`credHelpers`, `credsStore`) run.
    #[default]
    DockerConfig,
    /// A directory laid out like `$DOCKER_CONFIG` (holding `config.json`).
    DockerConfigDir(PathBuf),
    /// An explicit config file, e.g. a mounted `kubernetes.io/dockerconfigjson` secret.
    DockerConfigFile(PathBuf),
    /// The contents of a docker config, e.g. an image pull secret read from the cluster.
    DockerConfigJson(String),
    Anonymous,
}

impl fmt::Debug for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthSource::DockerConfig => f.write_str("DockerConfig"),
            AuthSource::DockerConfigDir(p) => f.debug_tuple("DockerConfigDir").field(p).finish(),
            AuthSource::DockerConfigFile(p) => f.debug_tuple("DockerConfigFile").field(p).finish(),
            AuthSource::DockerConfigJson(_) => f.write_str("DockerConfigJson(<redacted>)"),
            AuthSource::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json` (what docker itself reads).
pub fn default_docker_config_path() -> Option<PathBuf> {
    docker_config_path_from(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
}

fn docker_config_path_from(
    docker_config: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    docker_config
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| Path::new(&h).join(".docker")))
        .map(|dir| dir.join("config.json"))
}

/// The keys a docker config may use for `registry`: docker writes `host[:port]`, older tools
/// `https://host`, and Docker Hub lives under its legacy v1 URL.
fn server_keys(registry: &str) -> Vec<String> {
    if matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        return vec![
            "https://index.docker.io/v1/".to_owned(),
            registry.to_owned(),
        ];
    }
    vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ]
}

/// Resolves the credentials for `registry`. Blocking: it may read files and run a helper.
///
/// Problems with the config are logged (without contents) and lead to anonymous access, as
/// docker does: the registry then answers 401 and the error names the registry.
pub(crate) fn resolve(source: &AuthSource, registry: &str) -> RegistryAuth {
    let config = match source {
        AuthSource::Anonymous => return RegistryAuth::Anonymous,
        AuthSource::DockerConfig => match default_docker_config_path() {
            Some(p) => ConfigText::File(p),
            None => return RegistryAuth::Anonymous,
        },
        AuthSource::DockerConfigDir(dir) => ConfigText::File(dir.join("config.json")),
        AuthSource::DockerConfigFile(path) => ConfigText::File(path.clone()),
        AuthSource::DockerConfigJson(json) => ConfigText::Inline(json.clone()),
    };
    let text = match config {
        ConfigText::File(path) => match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), "no docker config; anonymous access");
                return RegistryAuth::Anonymous;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read docker config; anonymous access");
                return RegistryAuth::Anonymous;
            }
        },
        ConfigText::Inline(s) => s.into_bytes(),
    };
    for key in server_keys(registry) {
        match docker_credential::get_credential_from_reader(text.as_slice(), &key) {
            Ok(DockerCredential::UsernamePassword(user, password)) => {
                tracing::debug!(registry, user, "using docker config credentials");
                return RegistryAuth::Basic(user, password);
            }
            Ok(DockerCredential::IdentityToken(_)) => {
                // An identity token is an OAuth refresh token, not a bearer token; exchanging it
                // needs the registry's token endpoint flow, which oci-client does not do.
                tracing::warn!(
                    registry,
                    "docker config holds an identity token, which is not supported; anonymous access"
                );
                return RegistryAuth::Anonymous;
            }
            Err(CredentialRetrievalError::NoCredentialConfigured) => continue,
            Err(e) => {
                // Only the variant name: a failing helper's stdout may carry a secret.
                tracing::warn!(
                    registry,
                    error = redacted_reason(&e),
                    "docker credentials unusable; anonymous access"
                );
                return RegistryAuth::Anonymous;
            }
        }
    }
    RegistryAuth::Anonymous
}

enum ConfigText {
    File(PathBuf),
    Inline(String),
}

fn redacted_reason(e: &CredentialRetrievalError) -> &'static str {
    match e {
        CredentialRetrievalError::HelperCommunicationError => "credential helper could not be run",
        CredentialRetrievalError::MalformedHelperResponse => {
            "credential helper answered malformed JSON"
        }
        CredentialRetrievalError::HelperFailure { .. } => "credential helper failed",
        CredentialRetrievalError::CredentialDecodingError => {
            "auth field is not base64 user:password"
        }
        CredentialRetrievalError::CredentialMismatchError => {
            "auth field disagrees with username/password fields"
        }
        CredentialRetrievalError::NoCredentialConfigured => "no credential configured",
        CredentialRetrievalError::ConfigNotFound => "config not found",
        CredentialRetrievalError::ConfigReadError => "config is not valid JSON",
    }
}

/// A short, secret-free description of `auth` for logs.
pub(crate) fn describe(auth: &RegistryAuth) -> &'static str {
    match auth {
        RegistryAuth::Anonymous => "anonymous",
        RegistryAuth::Basic(..) => "basic",
        RegistryAuth::Bearer(_) => "bearer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        // base64 without a dependency: tests only need ASCII.
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let input = format!("{user}:{password}");
        let mut out = String::new();
        for chunk in input.as_bytes().chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn reads_auths_by_host_and_by_url() {
        let json = format!(
            r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{}"}},"https://ghcr.io":{{"auth":"{}"}}}}}}"#,
            basic("alice", "s3cret"),
            basic("bob", "hunter2")
        );
        let src = AuthSource::DockerConfigJson(json);
        match resolve(&src, "127.0.0.1:5000") {
            RegistryAuth::Basic(u, p) => assert_eq!((u.as_str(), p.as_str()), ("alice", "s3cret")),
            other => panic!("{other:?}"),
        }
        match resolve(&src, "ghcr.io") {
            RegistryAuth::Basic(u, p) => assert_eq!((u.as_str(), p.as_str()), ("bob", "hunter2")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(resolve(&src, "quay.io"), RegistryAuth::Anonymous));
    }

    #[test]
    fn missing_or_broken_config_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let missing = AuthSource::DockerConfigDir(dir.path().join("nope"));
        assert!(matches!(
            resolve(&missing, "ghcr.io"),
            RegistryAuth::Anonymous
        ));
        let broken = AuthSource::DockerConfigJson("{not json".to_owned());
        assert!(matches!(
            resolve(&broken, "ghcr.io"),
            RegistryAuth::Anonymous
        ));
    }

    #[test]
    fn debug_never_shows_inline_config() {
        let src = AuthSource::DockerConfigJson(r#"{"auths":{"x":{"auth":"SECRETSTUFF"}}}"#.into());
        let shown = format!("{src:?}");
        assert!(!shown.contains("SECRETSTUFF"), "{shown}");
        assert_eq!(
            describe(&RegistryAuth::Basic("u".into(), "SECRETSTUFF".into())),
            "basic"
        );
    }

    #[test]
    fn docker_config_env_wins_over_home() {
        assert_eq!(
            docker_config_path_from(Some("/cfg".into()), Some("/home/u".into())),
            Some(PathBuf::from("/cfg/config.json"))
        );
        assert_eq!(
            docker_config_path_from(None, Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(
            docker_config_path_from(Some("".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(docker_config_path_from(None, None), None);
    }
}
