//! `wharf new http-rust` scaffolds a service that builds (`wharf build`)
//! and serves (`wharf up`) with no edits.

use std::process::Command;

use wharf_test_artifacts as art;

use crate::common::{ChildHost, client, run_wharf, wharf_bin};

#[tokio::test]
async fn new_service_builds_and_serves_without_edits() {
    let dir = tempfile::tempdir().unwrap();
    let service_dir = dir.path().join("greeter");
    let (code, stdout, stderr) = run_wharf(&[
        "new",
        "http-rust",
        "greeter",
        "--dir",
        service_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(service_dir.join("wharf.toml").is_file());

    // Share the guests' target dir so the SDK's dependencies are not
    // compiled a second time.
    let status = Command::new(wharf_bin())
        .arg("build")
        .arg(&service_dir)
        .env("CARGO_TARGET_DIR", art::GUEST_TARGET_DIR)
        .status()
        .unwrap();
    assert!(status.success(), "wharf build of the scaffold failed");
    assert!(service_dir.join(".wharf/build/greeter.wasm").is_file());

    let host = ChildHost::start(&service_dir, &[]);
    let response = client().get(host.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.text().await.unwrap().is_empty());
}

#[test]
fn new_refuses_an_invalid_name_and_an_existing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_wharf(&["new", "http-rust", "Bad_Name"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not a valid service name"), "{stderr}");
    let (code, _, stderr) = run_wharf(&[
        "new",
        "http-rust",
        "taken",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");
}
