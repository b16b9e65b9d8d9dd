//! `parse_service_section` and `extract_service_section`: a service's table
//! deployed on its own, and the text `wharf deploy` sends.
//!
//! Like `parse`, relative paths resolve against the crate root, so
//! `tests/ui/fixtures` is a directory that exists.

use std::path::{Path, PathBuf};

use wharf_manifest::{
    ComponentSource, Manifest, ManifestError, Route, ServiceSpec, extract_service_section,
    parse_service_section,
};

const WASM: &str = "tests/ui/fixtures/existing-file";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(name: &str, section: &str) -> Result<ServiceSpec, ManifestError> {
    parse_service_section(
        name,
        section,
        Path::new(&format!("deploy of {name}")),
        &crate_dir(),
    )
}

fn error_text(name: &str, section: &str) -> String {
    match deploy(name, section) {
        Ok(service) => panic!("expected an error, got {service:#?}"),
        Err(err) => err.to_string(),
    }
}

/// Uses every setting; `CARGO_PKG_NAME` is set by cargo when it runs tests.
fn full_manifest() -> String {
    format!(
        r#"
[app]
name = "shop"

[service.web]
component = "{WASM}"
routes = ["/"]

[service.api]
component = {{ cargo = "." }}
routes = ["/api/...", "/health"]
version = "2.1.0"
outbound = ["https://*.example.com", "http://127.0.0.1:8080"]
files = [{{ source = "tests/ui/fixtures", path = "/static" }}, {{ source = "tests/ui", path = "/data", mode = "rw" }}]
sockets = ["127.0.0.1:5432", "10.0.0.0/8:*"]
publish = ["api.>", "orders.reserved"]
subscriptions = [
  {{ topic = "orders.created", queue_group = "api" }},
  {{ topic = "orders.*", max_in_flight = 8, retries = 5, dead_letter = "orders.failed", durable = true }},
]

[service.api.variables]
PLAIN = "v"
HIDDEN = {{ value = "s", secret = true }}
PACKAGE = "${{env.CARGO_PKG_NAME}}"

[service.api.limits]
memory = "16MiB"
cpu_time = "250ms"
timeout = "2s"
max_concurrent = 3
max_queued = 0
queue_timeout = "100ms"
max_request_body = "1KiB"
max_response_body = "2MiB"

[service.worker]
component = "{WASM}"

[[service.worker.subscriptions]]
topic = "jobs.>"
queue_group = "workers"
"#
    )
}

#[test]
fn an_extracted_section_parses_to_the_manifests_service() {
    let source = full_manifest();
    let manifest = Manifest::parse(&source, Path::new("wharf.toml")).unwrap();
    for from_manifest in &manifest.services {
        let section = extract_service_section(&source, &from_manifest.name).unwrap();
        assert!(!section.contains("component"), "{section}");
        let deployed = parse_service_section(
            &from_manifest.name,
            &section,
            Path::new("deploy"),
            &manifest.dir,
        )
        .unwrap_or_else(|e| panic!("{e}\n{section}"));
        assert_eq!(deployed.component, ComponentSource::Deployed);
        assert_eq!(
            deployed,
            ServiceSpec {
                component: ComponentSource::Deployed,
                ..from_manifest.clone()
            }
        );
    }
    let api = deploy("api", &extract_service_section(&source, "api").unwrap()).unwrap();
    assert_eq!(
        api.routes,
        [Route::Prefix("/api".into()), Route::Exact("/health".into())]
    );
    assert_eq!(api.outbound.len(), 2);
    assert_eq!(api.publish, ["api.>", "orders.reserved"]);
    assert_eq!(api.subscriptions.len(), 2);
    assert_eq!(api.subscriptions[1].dead_letter, "orders.failed");
    assert!(api.subscriptions[1].durable);
    assert_eq!(api.limits.memory_bytes, 16 * 1024 * 1024);
    let package = api.variables.iter().find(|v| v.name == "PACKAGE").unwrap();
    assert_eq!(package.value, "wharf-manifest");
    assert!(package.secret);
}

#[test]
fn extracts_dotted_and_inline_service_tables() {
    let source = format!(
        "service.one = {{ component = '{WASM}', routes = ['/one'] }}\n\
         service.two.component = '{WASM}'\n\
         service.two.routes = ['/two']\n"
    );
    for (name, route) in [("one", "/one"), ("two", "/two")] {
        let section = extract_service_section(&source, name).unwrap();
        let deployed = deploy(name, &section).unwrap();
        assert_eq!(deployed.routes, [Route::Exact(route.into())]);
    }
}

