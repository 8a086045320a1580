//! Whole promotions against the in-memory registry: what is written, in which order, and that
//! bad input or a failed read writes nothing.

use kubectl_release_sdk::{Params, Results, TaskError, Value};
use serde_json::{Value as Json, json};

use crate::fake::FakeRegistry;
use crate::task::{Args, promote};

const SRC: &str = "quay.io/build/api";
const SRC_W: &str = "quay.io/build/worker";
const DST: &str = "registry.example/release/api";
const DST_W: &str = "registry.example/release/worker";
const NOW: i64 = 1_714_600_000;

fn snapshot(components: &[(&str, &str, &Json)]) -> String {
    let list: Vec<Json> = components
        .iter()
        .map(|(name, repo, desc)| {
            json!({"name": name, "containerImage": format!("{repo}@{}", desc["digest"].as_str().unwrap()),
                   "source": {"git": {"url": "https://git.example/x", "revision": "0123456789abcdef0123456789abcdef01234567"}}})
        })
        .collect();
    json!({"apiVersion": "appstudio.redhat.com/v1alpha1", "kind": "Snapshot", "spec": {"application": "app", "components": list}})
        .to_string()
}

fn run(reg: &mut FakeRegistry, params: Params) -> Result<Results, TaskError> {
    let args = Args::from_params(&params)?;
    promote(reg, &args, NOW, |_| {})
}

fn result(r: &Results, name: &str) -> String {
    r.get(name).and_then(Value::as_str).unwrap().to_owned()
}

fn images(r: &Results) -> Json {
    serde_json::from_str(&result(r, "images")).unwrap()
}

