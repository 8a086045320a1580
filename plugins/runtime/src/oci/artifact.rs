//! The CNCF wasm OCI artifact shape: building it for push, checking it on pull.
//! Spec: tag-runtime.cncf.io/wgs/wasm/deliverables/wasm-oci-artifact/

use std::collections::BTreeMap;

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_wasm::{
    COMPONENT_OS, WASM_ARCHITECTURE, WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE,
    WASM_MANIFEST_MEDIA_TYPE,
};

use super::OciError;
use crate::Digest;

/// The first four bytes of every wasm binary.
pub const WASM_MAGIC: [u8; 4] = *b"\0asm";
/// Bytes 4..8 of a component (version 0x0d, layer 1); a core module has `01 00 00 00`.
pub const COMPONENT_VERSION_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// Checks the 8-byte header: the full validation is wasmtime's, at compile time; this only
/// refuses what is certainly not a component before it reaches the cache.
pub fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || bytes[..4] != WASM_MAGIC {
        return Err("the layer does not start with the wasm magic \\0asm".to_owned());
    }
    if bytes[4..8] == [0x01, 0x00, 0x00, 0x00] {
        return Err("the layer is a core wasm module, not a component".to_owned());
    }
    if bytes[4..8] != COMPONENT_VERSION_LAYER {
        return Err(format!(
            "unsupported wasm version/layer bytes {:02x?} (a component has {:02x?})",
            &bytes[4..8],
            COMPONENT_VERSION_LAYER
        ));
    }
    Ok(())
}

/// The `application/vnd.wasm.config.v0+json` config for a component, in the schema of
/// `oci_wasm::WasmConfig`.
///
/// `created` comes from `SOURCE_DATE_EPOCH` (else the Unix epoch) rather than the clock, so the
/// same component always yields the same config and manifest digests: re-publishing is a no-op
/// and digests can be compared across machines. `os` is `wasip2` because the spec uses it to
/// mean "a component" (with the `component` field required), whatever the component imports.
pub fn wasm_config_json(component: &[u8]) -> Result<Vec<u8>, String> {
    let info = oci_wasm::Component::from_raw_component(component)
        .map_err(|e| format!("cannot decode the component's WIT world: {e:#}"))?;
    let created_secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let config = serde_json::json!({
        "created": rfc3339_utc(created_secs),
        "architecture": WASM_ARCHITECTURE,
        "os": COMPONENT_OS,
        "layerDigests": [Digest::of(component).to_string()],
        "component": info,
    });
    serde_json::to_vec(&config).map_err(|e| format!("serializing the wasm config: {e}"))
}

/// The image manifest for one component layer and its config, as serialized bytes (the digest
/// of exactly these bytes is the manifest digest).
pub(crate) fn manifest_bytes(component: &[u8], config: &[u8]) -> Vec<u8> {
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(WASM_MANIFEST_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: WASM_MANIFEST_CONFIG_MEDIA_TYPE.to_owned(),
            digest: Digest::of(config).to_string(),
            size: config.len() as i64,
            ..Default::default()
        },
        layers: vec![OciDescriptor {
            media_type: WASM_LAYER_MEDIA_TYPE.to_owned(),
            digest: Digest::of(component).to_string(),
            size: component.len() as i64,
            ..Default::default()
        }],
        subject: None,
        artifact_type: None,
        annotations: None::<BTreeMap<String, String>>,
    };
    // Serializing plain strings and integers cannot fail.
    serde_json::to_vec(&manifest).expect("manifest serializes")
}

/// The one component layer of a wasm artifact manifest.
#[derive(Debug)]
pub(crate) struct WasmLayer {
    pub digest: Digest,
    pub size: u64,
}

/// Checks that `body` is a CNCF wasm artifact manifest and returns its single layer.
pub(crate) fn parse_wasm_manifest(reference: &str, body: &[u8]) -> Result<WasmLayer, OciError> {
    let not_component = |reason: String| OciError::NotAComponent {
        reference: reference.to_owned(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| not_component(format!("the manifest is not JSON: {e}")))?;
    if value.get("manifests").is_some() {
        return Err(not_component(
            "it is an image index, not a single wasm artifact manifest".to_owned(),
        ));
    }
    let manifest: OciImageManifest = serde_json::from_value(value)
        .map_err(|e| not_component(format!("the manifest is not an OCI image manifest: {e}")))?;
    if let Some(mt) = &manifest.media_type
        && mt != WASM_MANIFEST_MEDIA_TYPE
    {
        return Err(not_component(format!(
            "manifest media type is {mt}, expected {WASM_MANIFEST_MEDIA_TYPE}"
        )));
    }
    if manifest.config.media_type != WASM_MANIFEST_CONFIG_MEDIA_TYPE {
        return Err(not_component(format!(
            "config media type is {}, expected {WASM_MANIFEST_CONFIG_MEDIA_TYPE}",
            manifest.config.media_type
        )));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(not_component(format!(
            "it has {} layers, expected exactly one {WASM_LAYER_MEDIA_TYPE} layer",
            manifest.layers.len()
        )));
    };
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        return Err(not_component(format!(
            "layer media type is {}, expected {WASM_LAYER_MEDIA_TYPE}",
            layer.media_type
        )));
    }
    let digest = layer
        .digest
        .parse::<Digest>()
        .map_err(|_| OciError::Registry {
            reference: reference.to_owned(),
            reason: format!("layer digest {:?} is not sha256:<64 hex>", layer.digest),
        })?;
    let size = u64::try_from(layer.size).map_err(|_| OciError::Registry {
        reference: reference.to_owned(),
        reason: format!("layer size {} is negative", layer.size),
    })?;
    Ok(WasmLayer { digest, size })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic Gregorian, UTC).
fn rfc3339_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn header_check_tells_module_from_component() {
        assert!(check_component_header(b"\0asm\x0d\x00\x01\x00").is_ok());
        let module = check_component_header(b"\0asm\x01\x00\x00\x00").unwrap_err();
        assert!(module.contains("core wasm module"), "{module}");
        assert!(
            check_component_header(b"hello world")
                .unwrap_err()
                .contains("magic")
        );
        assert!(check_component_header(b"\0asm").is_err());
    }

    #[test]
    fn config_matches_oci_wasm_schema_and_is_reproducible() {
        let component = b"\0asm\x0d\x00\x01\x00";
        let a = wasm_config_json(component).unwrap();
        let b = wasm_config_json(component).unwrap();
        assert_eq!(a, b);
        let parsed = oci_wasm::WasmConfig::try_from(a.as_slice()).unwrap();
        assert_eq!(parsed.architecture, "wasm");
        assert_eq!(parsed.os, "wasip2");
        assert_eq!(
            parsed.layer_digests,
            vec![Digest::of(component).to_string()]
        );
        assert!(parsed.component.is_some());
    }

    #[test]
    fn built_manifest_passes_our_own_check() {
        let component = b"\0asm\x0d\x00\x01\x00";
        let config = wasm_config_json(component).unwrap();
        let body = manifest_bytes(component, &config);
        let layer = parse_wasm_manifest("r", &body).unwrap();
        assert_eq!(layer.digest, Digest::of(component));
        assert_eq!(layer.size, 8);
    }

    #[test]
    fn refuses_other_artifacts() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},
            "layers":[]}"#;
        let e = parse_wasm_manifest("r", image).unwrap_err();
        assert!(
            matches!(&e, OciError::NotAComponent { reason, .. } if reason.contains("config media type")),
            "{e}"
        );
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse_wasm_manifest("r", index),
            Err(OciError::NotAComponent { .. })
        ));
    }
}
