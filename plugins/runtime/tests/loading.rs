//! Loading: compile once per digest and cache the native code; refuse what is not a task of a
//! contract version this host serves.

mod common;

use common::{Harness, fixture_bytes};
use kubectl_release_runtime::{LoadError, LoadPath, contract};

#[test]
fn a_second_runtime_deserializes_instead_of_compiling() {
    let first = Harness::new();
    let task = first.fixture();
    assert_eq!(task.load_path(), LoadPath::Compiled);
    // Same process, same digest: the loaded task is reused, nothing is compiled again.
    assert!(std::sync::Arc::ptr_eq(&task, &first.fixture()));

    // A new runtime on the same cache directory stands for a second process start.
    let second = Harness::with_cache(first.cache);
    assert_eq!(second.fixture().load_path(), LoadPath::Deserialized);
}

#[test]
fn a_component_for_another_contract_version_is_refused_naming_both() {
    // Another WIT version changes nothing but the version in every interface name; rewriting
    // those names in the fixture (same length, so the binary stays well-formed) yields exactly
    // what a task built against kubectl-release:task@0.9.0 would carry.
    let mut bytes = fixture_bytes();
    let (from, to) = (b"kubectl-release:task/".as_slice(), b"@0.1.0".as_slice());
    let mut replaced = 0;
    let mut i = 0;
    while let Some(start) = find(&bytes[i..], from).map(|p| p + i) {
        let end = start + from.len();
        if let Some(at) = bytes[end..].iter().take(20).position(|&b| b == b'@')
            && bytes[end + at..].starts_with(to)
        {
            bytes[end + at..end + at + to.len()].copy_from_slice(b"@0.9.0");
            replaced += 1;
        }
        i = end;
    }
    assert!(replaced > 0, "the fixture names no versioned interface");

    let h = Harness::new();
    let err = match h.runtime.load_bytes(&bytes, "other-version.wasm") {
        Err(err) => err,
        Ok(_) => panic!("a 0.9.0 component was accepted"),
    };
    assert!(matches!(err, LoadError::Contract { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("kubectl-release:task@0.9.0"), "{message}");
    assert!(
        message.contains(&format!(
            "kubectl-release:task@{}",
            contract::SERVED_VERSIONS[0]
        )),
        "{message}"
    );
    assert!(message.contains("other-version.wasm"), "{message}");
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let h = Harness::new();
    let err = match h.runtime.load_bytes(b"\0asm\x01\0\0\0", "core-module.wasm") {
        Err(err) => err,
        Ok(_) => panic!("a core module was accepted"),
    };
    assert!(err.to_string().contains("core-module.wasm"), "{err}");
    assert!(h.runtime.load_bytes(b"hello", "text.wasm").is_err());
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