#[test]
fn in_place_tagging_puts_the_exact_bytes_and_moves_no_blobs() {
    let mut reg = FakeRegistry::new();
    let img = reg.image(SRC, "amd64", 2, "a", &json!({}));
    let digest = img["digest"].as_str().unwrap().to_owned();
    let params = Params::new()
        .with("snapshot", snapshot(&[("api", SRC, &img)]))
        .with("tags", ["released", "v1-{{ git_short_sha }}"]);
    let r = run(&mut reg, params.clone()).unwrap();
    assert_eq!(
        reg.writes,
        [
            format!("manifest {SRC}:released"),
            format!("manifest {SRC}:v1-0123456")
        ]
    );
    assert_eq!(
        reg.tag_of(SRC, "released").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(result(&r, "tagged"), "2");
    assert_eq!(result(&r, "unchanged"), "0");
    assert_eq!(result(&r, "blobs-mounted"), "0");
    assert_eq!(result(&r, "bytes-copied"), "0");
    assert_eq!(
        images(&r),
        json!({"images": [{"name": "api", "shasum": digest, "urls": [format!("{SRC}:released"), format!("{SRC}:v1-0123456")], "arches": ["amd64"], "oses": ["linux"]}]})
    );
    assert!(
        !reg.calls
            .iter()
            .any(|c| c.starts_with("list-tags") || c.starts_with("referrers")),
        "{:?}",
        reg.calls
    );

    // Again: every tag is already there.
    reg.writes.clear();
    let r = run(&mut reg, params).unwrap();
    assert!(reg.writes.is_empty(), "{:?}", reg.writes);
    assert_eq!(result(&r, "tagged"), "0");
    assert_eq!(result(&r, "unchanged"), "2");
}

#[test]
fn a_tag_pointing_elsewhere_is_moved() {
    let mut reg = FakeRegistry::new();
    let old = reg.image(SRC, "amd64", 1, "old", &json!({}));
    let new = reg.image(SRC, "amd64", 1, "new", &json!({}));
    reg.tag(SRC, "released", old["digest"].as_str().unwrap());
    let r = run(
        &mut reg,
        Params::new().with("snapshot", snapshot(&[("api", SRC, &new)])),
    )
    .unwrap();
    assert_eq!(result(&r, "tagged"), "1");
    assert_eq!(
        reg.tag_of(SRC, "released").as_deref(),
        new["digest"].as_str()
    );
}

#[test]
fn many_images_are_read_and_tagged_in_two_batches() {
    // Each batch is one host call the host overlaps; one read after another is what made a
    // promotion of many images slow.
    let mut reg = FakeRegistry::new();
    let repos: Vec<String> = (0..5).map(|i| format!("quay.io/build/c{i}")).collect();
    let images: Vec<Json> = repos
        .iter()
        .map(|r| reg.image(r, "amd64", 1, r, &json!({})))
        .collect();
    let components: Vec<(String, &str, &Json)> = repos
        .iter()
        .zip(&images)
        .enumerate()
        .map(|(i, (r, img))| (format!("c{i}"), r.as_str(), img))
        .collect();
    let components: Vec<(&str, &str, &Json)> = components
        .iter()
        .map(|(n, r, i)| (n.as_str(), *r, *i))
        .collect();
    let params = Params::new()
        .with("snapshot", snapshot(&components))
        .with("tags", ["released", "v1-{{ git_short_sha }}"]);
    run(&mut reg, params.clone()).unwrap();
    // Manifests and release tags; then the tag writes, with the configs read for `arches`.
    assert_eq!(reg.batches, [5 + 10, 10 + 5]);
    assert_eq!(
        reg.calls.len(),
        30,
        "no read outside a batch: {:?}",
        reg.calls
    );

    // A second run only reads.
    reg.batches.clear();
    reg.writes.clear();
    run(&mut reg, params).unwrap();
    assert_eq!(reg.batches, [15, 5]);
    assert!(reg.writes.is_empty(), "{:?}", reg.writes);
}

fn mapping() -> String {
    json!({"components": [
        {"name": "api", "repository": DST, "tags": ["released", "{{ labels.version }}-{{ timestamp }}"]},
    ], "defaults": {"timestampFormat": "%Y%m%d"}})
    .to_string()
}

#[test]
fn multi_arch_index_is_copied_whole_with_its_digest_and_referrers() {
    let mut reg = FakeRegistry::new();
    let index = reg.index(SRC, &["amd64", "arm64", "ppc64le", "s390x"], "x");
    let digest = index["digest"].as_str().unwrap().to_owned();
    let sig = reg.cosign_signature(SRC, &digest, "sig");
    let sbom = reg.sbom(SRC, &index);
    let params = Params::new()
        .with("snapshot", snapshot(&[("api", SRC, &index)]))
        .with("mapping", mapping());
    let r = run(&mut reg, params.clone()).unwrap();

    // Digest preserved: the same bytes under the tag.
    assert_eq!(
        reg.tag_of(DST, "released").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        reg.tag_of(DST, "1.0-20240501").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        reg.manifest_bytes(DST, &digest),
        reg.manifest_bytes(SRC, &digest)
    );
    // Referrers followed: the signature by its tag, the SBOM by digest.
    let sig_tag = format!("sha256-{}.sig", &digest[7..]);
    assert_eq!(reg.tag_of(DST, &sig_tag).as_deref(), sig["digest"].as_str());
    assert!(reg.has_manifest(DST, sbom["digest"].as_str().unwrap()));

    // Order: blobs, then manifests (children before the index, the index before its referrers),
    // then the signature tag, then release tags.
    let kinds: Vec<&str> = reg
        .writes
        .iter()
        .map(|w| w.split(' ').next().unwrap())
        .collect();
    let first_manifest = kinds.iter().position(|k| *k == "manifest").unwrap();
    assert!(
        kinds[first_manifest..].iter().all(|k| *k == "manifest"),
        "{:?}",
        reg.writes
    );
    let pos = |s: &str| {
        reg.writes
            .iter()
            .position(|w| w == s)
            .unwrap_or_else(|| panic!("{s} not in {:?}", reg.writes))
    };
    let index_put = pos(&format!("manifest {DST}@{digest}"));
    let children: Vec<_> = reg
        .writes
        .iter()
        .enumerate()
        .filter(|(_, w)| w.starts_with("manifest") && w.contains('@'))
        .collect();
    assert_eq!(
        children.len(),
        6,
        "4 children, the index, the SBOM: {:?}",
        reg.writes
    );
    assert!(children[..4].iter().all(|(i, _)| *i < index_put));
    assert!(
        pos(&format!(
            "manifest {DST}@{}",
            sbom["digest"].as_str().unwrap()
        )) > index_put
    );
    assert!(pos(&format!("manifest {DST}:{sig_tag}")) < pos(&format!("manifest {DST}:released")));
    assert_eq!(
        reg.writes.last().unwrap(),
        &format!("manifest {DST}:1.0-20240501")
    );

    // Counts: 4 configs + 8 layers, + the signature's 2 blobs and the SBOM's 2 (one `{}` shared).
    assert_eq!(result(&r, "tagged"), "2");
    assert_eq!(result(&r, "manifests-copied"), "5");
    assert_eq!(result(&r, "referrers-copied"), "2");
    assert_eq!(result(&r, "bytes-copied"), "0");
    let mounted: u64 = result(&r, "blobs-mounted").parse().unwrap();
    assert_eq!(
        mounted,
        reg.writes
            .iter()
            .filter(|w| w.starts_with("blob mounted"))
            .count() as u64
    );
    assert_eq!(mounted, 4 + 8 + 1 + 2);
    let imgs = images(&r);
    assert_eq!(
        imgs["images"][0]["arches"],
        json!(["amd64", "arm64", "ppc64le", "s390x"])
    );
    assert_eq!(imgs["images"][0]["oses"], json!(["linux"]));
    assert_eq!(
        imgs["images"][0]["urls"],
        json!([format!("{DST}:released"), format!("{DST}:1.0-20240501")])
    );

    // A second run writes nothing.
    reg.writes.clear();
    let r = run(&mut reg, params).unwrap();
    assert!(reg.writes.is_empty(), "{:?}", reg.writes);
    assert_eq!(result(&r, "unchanged"), "2");
    assert_eq!(result(&r, "tagged"), "0");
    assert_eq!(result(&r, "blobs-mounted"), "0");
    assert_eq!(result(&r, "referrers-copied"), "0");
}

#[test]
fn refused_mounts_are_copied_and_counted() {
    let mut reg = FakeRegistry::new();
    reg.refuse_mounts = true;
    let img = reg.image(SRC, "amd64", 3, "a", &json!({"version": "2"}));
    let params = Params::new()
        .with("snapshot", snapshot(&[("api", SRC, &img)]))
        .with("mapping", mapping());
    let r = run(&mut reg, params).unwrap();
    let copied: Vec<_> = reg
        .writes
        .iter()
        .filter(|w| w.starts_with("blob copied"))
        .collect();
    assert_eq!(copied.len(), 4);
    let expected: u64 = ["a-amd64-layer-0", "a-amd64-layer-1", "a-amd64-layer-2"]
        .iter()
        .map(|l| l.len() as u64)
        .sum();
    let bytes: u64 = result(&r, "bytes-copied").parse().unwrap();
    assert!(bytes > expected, "config + layers: {bytes}");
    assert_eq!(result(&r, "blobs-mounted"), "0");
}

#[test]
fn blobs_already_in_the_destination_are_not_moved() {
    let mut reg = FakeRegistry::new();
    let img = reg.image(SRC, "amd64", 2, "a", &json!({"version": "2"}));
    // The destination has the same image already, untagged.
    let same = reg.image(DST, "amd64", 2, "a", &json!({"version": "2"}));
    assert_eq!(img, same);
    let params = Params::new()
        .with("snapshot", snapshot(&[("api", SRC, &img)]))
        .with("mapping", mapping());
    let r = run(&mut reg, params).unwrap();
    assert!(
        reg.writes
            .iter()
            .all(|w| w.starts_with(&format!("manifest {DST}:"))),
        "{:?}",
        reg.writes
    );
    assert_eq!(result(&r, "manifests-copied"), "0");
    assert_eq!(result(&r, "tagged"), "2");
}

#[test]
fn validation_of_every_component_comes_before_any_write() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({"version": "1"}));
    let worker = reg.image(SRC_W, "amd64", 1, "w", &json!({}));
    let mapping = json!({"components": [
        {"name": "api", "repository": DST, "tags": ["{{ labels.version }}"]},
        {"name": "worker", "repository": DST_W, "tags": ["{{ labels.version }}"]},
    ]});
    let params = Params::new()
        .with(
            "snapshot",
            snapshot(&[("api", SRC, &api), ("worker", SRC_W, &worker)]),
        )
        .with("mapping", mapping.to_string());
    let e = run(&mut reg, params).unwrap_err();
    assert_eq!(e.reason, "InvalidTag");
    assert!(e.message.contains("component `worker`"), "{e}");
    assert!(e.message.contains("no label `version`"), "{e}");
    assert!(reg.writes.is_empty(), "{:?}", reg.writes);
}

