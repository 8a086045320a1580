//! Dynamic config: values read from ConfigMaps and Secrets in the cluster (`--config-from
//! configmap/NAME`, `secret/NAME`). The task reads each object through the `cluster` import; this
//! module turns the object's JSON, as the API server returns it, into a values layer, with no
//! host in sight:
//!
//! - every key whose name ends in `.yaml`, `.yml` or `.json` holds a values document (a mapping,
//!   merged like a values file; errors name the object, the key and the line and column);
//! - every other key `a.b.c` is set like `--set a.b.c=VALUE` (same typing: canonical integers and
//!   `true`/`false` are typed, anything else is a string);
//! - keys are applied in sorted order (a later key wins where two write the same value);
//! - a Secret's `data` (and a ConfigMap's `binaryData`) is base64, decoded to UTF-8 text first.
//!   `stringData` never comes back from the API server: it is folded into `data` on write.

use serde_json::Value as Json;
use serde_yaml_ng::Mapping;

use crate::config;
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

impl ConfigKind {
    /// The API kind (`ConfigMap`), as in grants and `cluster.get`.
    pub fn api_kind(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        }
    }

    /// The lower-case name users write (`configmap`).
    pub fn label(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "configmap",
            ConfigKind::Secret => "secret",
        }
    }
}

/// One `--config-from` object: `configmap/NAME` (or `cm/NAME`) or `secret/NAME`, the kind in any
/// case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigRef {
    pub kind: ConfigKind,
    pub name: String,
}

/// A Kubernetes object name (DNS subdomain): lower-case alphanumerics, `-` and `.`, starting and
/// ending alphanumeric, at most 253 characters.
fn valid_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

impl ConfigRef {
    /// `Err` says what is wrong, for a flag or a param error.
    pub fn parse(text: &str) -> Result<ConfigRef, String> {
        let expected = "expected configmap/NAME (or cm/NAME) or secret/NAME";
        let (kind, name) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not KIND/NAME: {expected}"))?;
        let kind = match kind.to_ascii_lowercase().as_str() {
            "configmap" | "configmaps" | "cm" => ConfigKind::ConfigMap,
            "secret" | "secrets" => ConfigKind::Secret,
            _ => return Err(format!("`{text}`: unknown kind `{kind}`; {expected}")),
        };
        if !valid_name(name) {
            return Err(format!(
                "`{text}`: `{name}` is not a Kubernetes object name (lower-case letters, digits, `-` and `.`)"
            ));
        }
        Ok(ConfigRef {
            kind,
            name: name.to_owned(),
        })
    }

    /// `configmap/NAME`: the canonical form, as the CLI passes it to the task.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.kind.label(), self.name)
    }

    /// `configmap NAMESPACE/NAME`, for messages.
    pub fn describe(&self, namespace: &str) -> String {
        format!("{} {namespace}/{}", self.kind.label(), self.name)
    }
}

/// Whether a key holds a values document rather than one value.
fn is_document(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [".yaml", ".yml", ".json"].iter().any(|s| key.ends_with(s))
}

/// The values layer of `object` (its JSON, as the API server returned it), which is the object
/// `r` names in `namespace`. See the module documentation for the rules.
pub fn values_of(r: &ConfigRef, namespace: &str, object: &str) -> Result<Mapping, Error> {
    let what = r.describe(namespace);
    let invalid = |m: String| Error::new("InvalidConfig", m);
    let json: Json = serde_json::from_str(object)
        .map_err(|e| invalid(format!("{what}: the API server's answer is not JSON: {e}")))?;
    let mut entries: Vec<(String, String)> = vec![];
    let sections: &[(&str, bool)] = match r.kind {
        ConfigKind::ConfigMap => &[("data", false), ("binaryData", true)],
        ConfigKind::Secret => &[("data", true)],
    };
    for &(section, base64) in sections {
        let map = match json.get(section) {
            None | Some(Json::Null) => continue,
            Some(Json::Object(map)) => map,
            Some(_) => return Err(invalid(format!("{what}: `{section}` is not a map"))),
        };
        for (key, value) in map {
            let Json::String(value) = value else {
                return Err(invalid(format!(
                    "{what} key {key}: the value is not a string"
                )));
            };
            let text = if base64 {
                let bytes = decode_base64(value)
                    .ok_or_else(|| invalid(format!("{what} key {key}: the value is not base64")))?;
                String::from_utf8(bytes).map_err(|_| {
                    invalid(format!(
                        "{what} key {key}: the value is not UTF-8 text (binary data cannot be a value)"
                    ))
                })?
            } else {
                value.clone()
            };
            entries.push((key.clone(), text));
        }
    }
    entries.sort();
    let mut values = Mapping::new();
    for (key, text) in entries {
        if is_document(&key) {
            config::merge(
                &mut values,
                config::parse_values(&format!("{what} key {key}"), &text)?,
            );
        } else {
            config::set_path(&mut values, &key, &text)
                .map_err(|problem| invalid(format!("{what} key `{key}`: {problem}")))?;
        }
    }
    Ok(values)
}

