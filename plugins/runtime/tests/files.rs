//! The `files` interface on a real directory tree: read-only input, write-only output, no way out.

mod common;

use common::{Harness, run_fixture, string_result};
use kubectl_release_runtime::{FileTrees, Limits, RunContext};

fn trees() -> (tempfile::TempDir, tempfile::TempDir, RunContext) {
    let input = tempfile::tempdir().unwrap();
    let output = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(input.path().join("sub/deeper")).unwrap();
    std::fs::write(input.path().join("a.txt"), "alpha").unwrap();
    std::fs::write(input.path().join("sub/deeper/b.bin"), vec![7u8; 70_000]).unwrap();
    let ctx = RunContext {
        files: FileTrees::new(Some(input.path()), Some(output.path())).unwrap(),
        ..RunContext::default()
    };
    (input, output, ctx)
}

#[tokio::test]
async fn copies_the_input_tree_to_the_output_tree() {
    let h = Harness::new();
    let (_input, output, ctx) = trees();
    let outcome = run_fixture(&h.fixture(), &ctx, "files-copy", &[]).await;
    assert_eq!(string_result(&outcome, "files"), "2", "{outcome:?}");
    assert_eq!(string_result(&outcome, "bytes"), "70005");
    assert_eq!(
        std::fs::read(output.path().join("a.txt")).unwrap(),
        b"alpha"
    );
    assert_eq!(
        std::fs::read(output.path().join("sub/deeper/b.bin"))
            .unwrap()
            .len(),
        70_000
    );
}

#[tokio::test]
async fn paths_cannot_leave_their_tree() {
    let h = Harness::new();
    let task = h.fixture();
    let (input, _output, ctx) = trees();
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("secret"), "s3cr3t").unwrap();
    std::os::unix::fs::symlink(secret.path().join("secret"), input.path().join("link")).unwrap();

    for (path, reason) in [
        ("../a.txt", "Invalid"),
        ("/etc/hostname", "Invalid"),
        ("link", "Denied"),
    ] {
        let outcome = run_fixture(&task, &ctx, "read-file", &[("path", path)]).await;
        let f = outcome
            .failure()
            .unwrap_or_else(|| panic!("{path} was read: {outcome:?}"));
        assert!(f.reason.contains(reason), "{path}: {f}");
        assert!(!f.message.contains("s3cr3t"));
    }
    let ok = run_fixture(&task, &ctx, "read-file", &[("path", "a.txt")]).await;
    assert_eq!(string_result(&ok, "contents"), "alpha");

    let escape = run_fixture(
        &task,
        &ctx,
        "write-file",
        &[("path", "../escaped"), ("contents", "x")],
    )
    .await;
    assert!(escape.failure().is_some(), "{escape:?}");
    assert!(!_output.path().parent().unwrap().join("escaped").exists());
}

#[tokio::test]
async fn without_trees_file_access_is_denied() {
    let h = Harness::new();
    let outcome = run_fixture(
        &h.fixture(),
        &RunContext::default(),
        "read-file",
        &[("path", "a.txt")],
    )
    .await;
    let f = outcome
        .failure()
        .expect("read without an input tree succeeded");
    assert!(f.reason.contains("Denied"), "{f}");
}

#[tokio::test]
async fn writing_past_the_output_limit_fails_the_run() {
    let h = Harness::new();
    let (_input, _output, mut ctx) = trees();
    ctx.limits = Limits {
        output_file_bytes: 1000,
        ..Limits::default()
    };
    let outcome = run_fixture(&h.fixture(), &ctx, "files-copy", &[]).await;
    assert_eq!(
        outcome.failure().map(|f| f.reason.as_str()),
        Some("OutputTooLarge"),
        "{outcome:?}"
    );
}