#[test]
fn two_components_claiming_one_tag_is_refused() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({}));
    let worker = reg.image(SRC_W, "amd64", 1, "w", &json!({}));
    let mapping = json!({"components": [{"name": "api", "repository": DST}, {"name": "worker", "repository": DST}], "defaults": {"tags": ["latest"]}});
    let params = Params::new()
        .with(
            "snapshot",
            snapshot(&[("api", SRC, &api), ("worker", SRC_W, &worker)]),
        )
        .with("mapping", mapping.to_string());
    let e = run(&mut reg, params).unwrap_err();
    assert!(
        e.message
            .contains("`api` and `worker` both want registry.example/release/api:latest"),
        "{e}"
    );
    assert!(reg.writes.is_empty());
}

#[test]
fn bad_input_writes_nothing_and_names_the_component() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({}));
    let tagged = json!({"spec": {"components": [
        {"name": "api", "containerImage": format!("{SRC}@{}", api["digest"].as_str().unwrap())},
        {"name": "worker", "containerImage": format!("{SRC_W}:latest")}]}});
    let e = run(&mut reg, Params::new().with("snapshot", tagged.to_string())).unwrap_err();
    assert_eq!(e.reason, "InvalidSnapshot");
    assert!(e.message.contains("component `worker`"), "{e}");
    let unknown = json!({"components": [{"name": "api", "repository": DST}, {"name": "ghost", "repository": DST_W}]});
    let e = run(
        &mut reg,
        Params::new()
            .with("snapshot", snapshot(&[("api", SRC, &api)]))
            .with("mapping", unknown.to_string()),
    )
    .unwrap_err();
    assert!(e.message.contains("`ghost` is not in the snapshot"), "{e}");
    let e = run(
        &mut reg,
        Params::new()
            .with("snapshot", snapshot(&[("api", SRC, &api)]))
            .with("tags", ["ok", "not ok"]),
    )
    .unwrap_err();
    assert_eq!(e.reason, "InvalidTag");
    assert!(
        reg.writes.is_empty() && reg.calls.is_empty(),
        "no registry call at all: {:?}",
        reg.calls
    );
}

