//! The vendored messaging WIT packages parse, and the whole `wit/` tree the
//! SDK builds against still resolves with them in `wit/deps/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use wit_parser::Resolve;

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

/// Parses `dir` as one package (it must need no other package) and returns
/// its name and interface names.
fn load(dir: &Path) -> (String, Vec<String>, Vec<String>) {
    let mut resolve = Resolve::new();
    let (id, _) = resolve
        .push_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e:?}", dir.display()));
    let package = &resolve.packages[id];
    let mut interfaces: Vec<String> = package.interfaces.keys().cloned().collect();
    interfaces.sort();
    let mut worlds: Vec<String> = package.worlds.keys().cloned().collect();
    worlds.sort();
    assert_eq!(resolve.packages.len(), 1, "depends on no other package");
    (package.name.to_string(), interfaces, worlds)
}

#[test]
fn wasmcloud_messaging_parses() {
    let (name, interfaces, _) = load(&wit_dir().join("deps/wasmcloud-messaging"));
    assert_eq!(name, "wasmcloud:messaging@0.2.0");
    assert_eq!(interfaces, ["consumer", "handler", "types"]);
}

#[test]
fn wasi_messaging_parses() {
    let (name, interfaces, _) = load(&wit_dir().join("deps/messaging"));
    assert_eq!(name, "wasi:messaging@0.2.0-draft");
    for expected in ["incoming-handler", "producer", "request-reply", "types"] {
        assert!(interfaces.iter().any(|i| i == expected), "{interfaces:?}");
    }
}

#[test]
fn whole_wit_tree_resolves() {
    let mut resolve = Resolve::new();
    resolve
        .push_dir(wit_dir())
        .unwrap_or_else(|e| panic!("wit/: {e:?}"));
    let names: Vec<String> = resolve
        .packages
        .iter()
        .map(|(_, p)| p.name.to_string())
        .collect();
    assert!(
        names.iter().any(|n| n == "wasmcloud:messaging@0.2.0"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "wasi:messaging@0.2.0-draft"),
        "{names:?}"
    );
}
