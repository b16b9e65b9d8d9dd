//! `Manifest::parse`: what valid manifests turn into, and one behaviour-named
//! test per rule with the full error text.
//!
//! Manifests here are parsed as `wharf.toml` in the current directory, which
//! cargo sets to the crate root, so `tests/ui/fixtures/existing-file` is a
//! component file that exists and messages do not depend on a temp path.

use std::path::{Path, PathBuf};

use wharf_manifest::{ComponentSource, Language, Manifest, ManifestError, Route};

const WASM: &str = "tests/ui/fixtures/existing-file";

fn parse(source: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(source, Path::new("wharf.toml"))
}

fn error_text(source: &str) -> String {
    match parse(source) {
        Ok(manifest) => panic!("expected an error, got {manifest:#?}"),
        Err(err) => err.to_string(),
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn parses_services_into_validated_types() {
    let manifest = parse(&format!(
        r#"
[app]
name = "shop"

[service.hello]
component = "{WASM}"
routes = ["/", "/hello/..."]
version = "1.0.0"

[service.inventory]
component = {{ cargo = "." }}
routes = ["/api/inventory/..."]
"#
    ))
    .unwrap();

    assert_eq!(manifest.app_name, "shop");
    assert_eq!(manifest.file, crate_dir().join("wharf.toml"));
    assert_eq!(manifest.dir, crate_dir());
    assert_eq!(manifest.services.len(), 2);

    let hello = &manifest.services[0];
    assert_eq!(hello.name, "hello");
    assert_eq!(
        hello.component,
        ComponentSource::File(crate_dir().join(WASM))
    );
    assert_eq!(
        hello.routes,
        [Route::Exact("/".into()), Route::Prefix("/hello".into())]
    );
    assert_eq!(hello.version, "1.0.0");

    let inventory = &manifest.services[1];
    assert_eq!(inventory.name, "inventory");
    assert_eq!(
        inventory.component,
        ComponentSource::Cargo {
            package_dir: crate_dir()
        }
    );
    assert_eq!(inventory.routes, [Route::Prefix("/api/inventory".into())]);
    assert_eq!(inventory.version, "dev");
}

#[test]
fn defaults_app_name_to_the_manifest_directory() {
    let manifest = parse(&format!(
        "[service.hello]\ncomponent = \"{WASM}\"\nroutes = [\"/...\"]\n"
    ))
    .unwrap();
    assert_eq!(manifest.app_name, "manifest");
}

#[test]
fn keeps_services_in_file_order() {
    let manifest = parse(&format!(
        r#"
[service.zeta]
component = "{WASM}"
routes = ["/z"]

[service.alpha]
component = "{WASM}"
routes = ["/a"]

[service.mid]
component = "{WASM}"
routes = ["/m"]
"#
    ))
    .unwrap();
    let names: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

#[test]
fn accepts_dotted_and_inline_service_tables() {
    let manifest = parse(&format!(
        r#"
service.one = {{ component = "{WASM}", routes = ["/one"] }}
service.two.component = "{WASM}"
service.two.routes = ["/two"]
"#
    ))
    .unwrap();
    let names: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
}

#[test]
fn exact_and_prefix_routes_on_the_same_path_do_not_conflict() {
    let manifest = parse(&format!(
        r#"
[service.exact]
component = "{WASM}"
routes = ["/api", "/api/"]

[service.prefix]
component = "{WASM}"
routes = ["/api/...", "/..."]
"#
    ))
    .unwrap();
    assert_eq!(manifest.services.len(), 2);
}

#[test]
fn accepts_absolute_component_paths() {
    let wasm = crate_dir().join(WASM);
    let manifest = parse(&format!(
        "[service.hello]\ncomponent = '{}'\nroutes = ['/']\n",
        wasm.display()
    ))
    .unwrap();
    assert_eq!(manifest.services[0].component, ComponentSource::File(wasm));
}

#[test]
fn resolves_component_paths_against_the_manifest_directory() {
    let manifest = Manifest::parse(
        "[service.hello]\ncomponent = 'fixtures/existing-file'\nroutes = ['/']\n",
        Path::new("tests/ui/wharf.toml"),
    )
    .unwrap();
    assert_eq!(
        manifest.services[0].component,
        ComponentSource::File(crate_dir().join(WASM))
    );
    assert_eq!(manifest.app_name, "ui");
}

#[test]
fn errors_on_toml_syntax() {
    assert_eq!(
        error_text("[service.hello]\nroutes = [\"/\"\n"),
        "wharf.toml:2:14: (syntax): unclosed array, expected `]`"
    );
}

#[test]
fn errors_on_unknown_keys_at_every_level() {
    assert_eq!(
        error_text(&format!(
            "[app]\nname = 'x'\n\n[service.hello]\ncomponent = '{WASM}'\nroutes = ['/']\ncompnent = 'x'\n"
        )),
        "wharf.toml:7:1: service.hello.compnent: unknown field `compnent`, expected one of \
         `component`, `routes`, `version`, `outbound`, `files`, `sockets`, `publish`, \
         `subscriptions`, `variables`, `limits`, `key_value_stores`"
    );
    assert_eq!(
        error_text(&format!(
            "title = 'x'\n[service.hello]\ncomponent = '{WASM}'\nroutes = ['/']\n"
        )),
        "wharf.toml:1:1: title: unknown field `title`, expected `app` or `service`"
    );
    assert_eq!(
        error_text(&format!(
            "[app]\nnmae = 'x'\n[service.hello]\ncomponent = '{WASM}'\nroutes = ['/']\n"
        )),
        "wharf.toml:2:1: app.nmae: unknown field `nmae`, expected `name`"
    );
    assert_eq!(
        error_text("[service.hello]\ncomponent = { cargo = '.', path = 'x' }\nroutes = ['/']\n"),
        "wharf.toml:2:28: service.hello.component.path: unknown field `path`, expected one of `cargo`, `python`, `js`"
    );
}

#[test]
fn errors_on_wrong_types() {
    assert_eq!(
        error_text(&format!(
            "[service.hello]\ncomponent = '{WASM}'\nroutes = '/'\n"
        )),
        "wharf.toml:3:10: service.hello.routes: invalid type: string \"/\", expected an array"
    );
    assert_eq!(
        error_text(&format!(
            "[service.hello]\ncomponent = '{WASM}'\nroutes = ['/']\nversion = 2\n"
        )),
        "wharf.toml:4:11: service.hello.version: invalid type: integer `2`, expected a string"
    );
    assert_eq!(
        error_text("[service.hello]\ncomponent = true\nroutes = ['/']\n"),
        "wharf.toml:2:13: service.hello.component: invalid type: boolean `true`, expected a \
         path to a `.wasm` file or a table like `{ cargo = \"dir\" }`, `{ python = \"app.py\" }` or \
         `{ js = \"app.js\" }`"
    );
    assert_eq!(
        error_text("service = 'hello'\n"),
        "wharf.toml:1:11: service: invalid type: string \"hello\", expected a table"
    );
}

#[test]
fn errors_when_required_fields_are_missing() {
    assert_eq!(
        error_text(&format!("\n[service.hello]\ncomponent = '{WASM}'\n")),
        "wharf.toml:2:1: service.hello: missing field `routes`"
    );
    assert_eq!(
        error_text("[service.hello]\nroutes = ['/']\n"),
        "wharf.toml:1:1: service.hello: missing field `component`"
    );
}

#[test]
fn errors_when_there_are_no_services() {
    assert_eq!(
        error_text("[app]\nname = 'shop'\n"),
        "wharf.toml:1:1: service: no services: add at least one `[service.<name>]` table"
    );
    assert_eq!(
        error_text("[app]\nservice = {}\n"),
        "wharf.toml:1:1: service: no services: add at least one `[service.<name>]` table\n\
         wharf.toml:2:1: app.service: unknown field `service`, expected `name`"
    );
    assert_eq!(
        error_text("[service]\n"),
        "wharf.toml:1:1: service: no services: add at least one `[service.<name>]` table"
    );
}

#[test]
fn errors_on_invalid_service_names() {
    for (name, key) in [
        ("Hello", "Hello"),
        ("1st", "1st"),
        ("-a", "-a"),
        ("snake_case", "snake_case"),
        ("dotted.name", "\"dotted.name\""),
    ] {
        let source = format!("[service.\"{name}\"]\ncomponent = '{WASM}'\nroutes = ['/']\n");
        assert_eq!(
            error_text(&source),
            format!(
                "wharf.toml:1:10: service.{key}: invalid service name `{name}`: use 1 to 63 \
                 lowercase letters, digits or `-`, starting with a letter"
            )
        );
    }
    let long = "a".repeat(64);
    assert!(
        error_text(&format!(
            "[service.{long}]\ncomponent = '{WASM}'\nroutes = ['/']\n"
        ))
        .starts_with(&format!(
            "wharf.toml:1:10: service.{long}: invalid service name"
        ))
    );
    let longest = "a".repeat(63);
    parse(&format!(
        "[service.{longest}]\ncomponent = '{WASM}'\nroutes = ['/']\n"
    ))
    .unwrap();
}

#[test]
fn errors_on_empty_routes() {
    assert_eq!(
        error_text(&format!(
            "[service.hello]\ncomponent = '{WASM}'\nroutes = []\n"
        )),
        "wharf.toml:3:10: service.hello.routes: at least one route is required, e.g. \
         `routes = [\"/...\"]`"
    );
}

#[test]
fn errors_on_invalid_routes() {
    let cases = [
        ("api", "route `api` must start with `/`"),
        ("", "route must not be empty; `/...` matches every path"),
        (
            "/a?b",
            "route `/a?b` must not contain `?`: a route matches the path only",
        ),
        (
            "/a#b",
            "route `/a#b` must not contain `#`: a route matches the path only",
        ),
        ("/a b", "route `/a b` must not contain whitespace"),
        (
            "/.../a",
            "route `/.../a` may use `...` only as its last segment, as in `/api/...`",
        ),
    ];
    for (route, message) in cases {
        let source =
            format!("[service.hello]\ncomponent = '{WASM}'\nroutes = ['/ok', '{route}']\n");
        assert_eq!(
            error_text(&source),
            format!("wharf.toml:3:18: service.hello.routes[1]: {message}")
        );
    }
}

#[test]
fn errors_when_route_conflicts_across_services() {
    let source = format!(
        r#"[service.hello]
component = "{WASM}"
routes = ["/", "/api/..."]

[service.world]
component = "{WASM}"
routes = ["/api/..."]
"#
    );
    assert_eq!(
        error_text(&source),
        "wharf.toml:7:11: service.world.routes[0]: route `/api/...` of service `world` \
         conflicts with the same route of service `hello` (line 3, column 16)"
    );
}

#[test]
fn errors_when_route_repeats_within_a_service() {
    let source = format!("[service.hello]\ncomponent = '{WASM}'\nroutes = ['/a', '/b', '/a']\n");
    assert_eq!(
        error_text(&source),
        "wharf.toml:3:23: service.hello.routes[2]: route `/a` is listed twice in service \
         `hello` (first at line 3, column 11)"
    );
}

#[test]
fn errors_on_invalid_versions() {
    let cases = [
        ("", "version must not be empty"),
        ("1.0 beta", "version `1.0 beta` must not contain whitespace"),
        (
            &"1".repeat(65),
            "version is 65 characters long; at most 64 are allowed",
        ),
    ];
    for (version, message) in cases {
        let source = format!(
            "[service.hello]\ncomponent = '{WASM}'\nroutes = ['/']\nversion = '{version}'\n"
        );
        assert_eq!(
            error_text(&source),
            format!("wharf.toml:4:11: service.hello.version: {message}")
        );
    }
    let source = format!(
        "[service.hello]\ncomponent = '{WASM}'\nroutes = ['/']\nversion = '{}'\n",
        "1".repeat(64)
    );
    parse(&source).unwrap();
}

#[test]
fn errors_on_empty_app_name() {
    assert_eq!(
        error_text(&format!(
            "[app]\nname = ''\n[service.hello]\ncomponent = '{WASM}'\nroutes = ['/']\n"
        )),
        "wharf.toml:2:8: app.name: app name must not be empty; leave `name` out to use the \
         directory name"
    );
}

#[test]
fn errors_on_missing_or_misshapen_component_paths() {
    let cases = [
        (
            "'build/x.wasm'",
            "2:13: service.hello.component: component file `build/x.wasm` does not exist",
        ),
        (
            "'tests'",
            "2:13: service.hello.component: component `tests` is not a file",
        ),
        (
            "'.'",
            "2:13: service.hello.component: component `.` is a directory, not a file; to \
             build it from source write `component = { cargo = \".\" }`",
        ),
        (
            "{ cargo = 'nope' }",
            "2:23: service.hello.component.cargo: cargo package directory `nope` does not exist",
        ),
        (
            "{ cargo = 'tests' }",
            "2:23: service.hello.component.cargo: cargo package directory `tests` has no \
             Cargo.toml",
        ),
        (
            "{ cargo = 'Cargo.toml' }",
            "2:23: service.hello.component.cargo: cargo package `Cargo.toml` is not a directory",
        ),
        (
            "{ cargo = '' }",
            "2:23: service.hello.component.cargo: cargo package directory must not be empty; \
             use `.` for the manifest's directory",
        ),
    ];
    for (component, message) in cases {
        let source = format!("[service.hello]\ncomponent = {component}\nroutes = ['/']\n");
        assert_eq!(error_text(&source), format!("wharf.toml:{message}"));
    }
}

#[test]
fn reports_every_problem_at_once_in_file_order() {
    let source = format!(
        r#"[service.first]
component = "missing.wasm"
routes = ["/"]
verison = "1"

[service.Second]
component = "{WASM}"
routes = ["nope", "/"]
"#
    );
    let err = parse(&source).unwrap_err();
    assert!(matches!(err, ManifestError::Multiple(_)));
    assert_eq!(
        err.to_string(),
        "wharf.toml:4:1: service.first.verison: unknown field `verison`, expected one of \
         `component`, `routes`, `version`, `outbound`, `files`, `sockets`, `publish`, \
         `subscriptions`, `variables`, `limits`, `key_value_stores`\n\
         wharf.toml:6:10: service.Second: invalid service name `Second`: use 1 to 63 lowercase \
         letters, digits or `-`, starting with a letter\n\
         wharf.toml:8:11: service.Second.routes[0]: route `nope` must start with `/`"
    );
    assert_eq!(err.problems().len(), 3);
}

#[test]
fn a_single_problem_is_an_invalid_error_with_its_parts() {
    let err = parse(&format!(
        "[service.hello]\ncomponent = '{WASM}'\nroutes = ['x']\n"
    ))
    .unwrap_err();
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
    assert_eq!(file, Path::new("wharf.toml"));
    assert_eq!((*line, *column), (3, 11));
    assert_eq!(key, "service.hello.routes[0]");
    assert_eq!(message, "route `x` must start with `/`");
    assert_eq!(err.problems().len(), 1);
}

#[test]
fn parses_grants_and_limits() {
    let manifest = parse(&format!(
        r#"
[service.api]
component = "{WASM}"
routes = ["/..."]
outbound = ["https://*.example.com", "http://127.0.0.1:8080"]
files = [{{ source = "tests/ui/fixtures", path = "/static" }}, {{ source = "tests/ui", path = "/data", mode = "rw" }}]
sockets = ["127.0.0.1:5432", "10.0.0.0/8:*"]

[service.api.variables]
PLAIN = "v"
HIDDEN = {{ value = "s", secret = true }}

[service.api.limits]
memory = "16MiB"
cpu_time = "250ms"
timeout = "2s"
max_concurrent = 3
max_queued = 0
queue_timeout = "100ms"
max_request_body = "1KiB"
max_response_body = "2MiB"
instance_reuse = 128
"#
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let api = &manifest.services[0];
    assert_eq!(api.outbound.len(), 2);
    assert_eq!(api.files.len(), 2);
    assert!(!api.files[0].writable);
    assert!(api.files[1].writable);
    assert_eq!(api.files[0].path, "/static");
    assert!(api.files[0].source.is_absolute());
    assert_eq!(api.sockets.len(), 2);
    let vars: Vec<(&str, &str, bool)> = api
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str(), v.secret))
        .collect();
    assert_eq!(vars, [("HIDDEN", "s", true), ("PLAIN", "v", false)]);
    let l = &api.limits;
    assert_eq!(l.memory_bytes, 16 * 1024 * 1024);
    assert_eq!(l.cpu_time, std::time::Duration::from_millis(250));
    assert_eq!(l.timeout, std::time::Duration::from_secs(2));
    assert_eq!((l.max_concurrent, l.max_queued), (3, 0));
    assert_eq!(l.queue_timeout, std::time::Duration::from_millis(100));
    assert_eq!(l.max_request_body_bytes, 1024);
    assert_eq!(l.max_response_body_bytes, Some(2 * 1024 * 1024));
    assert_eq!(l.instance_reuse, 128);
}

#[test]
fn absent_limits_take_the_documented_defaults() {
    let manifest = parse(&format!(
        "[service.api]\ncomponent = \"{WASM}\"\nroutes = [\"/...\"]\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        manifest.services[0].limits,
        wharf_manifest::Limits::default()
    );
    // A fresh instance per request unless the service opts into reuse.
    assert_eq!(manifest.services[0].limits.instance_reuse, 1);
    assert!(manifest.services[0].files.is_empty());
    assert!(manifest.services[0].sockets.is_empty());
    assert!(manifest.services[0].variables.is_empty());
}

#[test]
fn key_value_stores_are_kept_in_file_order_and_default_to_none() {
    let manifest = parse(&format!(
        "[service.a]\ncomponent = \"{WASM}\"\nroutes = [\"/a\"]\n\
         key_value_stores = [\"default\", \"cache_2\", \"9-lives\"]\n\n\
         [service.b]\ncomponent = \"{WASM}\"\nroutes = [\"/b\"]\n"
    ))
    .unwrap();
    assert_eq!(
        manifest.services[0].key_value_stores,
        ["default", "cache_2", "9-lives"]
    );
    assert!(manifest.services[1].key_value_stores.is_empty());
}

#[test]
fn parses_python_and_javascript_components() {
    let manifest = parse(
        "[service.py]\ncomponent = { python = \"tests/ui/fixtures/app.py\" }\nroutes = [\"/py\"]\n\
         [service.js]\ncomponent = { js = \"tests/ui/fixtures/app.js\" }\nroutes = [\"/js\"]\n",
    )
    .unwrap();
    assert_eq!(
        manifest.services[0].component,
        ComponentSource::Script {
            language: Language::Python,
            entry: crate_dir().join("tests/ui/fixtures/app.py"),
        }
    );
    assert_eq!(
        manifest.services[1].component,
        ComponentSource::Script {
            language: Language::JavaScript,
            entry: crate_dir().join("tests/ui/fixtures/app.js"),
        }
    );
}
