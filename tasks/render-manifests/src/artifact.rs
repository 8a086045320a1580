//! The Flux OCI artifact, byte for byte deterministic: a tar of the rendered files (sorted paths,
//! uid/gid 0, no owner names, mtime 0, mode 0644 for files and 0755 for directories), gzip with
//! no name and mtime 0, a config `application/vnd.cncf.flux.config.v1+json` and an OCI image
//! manifest with the `created`, `source` and `revision` annotations.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;
use sha2::{Digest, Sha256};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub struct Artifact {
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

/// `files`: (relative path, contents), any order.
pub fn tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dirs = BTreeSet::new();
    for (path, _) in &sorted {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            dirs.insert(format!("{}/", &path[..at + i]));
            at += i + 1;
        }
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut entries: Vec<(&str, Option<&[u8]>)> = dirs.iter().map(|d| (d.as_str(), None)).collect();
    entries.extend(sorted.iter().map(|(p, c)| (p.as_str(), Some(c.as_slice()))));
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (path, contents) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match contents {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .expect("in-memory tar");
            }
            Some(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                builder
                    .append_data(&mut header, path, bytes)
                    .expect("in-memory tar");
            }
        }
    }
    builder.into_inner().expect("in-memory tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("in-memory gzip");
    encoder.finish().expect("in-memory gzip")
}

/// `created`: seconds since the epoch, written as RFC 3339 UTC.
pub fn build(files: &[(String, Vec<u8>)], source: &str, revision: &str, created: i64) -> Artifact {
    let tar = tar(files);
    let layer = gzip(&tar);
    let created = rfc3339(created);
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": created,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [digest(&tar)]},
        "config": {},
    }))
    .expect("json");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": CONTENT_MEDIA_TYPE, "digest": digest(&layer), "size": layer.len()}],
        "annotations": {
            "org.opencontainers.image.created": created,
            "org.opencontainers.image.revision": revision,
            "org.opencontainers.image.source": source,
        },
    }))
    .expect("json");
    Artifact {
        digest: digest(&manifest),
        config,
        layer,
        manifest,
    }
}

/// Seconds since the epoch -> `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn same_files_in_any_order_give_the_same_digest() {
        let a = vec![
            ("b.yaml".to_owned(), b"b: 1\n".to_vec()),
            ("sub/a.yaml".to_owned(), b"a: 1\n".to_vec()),
        ];
        let mut b = a.clone();
        b.reverse();
        let x = build(&a, "https://git/x", "main@sha1:abc", 0);
        let y = build(&b, "https://git/x", "main@sha1:abc", 0);
        assert_eq!(x.digest, y.digest);
        assert_eq!(x.layer, y.layer);
        assert_ne!(
            x.digest,
            build(&a, "https://git/x", "main@sha1:abd", 0).digest
        );
        let manifest: serde_json::Value = serde_json::from_slice(&x.manifest).unwrap();
        assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["mediaType"], CONTENT_MEDIA_TYPE);
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.created"],
            "1970-01-01T00:00:00Z"
        );
        // The tar: sorted, directories first, owner and times zero.
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(x.layer.as_slice()));
        let listed: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("b.yaml".to_owned(), 0o644, 0, 0),
                ("sub/".to_owned(), 0o755, 0, 0),
                ("sub/a.yaml".to_owned(), 0o644, 0, 0)
            ]
        );
        assert_eq!(&x.layer[4..8], &[0, 0, 0, 0], "gzip mtime is zero");
    }
}
