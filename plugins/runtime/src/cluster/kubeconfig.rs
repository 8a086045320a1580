//! The kubeconfig `write-kubeconfig-secret` stores: the API server as the host reaches it (or as
//! [`ClusterOptions::kubeconfig_server`](super::ClusterOptions) says), its CA, and a bearer token.
//! Written as JSON, which every kubeconfig reader accepts (JSON is YAML).

use std::path::PathBuf;

use serde_json::json;

use super::ClusterSetupError;

/// How a kubeconfig reaches the API server: what the host's own client configuration says.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ServerInfo {
    pub url: String,
    /// PEM bundle, when the host trusts a specific CA.
    pub ca_pem: Option<Vec<u8>>,
    pub tls_server_name: Option<String>,
    pub insecure: bool,
}

impl ServerInfo {
    pub(crate) fn from_config(config: &kube::Config) -> Result<Self, ClusterSetupError> {
        // In-cluster configs name the CA file (re-read on rotation); kubeconfigs give it inline.
        let ca_pem = match (&config.root_cert_file, &config.root_cert) {
            (Some(path), _) => {
                Some(
                    std::fs::read(path).map_err(|source| ClusterSetupError::CaBundle {
                        path: PathBuf::from(path),
                        source,
                    })?,
                )
            }
            (None, Some(ders)) => Some(
                ders.iter()
                    .map(|der| pem(der))
                    .collect::<String>()
                    .into_bytes(),
            ),
            (None, None) => None,
        };
        Ok(Self {
            url: config
                .cluster_url
                .to_string()
                .trim_end_matches('/')
                .to_owned(),
            ca_pem,
            tls_server_name: config.tls_server_name.clone(),
            insecure: config.accept_invalid_certs,
        })
    }

    /// A kubeconfig for `user` (`namespace/service-account`) with `token`, its context set to
    /// `namespace`. The returned text holds the token: it goes into a Secret and nowhere else.
    pub(crate) fn kubeconfig(&self, namespace: &str, service_account: &str, token: &str) -> String {
        let mut cluster = json!({ "server": self.url });
        if let Some(ca) = &self.ca_pem {
            cluster["certificate-authority-data"] = base64(ca).into();
        }
        if let Some(name) = &self.tls_server_name {
            cluster["tls-server-name"] = name.clone().into();
        }
        if self.insecure {
            cluster["insecure-skip-tls-verify"] = true.into();
        }
        let user = format!("{namespace}/{service_account}");
        let context = format!("{service_account}@{namespace}");
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": "kubectl-release", "cluster": cluster }],
            "users": [{ "name": user, "user": { "token": token } }],
            "contexts": [{
                "name": context,
                "context": { "cluster": "kubectl-release", "user": user, "namespace": namespace },
            }],
            "current-context": context,
        });
        serde_json::to_string_pretty(&config).expect("a JSON value serialises")
    }
}

/// Standard base64 with padding, through k8s-openapi's `ByteString`, which is exactly how the
/// API itself encodes bytes (no extra dependency for one encoder).
fn base64(bytes: &[u8]) -> String {
    match serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("ByteString serialises to a string, got {other:?}"),
    }
}

fn pem(der: &[u8]) -> String {
    let body = base64(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_standard_with_padding() {
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn der_becomes_wrapped_pem() {
        let p = pem(&[7u8; 100]);
        assert!(p.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(p.ends_with("\n-----END CERTIFICATE-----\n"));
        assert!(p.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn kubeconfig_points_at_the_namespace() {
        let s = ServerInfo {
            url: "https://127.0.0.1:6443".into(),
            ca_pem: Some(b"PEM".to_vec()),
            tls_server_name: None,
            insecure: false,
        };
        let v: serde_json::Value =
            serde_json::from_str(&s.kubeconfig("team-a", "deployer", "T0KEN")).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
        assert_eq!(v["users"][0]["user"]["token"], "T0KEN");
        assert_eq!(v["contexts"][0]["context"]["namespace"], "team-a");
        assert_eq!(v["current-context"], "deployer@team-a");
    }
}