/// Standard base64 (RFC 4648, with padding), as the API server writes `data` and `binaryData`.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let chunks = bytes.len() / 4;
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | sextet(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str) -> ConfigRef {
        ConfigRef {
            kind: ConfigKind::ConfigMap,
            name: name.into(),
        }
    }

    fn yaml(values: &Mapping) -> String {
        serde_yaml_ng::to_string(values).unwrap()
    }

    #[test]
    fn parses_refs_case_insensitively_and_refuses_other_kinds() {
        assert_eq!(ConfigRef::parse("configmap/portal").unwrap(), cm("portal"));
        assert_eq!(ConfigRef::parse("ConfigMap/portal").unwrap(), cm("portal"));
        assert_eq!(ConfigRef::parse("CM/portal").unwrap(), cm("portal"));
        let s = ConfigRef::parse("Secret/db.creds").unwrap();
        assert_eq!(
            (s.kind, s.canonical(), s.describe("team-a")),
            (
                ConfigKind::Secret,
                "secret/db.creds".into(),
                "secret team-a/db.creds".into()
            )
        );
        let err = ConfigRef::parse("deployment/x").unwrap_err();
        assert!(err.contains("unknown kind `deployment`"), "{err}");
        assert!(
            ConfigRef::parse("portal")
                .unwrap_err()
                .contains("KIND/NAME")
        );
        assert!(ConfigRef::parse("cm/Portal").is_err());
        assert!(ConfigRef::parse("cm/").is_err());
        assert!(ConfigRef::parse("cm/a/b").is_err());
    }

    #[test]
    fn plain_keys_are_set_like_set_and_documents_merge() {
        let object = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"portal"},
            "data":{"replicas":"3","image.tag":"v2","debug":"true","zip":"007",
                    "values.yaml":"region: eu\nimage: {pull: Always}\n",
                    "extra.json":"{\"owner\": \"team-a\"}"}}"#;
        let values = values_of(&cm("portal"), "team-a", object).unwrap();
        assert_eq!(
            yaml(&values),
            "debug: true\nowner: team-a\nimage:\n  tag: v2\n  pull: Always\nreplicas: 3\nregion: eu\nzip: '007'\n"
        );
    }

    #[test]
    fn keys_apply_in_sorted_order() {
        // `a.yaml` < `replicas` < `z.yaml`: the document after the key wins, the one before loses.
        let object = r#"{"data":{"z.yaml":"replicas: 9\n","replicas":"3","a.yaml":"replicas: 1\nname: a\n","name":"plain"}}"#;
        let values = values_of(&cm("x"), "ns", object).unwrap();
        assert_eq!(yaml(&values), "replicas: 9\nname: plain\n");
        let object = r#"{"data":{"replicas":"3","a.yaml":"replicas: 1\n"}}"#;
        let values = values_of(&cm("x"), "ns", object).unwrap();
        assert_eq!(yaml(&values), "replicas: 3\n");
    }

    #[test]
    fn secret_data_is_base64_decoded() {
        let object = r#"{"kind":"Secret","type":"Opaque",
            "data":{"db.password":"czNjcjN0","values.yaml":"ZGI6IHt1c2VyOiBhcHB9Cg==","one":"YQ==","two":"YWI="}}"#;
        let s = ConfigRef::parse("secret/db").unwrap();
        let values = values_of(&s, "ns", object).unwrap();
        assert_eq!(
            yaml(&values),
            "db:\n  password: s3cr3t\n  user: app\none: a\ntwo: ab\n"
        );
        let err = values_of(&s, "ns", r#"{"data":{"k":"not base64!"}}"#).unwrap_err();
        assert_eq!(err.reason, "InvalidConfig");
        assert_eq!(err.message, "secret ns/db key k: the value is not base64");
        // A ConfigMap's binaryData is base64 too; its data is not.
        let values = values_of(
            &cm("x"),
            "ns",
            r#"{"data":{"a":"YQ=="},"binaryData":{"b":"Yg=="}}"#,
        )
        .unwrap();
        assert_eq!(yaml(&values), "a: YQ==\nb: b\n");
    }

    #[test]
    fn bad_documents_name_the_object_key_line_and_column() {
        let object = r#"{"data":{"values.yaml":"region: eu\nimage: [1\n"}}"#;
        let err = values_of(&cm("portal-config"), "team-a", object).unwrap_err();
        assert_eq!(err.reason, "InvalidConfig");
        assert!(
            err.message
                .starts_with("configmap team-a/portal-config key values.yaml:3:1: malformed YAML"),
            "{}",
            err.message
        );
        let err = values_of(&cm("p"), "n", r#"{"data":{"v.yml":"- 1\n"}}"#).unwrap_err();
        assert!(err.message.contains("must be a mapping"), "{}", err.message);
        let err = values_of(&cm("p"), "n", r#"{"data":{".env":"x"}}"#).unwrap_err();
        assert_eq!(err.message, "configmap n/p key `.env`: empty key segment");
        assert!(values_of(&cm("p"), "n", r#"{"data":{"k":1}}"#).is_err());
        assert!(values_of(&cm("p"), "n", "not json").is_err());
    }

    #[test]
    fn an_object_without_data_is_an_empty_layer() {
        assert!(
            values_of(&cm("p"), "n", r#"{"kind":"ConfigMap"}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(decode_base64("aGVsbA==").unwrap(), b"hell");
        for bad in ["aGVsbG8", "aGV=bG8h", "a===", "aGVs\nbG8h", "YQ==YQ=="] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }
}
