//! `wharf new`: scaffold a service from a template.
//!
//! Templates live in `sdk/templates/` and are compiled into the binary, so
//! a scaffold never depends on where `wharf` was installed from. A scaffold
//! depends on `wharf-sdk` by path when this binary was built from a Wharf
//! checkout that still exists, so it builds with no edits.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::cli::{NewArgs, Template};

const HTTP_RUST: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../../../sdk/templates/http-rust/Cargo.toml.tmpl"),
    ),
    (
        "wharf.toml",
        include_str!("../../../../sdk/templates/http-rust/wharf.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../sdk/templates/http-rust/src/lib.rs"),
    ),
    (
        ".gitignore",
        include_str!("../../../../sdk/templates/http-rust/.gitignore"),
    ),
];

const HTTP_PYTHON: &[(&str, &str)] = &[
    (
        "wharf.toml",
        include_str!("../../../../sdk/templates/http-python/wharf.toml.tmpl"),
    ),
    (
        "app.py",
        include_str!("../../../../sdk/templates/http-python/app.py"),
    ),
    (
        ".gitignore",
        include_str!("../../../../sdk/templates/http-python/.gitignore"),
    ),
];

const HTTP_JS: &[(&str, &str)] = &[
    (
        "wharf.toml",
        include_str!("../../../../sdk/templates/http-js/wharf.toml.tmpl"),
    ),
    (
        "app.js",
        include_str!("../../../../sdk/templates/http-js/app.js"),
    ),
    (
        ".gitignore",
        include_str!("../../../../sdk/templates/http-js/.gitignore"),
    ),
];

/// Runs `wharf new`.
pub fn run(args: NewArgs) -> anyhow::Result<()> {
    let name = args.name.as_str();
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "`{name}` is not a valid service name: use lowercase letters, digits and `-`, starting with a letter"
        );
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let files = match args.template {
        Template::HttpRust => HTTP_RUST,
        Template::HttpPython => HTTP_PYTHON,
        Template::HttpJs => HTTP_JS,
    };
    let sdk_dep = sdk_dependency();
    for (relative, template) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text = template
            .replace("{{name}}", name)
            .replace("{{sdk_dep}}", &sdk_dep);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("Created service `{name}` in {}", dir.display());
    println!("Run it with:  wharf up --build {}", dir.display());
    Ok(())
}

/// The value of the scaffold's `wharf-sdk = …` dependency.
fn sdk_dependency() -> String {
    let in_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    match in_tree.canonicalize() {
        Ok(path) => format!("{{ path = {:?} }}", path.display().to_string()),
        Err(_) => format!("\"{}\"", env!("CARGO_PKG_VERSION")),
    }
}
