//! Building Python and JavaScript services: the pinned toolchains, where
//! they are cached, and how a service is turned into a component.
//!
//! - Python: [componentize-py](https://pypi.org/project/componentize-py/)
//!   [`COMPONENTIZE_PY_VERSION`], in a virtualenv made with the machine's
//!   `python3`.
//! - JavaScript: [componentize-js](https://www.npmjs.com/package/@bytecodealliance/componentize-js)
//!   [`COMPONENTIZE_JS_VERSION`] (with jco [`JCO_VERSION`], which it uses),
//!   in a `node_modules` installed with the machine's `npm`, run by `node`.
//!
//! Both are installed on first use into a per-user cache, outside any
//! project: `$WHARF_TOOLCHAIN_DIR` if set (tests and CI point it under
//! `target/`), else `$XDG_CACHE_HOME/wharf/toolchains`, else
//! `~/.cache/wharf/toolchains`. Each toolchain gets a folder named after its
//! pinned version, so a new Wharf with new pins installs beside the old one.
//! An install goes to a temporary folder that is renamed into place when it
//! is complete, under a file lock, so two builds at once neither install
//! twice nor see half an install.
//!
//! Both target WASI 0.2 (`wasi:http/incoming-handler@0.2.x`): the worlds
//! are in `wit/apps.wit`, picked per service by [`world_for`]. The WIT and
//! the Python helper module are compiled into this binary and written
//! beside the build output ([`BuildInputs`]), so a build never depends on
//! where `wharf` was installed from. componentize-js's engine
//! (StarlingMonkey) is itself built against WASI [`JS_ENGINE_WASI`], and its
//! `fetch` event handler only links when the world names that same
//! version, so the JavaScript copy of the WIT says that version; the host
//! accepts any `0.2.x`.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use wharf_manifest::{Language, ServiceSpec};

/// componentize-py, from PyPI.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// componentize-js, from npm.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// jco, from npm: a dependency of componentize-js, pinned too.
pub const JCO_VERSION: &str = "1.35.0";
/// The WASI 0.2 release componentize-js's engine was built against.
pub const JS_ENGINE_WASI: &str = "0.2.10";
/// The WASI 0.2 release of the WIT under `wit/deps`.
const WIT_WASI: &str = "0.2.12";

/// Environment variable that overrides the toolchain cache folder.
pub const TOOLCHAIN_DIR_ENV: &str = "WHARF_TOOLCHAIN_DIR";