#[test]
fn a_missing_source_image_names_the_component_and_writes_nothing() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({}));
    let ghost = json!({"digest": format!("sha256:{}", "e".repeat(64))});
    let params = Params::new().with(
        "snapshot",
        snapshot(&[("api", SRC, &api), ("worker", SRC_W, &ghost)]),
    );
    let e = run(&mut reg, params).unwrap_err();
    assert_eq!(e.reason, "ImageNotFound");
    assert!(e.message.contains("component `worker`"), "{e}");
    assert!(reg.writes.is_empty());
}

#[test]
fn a_denied_write_fails_with_the_component_named() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({}));
    reg.read_only.push(SRC.to_owned());
    let e = run(
        &mut reg,
        Params::new().with("snapshot", snapshot(&[("api", SRC, &api)])),
    )
    .unwrap_err();
    assert_eq!(e.reason, "Denied");
    assert!(
        e.message
            .contains("component `api`: pushing quay.io/build/api:released"),
        "{e}"
    );
}

#[test]
fn an_unavailable_registry_fails_the_run() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({}));
    reg.fail = Some("resolve".into());
    let e = run(
        &mut reg,
        Params::new().with("snapshot", snapshot(&[("api", SRC, &api)])),
    )
    .unwrap_err();
    assert_eq!(e.reason, "RegistryUnavailable");
    assert!(reg.writes.is_empty());
}

