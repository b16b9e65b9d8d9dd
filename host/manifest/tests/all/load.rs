//! `Manifest::load` and `Manifest::single_component` against real files in a
//! temporary directory.

use std::fs;
use std::path::Path;

use tempfile::TempDir;
use wharf_manifest::{ComponentSource, MANIFEST_FILE_NAME, Manifest, ManifestError, Route};

/// A temporary project: `files` are (relative path, contents); a path ending
/// in `/` is a directory.
fn project(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let full = dir.path().join(path);
        if path.ends_with('/') {
            fs::create_dir_all(&full).unwrap();
        } else {
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(&full, contents).unwrap();
        }
    }
    dir
}

const HELLO: &str = r#"
[service.hello]
component = "build/hello.wasm"
routes = ["/..."]
"#;

#[test]
fn loads_the_manifest_in_a_directory() {
    let dir = project(&[("wharf.toml", HELLO), ("build/hello.wasm", "")]);
    let manifest = Manifest::load(dir.path()).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let dir_name = root.file_name().unwrap().to_string_lossy();

    assert_eq!(
        manifest.file.canonicalize().unwrap(),
        root.join(MANIFEST_FILE_NAME)
    );
    assert_eq!(manifest.dir.canonicalize().unwrap(), root);
    assert_eq!(manifest.app_name, dir_name);
    assert_eq!(manifest.services.len(), 1);
    let ComponentSource::File(wasm) = &manifest.services[0].component else {
        panic!("expected a file component");
    };
    assert!(wasm.is_absolute());
    assert_eq!(wasm.canonicalize().unwrap(), root.join("build/hello.wasm"));
}

#[test]
fn loads_a_manifest_file_by_path() {
    let dir = project(&[("wharf.toml", HELLO), ("build/hello.wasm", "")]);
    let file = dir.path().join("wharf.toml");
    let manifest = Manifest::load(&file).unwrap();
    assert_eq!(manifest.file, file);
    assert_eq!(manifest.dir, dir.path());
}

#[test]
fn errors_when_directory_has_no_manifest() {
    let dir = project(&[]);
    let err = Manifest::load(dir.path()).unwrap_err();
    assert!(matches!(&err, ManifestError::NotFound { path } if path == dir.path()));
    assert_eq!(
        err.to_string(),
        format!("no wharf.toml in {}", dir.path().display())
    );
}

#[test]
fn errors_when_path_does_not_exist() {
    let dir = project(&[]);
    let missing = dir.path().join("nope.toml");
    let err = Manifest::load(&missing).unwrap_err();
    let ManifestError::Io { path, source } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(path, &missing);
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{err}"
    );
}

#[test]
fn errors_name_the_file_as_given() {
    let dir = project(&[("wharf.toml", "[service.hello]\n")]);
    let err = Manifest::load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:1: service.hello: missing field `component`",
            dir.path().join("wharf.toml").display()
        )
    );
}

#[test]
fn errors_when_component_file_is_missing() {
    let dir = project(&[("wharf.toml", HELLO)]);
    let err = Manifest::load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3:13: service.hello.component: component file `{}` does not exist",
            dir.path().join("wharf.toml").display(),
            dir.path().join("build/hello.wasm").display()
        )
    );
}

#[test]
fn errors_when_cargo_dir_has_no_cargo_toml() {
    let manifest =
        "[service.hello]\ncomponent = { cargo = \"services/hello\" }\nroutes = [\"/\"]\n";
    let dir = project(&[("wharf.toml", manifest), ("services/hello/src/", "")]);
    let err = Manifest::load(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:23: service.hello.component.cargo: cargo package directory `{}` has no \
             Cargo.toml",
            dir.path().join("wharf.toml").display(),
            dir.path().join("services/hello").display()
        )
    );
}

#[test]
fn accepts_a_cargo_package_directory() {
    let manifest =
        "[service.hello]\ncomponent = { cargo = \"services/hello\" }\nroutes = [\"/\"]\n";
    let dir = project(&[
        ("wharf.toml", manifest),
        ("services/hello/Cargo.toml", "[package]\nname = \"hello\"\n"),
    ]);
    let manifest = Manifest::load(dir.path()).unwrap();
    assert_eq!(
        manifest.services[0].component,
        ComponentSource::Cargo {
            package_dir: dir.path().join("services/hello")
        }
    );
}

#[test]
fn single_component_serves_everything_from_one_file() {
    let dir = project(&[("My_App.v2.wasm", "")]);
    let wasm = dir.path().join("My_App.v2.wasm");
    let manifest = Manifest::single_component(&wasm).unwrap();

    assert_eq!(manifest.app_name, "My_App.v2");
    assert_eq!(manifest.file, wasm);
    assert_eq!(manifest.dir, dir.path());
    assert_eq!(manifest.services.len(), 1);
    let service = &manifest.services[0];
    assert_eq!(service.name, "my-app-v2");
    assert_eq!(service.component, ComponentSource::File(wasm));
    assert_eq!(service.routes, [Route::Prefix(String::new())]);
    assert_eq!(service.routes[0].to_string(), "/...");
    assert_eq!(service.version, "dev");
}

#[test]
fn single_component_prefixes_names_that_do_not_start_with_a_letter() {
    let dir = project(&[("2048.wasm", "")]);
    let manifest = Manifest::single_component(&dir.path().join("2048.wasm")).unwrap();
    assert_eq!(manifest.services[0].name, "svc-2048");
    assert_eq!(manifest.app_name, "2048");
}

#[test]
fn single_component_makes_relative_paths_absolute() {
    let manifest =
        Manifest::single_component(Path::new("tests/ui/fixtures/existing-file")).unwrap();
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fixtures/existing-file");
    assert_eq!(manifest.file, expected);
    assert_eq!(
        manifest.services[0].component,
        ComponentSource::File(expected)
    );
}

#[test]
fn single_component_errors_on_missing_file_or_directory() {
    let dir = project(&[("dir.wasm/", "")]);
    let missing = dir.path().join("missing.wasm");
    let err = Manifest::single_component(&missing).unwrap_err();
    assert!(
        matches!(&err, ManifestError::Io { path, source } if path == &missing && source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );

    let directory = dir.path().join("dir.wasm");
    let err = Manifest::single_component(&directory).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot read {}: is a directory", directory.display())
    );
}