/// `wit/`, compiled in: (path relative to `wit/`, text).
const WIT_FILES: &[(&str, &str)] = &[
    ("wharf.wit", include_str!("../../../wit/wharf.wit")),
    ("apps.wit", include_str!("../../../wit/apps.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "deps/config.wit",
        include_str!("../../../wit/deps/config.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
    (
        "deps/keyvalue/atomic.wit",
        include_str!("../../../wit/deps/keyvalue/atomic.wit"),
    ),
    (
        "deps/keyvalue/batch.wit",
        include_str!("../../../wit/deps/keyvalue/batch.wit"),
    ),
    (
        "deps/keyvalue/store.wit",
        include_str!("../../../wit/deps/keyvalue/store.wit"),
    ),
    (
        "deps/keyvalue/watch.wit",
        include_str!("../../../wit/deps/keyvalue/watch.wit"),
    ),
    (
        "deps/keyvalue/world.wit",
        include_str!("../../../wit/deps/keyvalue/world.wit"),
    ),
    (
        "deps/wasmcloud-messaging/package.wit",
        include_str!("../../../wit/deps/wasmcloud-messaging/package.wit"),
    ),
];

/// The Python helper module (`import wharf`).
const PYTHON_HELPER: &str = include_str!("../../../sdk/python/wharf.py");
/// The JavaScript helper module (`import … from "wharf"`).
const JS_HELPER: &str = include_str!("../../../sdk/js/wharf.js");

/// The world of `wit/apps.wit` a Python or JavaScript service is built
/// for: componentize-py and componentize-js insist that every export of
/// the world is implemented, so it exports exactly what the manifest entry
/// needs (`wasi:http/incoming-handler` for routes,
/// `wasmcloud:messaging/handler` for subscriptions).
pub fn world_for(service: &ServiceSpec) -> &'static str {
    match (service.routes.is_empty(), service.subscriptions.is_empty()) {
        (false, false) => "wharf:platform/http-message-app@0.1.0",
        (true, false) => "wharf:platform/message-app@0.1.0",
        _ => "wharf:platform/http-app@0.1.0",
    }
}

/// The folder toolchains are cached in (see the module docs).
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(TOOLCHAIN_DIR_ENV).filter(|d| !d.is_empty()) {
        return std::path::absolute(PathBuf::from(dir))
            .with_context(|| format!("cannot resolve ${TOOLCHAIN_DIR_ENV}"));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("wharf/toolchains"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache/wharf/toolchains")),
        None => bail!(
            "cannot tell where to cache the {} toolchains: set ${TOOLCHAIN_DIR_ENV} (or $HOME)",
            "Python/JavaScript"
        ),
    }
}

/// The files a Python or JavaScript build reads besides the app's own: the
/// WIT and the helper module, written under `root` (one folder per
/// service in `.wharf/build/`).
pub struct BuildInputs {
    root: PathBuf,
}

impl BuildInputs {
    /// Writes the inputs for `language` under `root`, replacing any older
    /// copy (a newer `wharf` may have a newer WIT).
    pub fn write(root: &Path, language: Language) -> anyhow::Result<Self> {
        let inputs = Self {
            root: root.to_path_buf(),
        };
        let wit = inputs.wit_dir();
        if wit.exists() {
            fs::remove_dir_all(&wit).with_context(|| format!("cannot remove {}", wit.display()))?;
        }
        for (relative, text) in WIT_FILES {
            let text = match language {
                Language::Python => (*text).to_string(),
                Language::JavaScript => text.replace(WIT_WASI, JS_ENGINE_WASI),
            };
            write_file(&wit.join(relative), &text)?;
        }
        if language == Language::Python {
            write_file(&inputs.helper_dir().join("wharf.py"), PYTHON_HELPER)?;
        }
        Ok(inputs)
    }

    fn wit_dir(&self) -> PathBuf {
        self.root.join("wit")
    }

    fn helper_dir(&self) -> PathBuf {
        self.root.join("lib")
    }
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Compiles the app whose main module is `entry` to the component `out`,
/// for `world`, with the language's toolchain (installed first if needed).
/// The toolchain's own messages (a Python traceback, a JavaScript syntax
/// error) go to stderr as they come.
pub fn build_script(
    language: Language,
    entry: &Path,
    world: &str,
    inputs: &BuildInputs,
    out: &Path,
) -> anyhow::Result<()> {
    let app_dir = entry
        .parent()
        .with_context(|| format!("{} has no parent folder", entry.display()))?;
    let mut command = match language {
        Language::Python => {
            let python = ensure_python_toolchain()?;
            let module = entry
                .file_stem()
                .and_then(|s| s.to_str())
                .with_context(|| format!("{} is not a Python module name", entry.display()))?;
            let mut command = Command::new(python);
            command
                // The package has no `__main__`; this is its console script.
                .args([
                    "-c",
                    "import sys, componentize_py; sys.exit(componentize_py.script())",
                ])
                .arg("-d")
                .arg(inputs.wit_dir())
                .args(["-w", world, "componentize", "-p"])
                .arg(app_dir)
                .arg("-p")
                .arg(inputs.helper_dir())
                .arg(module)
                .arg("-o")
                .arg(out);
            command
        }
        Language::JavaScript => {
            let cli = ensure_js_toolchain()?;
            // componentize-js resolves only relative imports inside the
            // folder it runs in, so the app is staged with the helper
            // beside it, importable as "./wharf.js".
            let staged = inputs.root.join("app");
            if staged.exists() {
                fs::remove_dir_all(&staged)
                    .with_context(|| format!("cannot remove {}", staged.display()))?;
            }
            copy_sources(app_dir, &staged)?;
            write_file(&staged.join("wharf.js"), JS_HELPER)?;
            let entry_name = entry
                .file_name()
                .with_context(|| format!("{} has no file name", entry.display()))?;
            check_js_syntax(&staged.join(entry_name), entry, &inputs.root)?;
            let mut command = Command::new("node");
            command
                .arg(cli)
                .arg(entry_name)
                .arg("-w")
                .arg(inputs.wit_dir())
                .args(["-n", world, "-o"])
                .arg(out)
                .current_dir(&staged);
            command
        }
    };
    if language == Language::Python {
        command.current_dir(app_dir);
    }
    command.stdout(Stdio::inherit());
    let status = command
        .status()
        .with_context(|| format!("cannot run the {language} toolchain"))?;
    if !status.success() {
        bail!(
            "the {language} toolchain could not build {} ({status}); see its messages above",
            entry.display()
        );
    }
    if !out.is_file() {
        bail!(
            "the {language} toolchain reported success but wrote no {}",
            out.display()
        );
    }
    Ok(())
}

/// The virtualenv's `python`, with componentize-py installed.
fn ensure_python_toolchain() -> anyhow::Result<PathBuf> {
    let dir = cache_dir()?.join(format!("componentize-py-{COMPONENTIZE_PY_VERSION}"));
    let python = dir.join("bin/python");
    install_once(
        &dir,
        &format!("componentize-py {COMPONENTIZE_PY_VERSION}"),
        |tmp| {
            require_tool(
                "python3",
                "Python services are built with componentize-py, which needs `python3` (3.10 or \
             newer, with its `venv` module) on PATH; install it (Debian/Ubuntu: `apt-get install \
             python3 python3-venv`) and run `wharf build` again",
            )?;
            run_step(
                Command::new("python3").args(["-m", "venv"]).arg(tmp),
                "`python3 -m venv` failed: the `venv` module is missing (Debian/Ubuntu: `apt-get \
             install python3-venv`)",
            )?;
            run_step(
                Command::new(tmp.join("bin/python"))
                    .args(["-m", "pip", "install", "--disable-pip-version-check"])
                    .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}")),
                &format!(
                    "pip could not install componentize-py {COMPONENTIZE_PY_VERSION} (is PyPI reachable?)"
                ),
            )
        },
    )?;
    Ok(python)
}

/// componentize-js's command-line entry point, with its packages installed.
fn ensure_js_toolchain() -> anyhow::Result<PathBuf> {
    let dir = cache_dir()?.join(format!("componentize-js-{COMPONENTIZE_JS_VERSION}"));
    let cli = dir.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    require_tool(
        "node",
        "JavaScript services are built with componentize-js, which needs Node.js 20 or newer \
         (`node` and `npm`) on PATH; install it (Debian/Ubuntu: `apt-get install nodejs npm`) \
         and run `wharf build` again",
    )?;
    install_once(
        &dir,
        &format!("componentize-js {COMPONENTIZE_JS_VERSION}"),
        |tmp| {
            require_tool(
                "npm",
                "JavaScript services need `npm` on PATH to install componentize-js; install it \
             (Debian/Ubuntu: `apt-get install npm`) and run `wharf build` again",
            )?;
            fs::create_dir_all(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            write_file(
                &tmp.join("package.json"),
                "{ \"name\": \"wharf-toolchain\", \"private\": true }\n",
            )?;
            run_step(
                Command::new("npm")
                    .args([
                        "install",
                        "--no-audit",
                        "--no-fund",
                        "--save-exact",
                        "--prefix",
                    ])
                    .arg(tmp)
                    .arg(format!(
                        "@bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}"
                    ))
                    .arg(format!("@bytecodealliance/jco@{JCO_VERSION}")),
                &format!(
                    "npm could not install componentize-js {COMPONENTIZE_JS_VERSION} (is the npm registry reachable?)"
                ),
            )
        },
    )?;
    Ok(cli)
}

/// Fails with `missing` when `tool` cannot be started.
fn require_tool(tool: &str, missing: &str) -> anyhow::Result<()> {
    match Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == ErrorKind::NotFound => bail!("`{tool}` not found: {missing}"),
        Err(error) => Err(error).with_context(|| format!("cannot run `{tool}`")),
    }
}

/// Runs one install step with its output on stderr, where the user sees
/// progress.
fn run_step(command: &mut Command, failed: &str) -> anyhow::Result<()> {
    let status = command
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| failed.to_string())?;
    if !status.success() {
        bail!("{failed} ({status})");
    }
    Ok(())
}

/// componentize-js reports a syntax error without its place ("failed to
/// parse JS source"), so the main module is checked first with `node
/// --check`, which names the line: on a `.mjs` copy, so that it is parsed
/// as the ES module it is, with the copy's path replaced by the original's
/// in the message.
fn check_js_syntax(staged_entry: &Path, entry: &Path, scratch: &Path) -> anyhow::Result<()> {
    let copy = scratch.join("syntax-check.mjs");
    fs::copy(staged_entry, &copy).with_context(|| {
        format!(
            "cannot copy {} to {}",
            staged_entry.display(),
            copy.display()
        )
    })?;
    let output = Command::new("node")
        .arg("--check")
        .arg(&copy)
        .output()
        .context("cannot run `node --check`")?;
    if output.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&output.stderr)
        .replace(&copy.display().to_string(), &entry.display().to_string());
    eprint!("{message}");
    bail!(
        "{} has a syntax error; see the message above",
        entry.display()
    );
}

/// Copies the app's source tree (without hidden entries, `node_modules` and
/// symbolic links) from `from` to `to`.
fn copy_sources(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let name = entry.file_name();
        let skipped = name.to_string_lossy().starts_with('.') || name == "node_modules";
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        if skipped || kind.is_symlink() {
            continue;
        }
        let target = to.join(&name);
        if kind.is_dir() {
            copy_sources(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).with_context(|| {
                format!(
                    "cannot copy {} to {}",
                    entry.path().display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

/// Runs `install` into a temporary folder and renames it to `dir`, unless
/// `dir` exists. A lock file beside `dir` makes concurrent builds wait for
/// the first one's install instead of repeating it.
fn install_once(
    dir: &Path,
    what: &str,
    install: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir
        .parent()
        .with_context(|| format!("{} has no parent folder", dir.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if dir.is_dir() {
        // Another build installed it while this one waited.
        return Ok(());
    }
    let tmp = dir.with_extension("partial");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    eprintln!(
        "Installing {what} into {} (first use; later builds reuse it)",
        dir.display()
    );
    let started = std::time::Instant::now();
    if let Err(error) = install(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(error);
    }
    fs::rename(&tmp, dir)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), dir.display()))?;
    eprintln!(
        "Installed {what} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