#[test]
fn extract_gives_none_without_such_a_service_table() {
    let source = full_manifest();
    assert_eq!(extract_service_section(&source, "nope"), None);
    assert_eq!(extract_service_section("[service.api\n", "api"), None);
    assert_eq!(extract_service_section("service = 1\n", "api"), None);
    assert_eq!(extract_service_section("service.api = 1\n", "api"), None);
    assert_eq!(extract_service_section("[app]\n", "api"), None);
}

#[test]
fn resolves_relative_files_against_the_base_directory() {
    let service = parse_service_section(
        "hello",
        "routes = ['/']\nfiles = [{ source = 'fixtures', path = '/f' }]\n",
        Path::new("deploy of hello"),
        &crate_dir().join("tests/ui"),
    )
    .unwrap();
    assert_eq!(
        service.files[0].source,
        crate_dir().join("tests/ui/fixtures")
    );
    assert_eq!(service.version, "dev");
}

#[test]
fn errors_when_the_section_names_a_component() {
    assert_eq!(
        error_text("hello", &format!("routes = ['/']\ncomponent = '{WASM}'\n")),
        "deploy of hello:2:1: service.hello.component: the component of a deployed service is \
         the uploaded file; remove `component` from the section"
    );
    // Whatever its shape.
    assert_eq!(
        error_text("hello", "routes = ['/']\n\n[component]\ncargo = 7\n"),
        "deploy of hello:3:2: service.hello.component: the component of a deployed service is \
         the uploaded file; remove `component` from the section"
    );
}

#[test]
fn errors_on_an_invalid_service_name() {
    assert_eq!(
        error_text("Hello", "routes = ['/']\n"),
        "deploy of Hello:1:1: service.Hello: invalid service name `Hello`: use 1 to 63 \
         lowercase letters, digits or `-`, starting with a letter"
    );
    // Along with the problems in the section.
    let err = deploy("a.b", "routes = ['x']\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "deploy of a.b:1:1: service.\"a.b\": invalid service name `a.b`: use 1 to 63 lowercase \
         letters, digits or `-`, starting with a letter\n\
         deploy of a.b:1:11: service.\"a.b\".routes[0]: route `x` must start with `/`"
    );
    assert_eq!(err.problems().len(), 2);
}

#[test]
fn positions_are_in_the_section() {
    let err = deploy("hello", "\n\nroutes = ['/ok', 'bad']\n").unwrap_err();
    let ManifestError::Invalid {
        file,
        line,
        column,
        key,
        message,
    } = &err
    else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(file, Path::new("deploy of hello"));
    assert_eq!((*line, *column), (3, 18));
    assert_eq!(key, "service.hello.routes[1]");
    assert_eq!(message, "route `bad` must start with `/`");
}

#[test]
fn routes_are_required_and_non_empty() {
    assert_eq!(
        error_text("hello", "version = '1'\n"),
        "deploy of hello:1:1: service.hello: missing field `routes`"
    );
    assert_eq!(
        error_text("hello", ""),
        "deploy of hello:1:1: service.hello: missing field `routes`"
    );
    assert_eq!(
        error_text("hello", "routes = []\n"),
        "deploy of hello:1:10: service.hello.routes: at least one route is required, e.g. \
         `routes = [\"/...\"]`"
    );
}

#[test]
fn routes_are_optional_with_subscriptions() {
    let worker = deploy("worker", "subscriptions = [{ topic = 'jobs.>' }]\n").unwrap();
    assert!(worker.routes.is_empty());
    assert_eq!(worker.subscriptions[0].dead_letter, "dlq.worker");
    assert_eq!(
        error_text("worker", "subscriptions = []\n"),
        "deploy of worker:1:1: service.worker: missing field `routes`"
    );
}

#[test]
fn unknown_keys_do_not_suggest_component() {
    assert_eq!(
        error_text("hello", "routes = ['/']\ncompnent = 'x'\n"),
        "deploy of hello:2:1: service.hello.compnent: unknown field `compnent`, expected one of \
         `routes`, `version`, `outbound`, `files`, `sockets`, `publish`, `subscriptions`, \
         `variables`, `limits`, `key_value_stores`"
    );
}
