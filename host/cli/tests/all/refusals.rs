//! Components the host cannot serve are refused at load, with a clean
//! non-zero exit and an error naming what is missing; never a panic.

use wharf_test_artifacts as art;

use crate::common::run_wharf;

fn refused(path: &str) -> String {
    let (code, _stdout, stderr) = run_wharf(&[
        "up",
        path,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "wharf up {path} must fail; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    stderr
}

#[test]
fn refuses_a_component_with_an_unknown_import_naming_it() {
    let stderr = refused(art::HTTP_UNKNOWN_IMPORT_COMPONENT);
    assert!(
        stderr.contains("imports `acme:secret/vault"),
        "stderr names the import:\n{stderr}"
    );
    assert!(
        stderr.contains("which this host does not provide"),
        "{stderr}"
    );
}

#[test]
fn refuses_a_command_component_naming_the_missing_export() {
    let stderr = refused(art::CLI_COMMAND_COMPONENT);
    assert!(
        stderr.contains("does not export `wasi:http/incoming-handler@0.2.x`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("wasi:cli/run"),
        "lists what it does export:\n{stderr}"
    );
}

#[test]
fn refuses_a_file_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.wasm");
    std::fs::write(&path, b"this is not wasm at all").unwrap();
    let stderr = refused(path.to_str().unwrap());
    assert!(stderr.contains("is not a WebAssembly file"), "{stderr}");
}

#[test]
fn refuses_a_core_module() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    // The smallest valid core module: magic + version 1.
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let stderr = refused(path.to_str().unwrap());
    assert!(
        stderr.contains("is a core WebAssembly module, not a component"),
        "{stderr}"
    );
}

#[test]
fn refuses_a_missing_file() {
    let stderr = refused("/nonexistent/missing.wasm");
    assert!(stderr.contains("missing.wasm"), "{stderr}");
}
