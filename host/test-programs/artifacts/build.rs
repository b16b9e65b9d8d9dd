//! Compiles the guest test programs and the examples to components and
//! generates `$OUT_DIR/artifacts.rs` with their paths (see `src/lib.rs` and
//! `host/test-programs/README.md`).
//!
//! A build script reports failure by panicking: cargo prints the message.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "build scripts fail by panicking"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Message, TargetKind};

/// The guest target; its linker emits components directly.
const TARGET: &str = "wasm32-wasip2";

/// The package holding one test program per `src/bin/<name>.rs`.
const TEST_PROGRAMS: &str = "wharf-test-programs";

/// Example packages, each a `cdylib` component: (package name, its folder
/// under `examples/`). An example of several services has one package per
/// service.
const EXAMPLES: &[(&str, &str)] = &[
    ("hello", "hello"),
    ("json-api", "json-api"),
    ("hello-wasi", "hello-wasi"),
    ("order-pipeline-gateway", "order-pipeline/services/gateway"),
    ("order-pipeline-orders", "order-pipeline/services/orders"),
    (
        "order-pipeline-inventory",
        "order-pipeline/services/inventory",
    ),
    (
        "order-pipeline-notifications",
        "order-pipeline/services/notifications",
    ),
    ("url-shortener", "url-shortener"),
    ("polyglot-indexer", "polyglot/indexer"),
];

/// Allowed test-program name prefixes, one `foreach_<suite>!` macro each.
const SUITES: &[&str] = &["http", "cli", "sdk", "hostile", "msg", "p3"];

/// Variables the outer cargo sets (or passes through) that must not leak into
/// the nested build: flags meant for the host target (coverage, sanitizers,
/// `-C target-cpu`) or a wrapper such as clippy-driver would be applied to the
/// guests, and a target or target dir would override our arguments.
const LEAKY_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../../..")
        .canonicalize()
        .expect("workspace root (three levels above host/test-programs/artifacts)");
    let out_dir = PathBuf::from(env("OUT_DIR"));

    rerun_if_changed(&root);
    ensure_target_installed();

    let built = build_guests(&root);
    for path in built.programs.values().chain(built.examples.values()) {
        // Rebuild if a component is deleted or overwritten out from under us.
        println!("cargo:rerun-if-changed={}", path.display());
    }

    let code = generate(&root, &built);
    std::fs::write(out_dir.join("artifacts.rs"), code).expect("write artifacts.rs");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

/// Guest sources: the nested build runs again only when one of these changes.
fn rerun_if_changed(root: &Path) {
    let mut paths = vec![
        "host/test-programs/src".to_string(),
        "host/test-programs/Cargo.toml".to_string(),
        "host/test-programs/build.rs".to_string(),
        "sdk/src".to_string(),
        "sdk/Cargo.toml".to_string(),
        "sdk/macro/src".to_string(),
        "sdk/macro/Cargo.toml".to_string(),
        "wit".to_string(),
        "Cargo.toml".to_string(),
        "Cargo.lock".to_string(),
    ];
    for (_, dir) in EXAMPLES {
        paths.push(format!("examples/{dir}/src"));
        paths.push(format!("examples/{dir}/Cargo.toml"));
    }
    for path in paths {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// Installs the guest target through rustup when it is missing.
fn ensure_target_installed() {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        // No rustup: the toolchain is managed some other way; if the target
        // is missing, the nested build says so.
        return;
    };
    if !output.status.success() {
        return;
    }
    if String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.trim() == TARGET)
    {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target: rustup target add {TARGET}");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    if !matches!(added, Ok(status) if status.success()) {
        panic!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` failed; \
             run `rustup target add {TARGET}` yourself, then build again"
        );
    }
}

/// What the nested build produced.
struct Built {
    /// Test program name (`http_hello`) to its component.
    programs: BTreeMap<String, PathBuf>,
    /// Example package name (`json-api`) to its component.
    examples: BTreeMap<String, PathBuf>,
}

fn build_guests(root: &Path) -> Built {
    let cargo = env("CARGO");
    let target_dir = root.join("target").join("guests");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .args(["--message-format", "json-render-diagnostics"])
        .args(["-p", TEST_PROGRAMS]);
    for (example, _) in EXAMPLES {
        cmd.args(["-p", example]);
    }
    for var in LEAKY_ENV {
        cmd.env_remove(var);
    }
    let shown = format!(
        "cd {} && cargo build --release --target {TARGET} --target-dir {} -p {TEST_PROGRAMS} {}",
        root.display(),
        target_dir.display(),
        EXAMPLES
            .iter()
            .map(|(e, _)| format!("-p {e}"))
            .collect::<Vec<_>>()
            .join(" ")
    );

    // Diagnostics go to stderr, which cargo shows if this script fails;
    // stdout carries the JSON messages.
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run `{cargo}`: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");

    let programs_manifest = root.join("host/test-programs/Cargo.toml");
    let example_manifests: BTreeMap<PathBuf, &str> = EXAMPLES
        .iter()
        .map(|(e, dir)| (root.join("examples").join(dir).join("Cargo.toml"), *e))
        .collect();

    let mut built = Built {
        programs: BTreeMap::new(),
        examples: BTreeMap::new(),
    };
    let mut example_kinds: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // Read every message and let cargo finish before failing, so no nested
    // cargo is left running (and holding the target dir's lock).
    let mut problems = Vec::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let artifact = match message {
            Ok(Message::CompilerArtifact(artifact)) => artifact,
            Ok(_) => continue,
            Err(e) => {
                problems.push(format!("could not read cargo's JSON output: {e}"));
                continue;
            }
        };
        let manifest = PathBuf::from(artifact.manifest_path.as_std_path());
        let wasm: Vec<PathBuf> = artifact
            .filenames
            .iter()
            .filter(|f| f.extension() == Some("wasm"))
            .map(|f| f.clone().into_std_path_buf())
            .collect();
        if manifest == programs_manifest {
            if !artifact.target.kind.contains(&TargetKind::Bin) {
                continue; // the helper library
            }
            let name = artifact.target.name.clone();
            if let Err(problem) = check_suite(&name) {
                problems.push(problem);
            }
            match <[PathBuf; 1]>::try_from(wasm) {
                Ok([path]) => {
                    built.programs.insert(name, path);
                }
                Err(files) => problems.push(format!(
                    "test program `{name}` produced {files:?}, expected one .wasm"
                )),
            }
        } else if let Some(example) = example_manifests.get(&manifest) {
            example_kinds
                .entry(example)
                .or_default()
                .extend(artifact.target.kind.iter().map(|k| k.to_string()));
            match <[PathBuf; 1]>::try_from(wasm) {
                Ok([path]) => {
                    if let Some(previous) = built.examples.insert(example.to_string(), path) {
                        problems.push(format!(
                            "example `{example}` produced more than one component \
                             (also {})",
                            previous.display()
                        ));
                    }
                }
                Err(files) if files.is_empty() => {}
                Err(files) => problems.push(format!(
                    "example `{example}` produced {files:?}, expected one .wasm"
                )),
            }
        }
    }

    let status = child.wait().expect("wait for the nested cargo build");
    if !status.success() {
        panic!(
            "building the guest components failed ({status}); the compiler output is above.\n\
             Reproduce with:\n  {shown}"
        );
    }

    for (example, dir) in EXAMPLES {
        if !built.examples.contains_key(*example) {
            let kinds = example_kinds
                .get(example)
                .map(|k| k.join(", "))
                .unwrap_or_else(|| "nothing".to_string());
            problems.push(format!(
                "example `{example}` built no .wasm component (it built: {kinds}); \
                 examples/{dir}/Cargo.toml needs `[lib] crate-type = [\"cdylib\"]`"
            ));
        }
    }
    if built.programs.is_empty() {
        problems.push(format!(
            "`{TEST_PROGRAMS}` built no programs; expected one per src/bin/*.rs"
        ));
    }
    if !problems.is_empty() {
        panic!("{}", problems.join("\n"));
    }
    built
}

