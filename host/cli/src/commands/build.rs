//! `wharf build`: compile an app's services to components.
//!
//! Each service whose component is `{ cargo = "dir" }` is built with
//! `cargo build --release --target wasm32-wasip2` (cargo's own progress is
//! shown as it goes) and the resulting component is copied to
//! `.wharf/build/<service>.wasm` beside the manifest, where `wharf up`
//! reads it. The `wasm32-wasip2` target is installed with rustup if missing.
//! A `{ python = "app.py" }` or `{ js = "app.js" }` service is built by
//! its language's toolchain ([`crate::toolchain`]) into the same place.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use cargo_metadata::Message;
use wharf_manifest::{ComponentSource, Manifest, ServiceSpec};

use crate::app::built_component_path;
use crate::toolchain;

/// The target every Wharf component is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Runs `wharf build` on the manifest at (or in) `path`.
pub fn run(path: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::load(path)?;
    build_manifest(&manifest)
}

/// Builds every service of `manifest` that is built from source.
pub fn build_manifest(manifest: &Manifest) -> anyhow::Result<()> {
    let from_source: Vec<&ServiceSpec> = manifest
        .services
        .iter()
        .filter(|s| is_built_from_source(&s.component))
        .collect();
    if from_source.is_empty() {
        eprintln!("Nothing to build: every service names a prebuilt component.");
        return Ok(());
    }
    for service in from_source {
        build_service(&manifest.dir, service)?;
    }
    Ok(())
}

/// Whether `wharf build` compiles this component from source.
pub fn is_built_from_source(component: &ComponentSource) -> bool {
    match component {
        ComponentSource::Cargo { .. } | ComponentSource::Script { .. } => true,
        ComponentSource::File(_) | ComponentSource::Deployed | ComponentSource::Oci(_) => false,
    }
}

/// Builds one service from source into `.wharf/build/<service>.wasm`
/// beside the manifest, and returns that path.
///
/// # Errors
///
/// The service is not built from source, its toolchain is missing or
/// cannot be installed, or the build fails (the toolchain's own messages
/// are on stderr).
pub fn build_service(manifest_dir: &Path, service: &ServiceSpec) -> anyhow::Result<PathBuf> {
    let dest = built_component_path(manifest_dir, &service.name);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let started = std::time::Instant::now();
    match &service.component {
        ComponentSource::Cargo { package_dir } => {
            ensure_wasm_target()?;
            eprintln!(
                "Building service `{}` from {}",
                service.name,
                package_dir.display()
            );
            let wasm = build_package(package_dir)
                .with_context(|| format!("failed to build service `{}`", service.name))?;
            std::fs::copy(&wasm, &dest)
                .with_context(|| format!("cannot copy {} to {}", wasm.display(), dest.display()))?;
        }
        ComponentSource::Script { language, entry } => {
            let world = toolchain::world_for(service);
            eprintln!(
                "Building {language} service `{}` from {} (world {world})",
                service.name,
                entry.display()
            );
            let inputs_dir = dest.with_extension("inputs");
            let inputs = toolchain::BuildInputs::write(&inputs_dir, *language)?;
            // Never serve a stale component after a failed build.
            let _ = std::fs::remove_file(&dest);
            toolchain::build_script(*language, entry, world, &inputs, &dest)
                .with_context(|| format!("failed to build service `{}`", service.name))?;
        }
        ComponentSource::File(_) | ComponentSource::Deployed | ComponentSource::Oci(_) => {
            anyhow::bail!("service `{}` is not built from source", service.name)
        }
    }
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "Built service `{}`: {} ({} KiB, {:.1} s)",
        service.name,
        dest.display(),
        size / 1024,
        started.elapsed().as_secs_f64()
    );
    Ok(dest)
}

/// Installs the `wasm32-wasip2` target through rustup when it is missing.
pub fn ensure_wasm_target() -> anyhow::Result<()> {
    let listed = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(output) if output.status.success() => output.stdout,
        // Without rustup the toolchain may still have the target; let cargo
        // say so if it does not.
        _ => return Ok(()),
    };
    if String::from_utf8_lossy(&listed)
        .lines()
        .any(|line| line.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("Installing the {WASM_TARGET} target: rustup target add {WASM_TARGET}");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .context("failed to run rustup")?;
    if !status.success() {
        bail!(
            "could not install the {WASM_TARGET} target; run `rustup target add {WASM_TARGET}` and try again"
        );
    }
    Ok(())
}

/// Builds the package in `package_dir` and returns its component's path.
pub fn build_package(package_dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest_path = package_dir.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(&manifest_path)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to run cargo")?;
    let stdout = child
        .stdout
        .take()
        .context("cargo's output was not captured")?;
    let canonical_manifest = manifest_path
        .canonicalize()
        .unwrap_or_else(|_| manifest_path.clone());
    let mut wasm = None;
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let message = message.context("failed to read cargo's output")?;
        if let Message::CompilerArtifact(artifact) = message {
            let same_package = Path::new(artifact.manifest_path.as_str())
                .canonicalize()
                .is_ok_and(|p| p == canonical_manifest);
            if !same_package {
                continue;
            }
            if let Some(file) = artifact
                .filenames
                .iter()
                .find(|f| f.extension() == Some("wasm"))
            {
                wasm = Some(PathBuf::from(file.as_str()));
            }
        }
    }
    let status = child.wait().context("failed to wait for cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    wasm.with_context(|| {
        format!(
            "{} produced no .wasm: is it a `cdylib` (or a binary) crate?",
            manifest_path.display()
        )
    })
}
