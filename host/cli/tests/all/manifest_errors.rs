//! `wharf up` on a bad manifest exits 1 with errors that name the file, the
//! key and the line, and starts nothing.

use wharf_test_artifacts as art;

use crate::common::{TestApp, run_wharf};

/// Runs `wharf up` on `manifest` and returns stderr with the temp folder
/// replaced by `<dir>`.
fn up_error(manifest: &str) -> String {
    let app = TestApp::new(manifest);
    let (code, stdout, stderr) = run_wharf(&[
        "up",
        app.dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stdout.contains("Serving"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.replace(app.dir.path().to_str().unwrap(), "<dir>")
}

fn component() -> String {
    format!("{:?}", art::EXAMPLE_HELLO_COMPONENT)
}

#[test]
fn unknown_key_names_file_key_and_line() {
    let stderr = up_error(&format!(
        "[service.hello]\ncomponent = {}\nroutes = [\"/\"]\nverison = \"1\"\n",
        component()
    ));
    assert!(
        stderr.contains(
            "<dir>/wharf.toml:4:1: service.hello.verison: unknown field `verison`, expected one of `component`, `routes`, `version`, `outbound`, `files`, `sockets`, `publish`, `subscriptions`, `variables`, `limits`, `key_value_stores`"
        ),
        "{stderr}"
    );
}

#[test]
fn missing_component_file_is_an_error() {
    let stderr = up_error("[service.hello]\ncomponent = \"nope.wasm\"\nroutes = [\"/\"]\n");
    assert!(
        stderr.contains(
            "<dir>/wharf.toml:2:13: service.hello.component: component file `<dir>/nope.wasm` does not exist"
        ),
        "{stderr}"
    );
}

#[test]
fn duplicate_service_names_are_an_error() {
    let stderr = up_error(&format!(
        "[service.hello]\ncomponent = {c}\nroutes = [\"/a\"]\n\n[service.hello]\ncomponent = {c}\nroutes = [\"/b\"]\n",
        c = component()
    ));
    assert!(stderr.contains("<dir>/wharf.toml:5:"), "{stderr}");
    assert!(stderr.to_lowercase().contains("duplicate"), "{stderr}");
}

#[test]
fn conflicting_routes_name_both_services() {
    let stderr = up_error(&format!(
        "[service.one]\ncomponent = {c}\nroutes = [\"/api/...\"]\n\n[service.two]\ncomponent = {c}\nroutes = [\"/x\", \"/api/...\"]\n",
        c = component()
    ));
    assert!(
        stderr.contains(
            "<dir>/wharf.toml:7:17: service.two.routes[1]: route `/api/...` of service `two` conflicts with the same route of service `one` (line 3, column 11)"
        ),
        "{stderr}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let stderr = up_error(&format!(
        "[service.Bad]\ncomponent = {c}\nroutes = [\"/\"]\n\n[service.good]\ncomponent = {c}\nroutes = [\"nope\"]\n",
        c = component()
    ));
    assert!(
        stderr.contains("<dir>/wharf.toml:1:10: service.Bad: invalid service name `Bad`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "<dir>/wharf.toml:7:11: service.good.routes[0]: route `nope` must start with `/`"
        ),
        "{stderr}"
    );
}

#[test]
fn syntax_errors_point_at_the_line() {
    let stderr = up_error("[service.hello]\nroutes = [\"/\"\n");
    assert!(stderr.contains("<dir>/wharf.toml:"), "{stderr}");
}

#[test]
fn a_malformed_outbound_origin_is_an_error() {
    let stderr = up_error(&format!(
        "[service.hello]\ncomponent = {}\nroutes = [\"/\"]\noutbound = [\"http://ok:1\", \"example.com\"]\n",
        component()
    ));
    assert!(
        stderr.contains(
            "<dir>/wharf.toml:4:28: service.hello.outbound[1]: `example.com` is not an origin"
        ),
        "{stderr}"
    );
}

#[test]
fn a_folder_without_a_manifest_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run_wharf(&["up", dir.path().to_str().unwrap(), "--admin", "127.0.0.1:0"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no wharf.toml in"), "{stderr}");
}