/// Rejects a test program whose name has no known suite prefix.
fn check_suite(name: &str) -> Result<(), String> {
    if SUITES
        .iter()
        .any(|suite| name.starts_with(&format!("{suite}_")))
    {
        Ok(())
    } else {
        Err(format!(
            "test program `{name}` has no known suite prefix; \
             name it `<suite>_<name>` with <suite> one of {SUITES:?} \
             (or add the suite to SUITES in host/test-programs/artifacts/build.rs)"
        ))
    }
}

/// Generates `artifacts.rs`: one constant per component, `foreach_<suite>!`
/// macros, and the workspace paths.
fn generate(root: &Path, built: &Built) -> String {
    let mut code = String::from("// Generated by host/test-programs/artifacts/build.rs.\n\n");
    let root_str = path_str(root);
    let examples_dir = path_str(&root.join("examples"));
    let guest_target_dir = path_str(&root.join("target").join("guests"));
    writeln!(
        code,
        "/// Absolute path of the workspace root.\n\
         pub const WORKSPACE_ROOT: &str = {root_str:?};\n\n\
         /// Target directory the guests are built in; tests that build more\n\
         /// guests point `CARGO_TARGET_DIR` here to reuse compiled dependencies.\n\
         pub const GUEST_TARGET_DIR: &str = {guest_target_dir:?};\n\n\
         /// Absolute path of the `examples/` directory (one package per example).\n\
         pub const EXAMPLES_DIR: &str = {examples_dir:?};\n"
    )
    .expect("write to String");

    for (name, path) in &built.programs {
        writeln!(
            code,
            "/// Component built from `host/test-programs/src/bin/{name}.rs`; its \
             contract is in `host/test-programs/README.md`.\n\
             pub const {}_COMPONENT: &str = {:?};\n",
            name.to_uppercase(),
            path_str(path)
        )
        .expect("write to String");
    }
    for (example, path) in &built.examples {
        writeln!(
            code,
            "/// Component built from the example package `{example}`.\n\
             pub const EXAMPLE_{}_COMPONENT: &str = {:?};\n",
            example.replace('-', "_").to_uppercase(),
            path_str(path)
        )
        .expect("write to String");
    }

    for suite in SUITES {
        let prefix = format!("{suite}_");
        let mut calls = String::new();
        for name in built.programs.keys().filter(|n| n.starts_with(&prefix)) {
            writeln!(calls, "        $mac!({name});").expect("write to String");
        }
        writeln!(
            code,
            "/// Calls `$mac!(<name>)` once for each `{suite}_*` test program.\n\
             #[macro_export]\n\
             macro_rules! foreach_{suite} {{\n    ($mac:ident) => {{\n{calls}    }};\n}}\n"
        )
        .expect("write to String");
    }
    code
}

fn path_str(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("path is not UTF-8: {}", path.display()))
        .to_string()
}