#[test]
fn dry_run_plans_everything_and_writes_nothing() {
    let mut reg = FakeRegistry::new();
    let index = reg.index(SRC, &["amd64", "arm64"], "x");
    reg.tag(
        DST,
        "released",
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    );
    let params = Params::new()
        .with("snapshot", snapshot(&[("api", SRC, &index)]))
        .with(
            "mapping",
            json!({"components": [{"name": "api", "repository": DST, "tags": ["released"]}]})
                .to_string(),
        )
        .with("dry-run", "true");
    let r = run(&mut reg, params).unwrap();
    assert!(reg.writes.is_empty());
    assert_eq!(result(&r, "tagged"), "1");
    assert_eq!(result(&r, "manifests-copied"), "3");
    assert_eq!(result(&r, "blobs-mounted"), "6");
    let plan: Json = serde_json::from_str(&result(&r, "plan")).unwrap();
    assert_eq!(plan["images"][0]["mode"], "copy");
    assert_eq!(
        plan["images"][0]["tags"],
        json!([{"tag": "released", "action": "tag"}])
    );
    assert_eq!(plan["images"][0]["manifests"], 3);
    assert_eq!(plan["images"][0]["blobs"], 6);
}

#[test]
fn release_timestamp_param_and_clock_fallback() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({}));
    let base = Params::new()
        .with("snapshot", snapshot(&[("api", SRC, &api)]))
        .with("tags", ["r{{ release_timestamp }}"]);
    run(&mut reg, base.clone()).unwrap();
    assert!(reg.tag_of(SRC, &format!("r{NOW}")).is_some());
    run(
        &mut reg,
        base.clone()
            .with("release-timestamp", "2024-01-02T03:04:05Z"),
    )
    .unwrap();
    assert!(reg.tag_of(SRC, "r1704164645").is_some());
    let e = run(&mut reg, base.with("release-timestamp", "soon")).unwrap_err();
    assert!(e.message.contains("param `release-timestamp`"), "{e}");
}

#[test]
fn components_param_promotes_a_subset() {
    let mut reg = FakeRegistry::new();
    let api = reg.image(SRC, "amd64", 1, "a", &json!({}));
    let worker = reg.image(SRC_W, "amd64", 1, "w", &json!({}));
    let params = Params::new()
        .with(
            "snapshot",
            snapshot(&[("api", SRC, &api), ("worker", SRC_W, &worker)]),
        )
        .with("components", ["worker"]);
    run(&mut reg, params).unwrap();
    assert_eq!(reg.writes, [format!("manifest {SRC_W}:released")]);
}

#[test]
fn the_spec_is_valid() {
    use kubectl_release_sdk::Task;
    let spec = crate::PushToRegistry::describe();
    spec.check().unwrap();
    let required: Vec<_> = spec
        .params
        .iter()
        .filter(|p| p.is_required())
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(required, ["snapshot"]);
}
