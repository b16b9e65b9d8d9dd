//! `wharf up --watch`: rebuild a Rust service when its sources change and
//! hot-swap it through the deployer, exactly like `wharf deploy` would —
//! compiled and checked before it takes traffic; a build or load failure
//! is reported and the running version keeps serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use wharf_deploy::Deployer;
use wharf_deploy::api::DeployRequest;
use wharf_manifest::{ComponentSource, Manifest};

use crate::commands::build;

/// Quiet time after the last change before a rebuild starts: editors write
/// several files (and temp files) per save.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches every Cargo service of `manifest` until the process ends.
pub async fn run(manifest: Manifest, deployer: Arc<Deployer>) {
    if let Err(error) = watch(manifest, deployer).await {
        tracing::error!(error = %format!("{error:#}"), "watching sources stopped");
    }
}

async fn watch(manifest: Manifest, deployer: Arc<Deployer>) -> anyhow::Result<()> {
    let source = std::fs::read_to_string(&manifest.file)?;
    // package dir → (service, manifest section)
    let mut packages: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    for service in &manifest.services {
        if let ComponentSource::Cargo { package_dir } = &service.component
            && let Some(section) = wharf_manifest::extract_service_section(&source, &service.name)
        {
            packages.insert(package_dir.clone(), (service.name.clone(), section));
        }
    }
    if packages.is_empty() {
        tracing::info!("--watch: no Rust services to watch");
        return Ok(());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    for dir in packages.keys() {
        for watched in [dir.join("src"), dir.join("Cargo.toml")] {
            if watched.exists() {
                watcher.watch(&watched, RecursiveMode::Recursive)?;
            }
        }
        tracing::info!(package = %dir.display(), "watching for changes");
    }
    while let Some(first) = rx.recv().await {
        let mut changed = vec![first];
        // Collect the burst.
        while let Ok(Some(path)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            changed.push(path);
        }
        let dirs: Vec<&PathBuf> = packages
            .keys()
            .filter(|dir| changed.iter().any(|p| p.starts_with(dir)))
            .collect();
        for dir in dirs {
            if let Some((service, section)) = packages.get(dir) {
                rebuild(&deployer, dir, service, section, &manifest.dir).await;
            }
        }
    }
    drop(watcher);
    Ok(())
}

async fn rebuild(deployer: &Deployer, dir: &Path, service: &str, section: &str, base: &Path) {
    tracing::info!(service, "sources changed: rebuilding");
    let package = dir.to_path_buf();
    let built = tokio::task::spawn_blocking(move || {
        let wasm = build::build_package(&package)?;
        let bytes = std::fs::read(&wasm)?;
        anyhow::Ok(bytes)
    })
    .await;
    let bytes = match built {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => {
            tracing::error!(service, error = %format!("{error:#}"), "rebuild failed; the running version keeps serving");
            return;
        }
        Err(error) => {
            tracing::error!(service, %error, "rebuild task failed");
            return;
        }
    };
    let digest = match deployer.components().put(&bytes).await {
        Ok(digest) => digest,
        Err(error) => {
            tracing::error!(service, error = %format!("{error:#}"), "cannot store the rebuilt component");
            return;
        }
    };
    let request = DeployRequest {
        digest,
        section: Some(section.to_string()),
        base_dir: Some(base.to_path_buf()),
        ..DeployRequest::new(digest)
    };
    match deployer.deploy(service, request).await {
        Ok(outcome) => tracing::info!(
            service,
            version = %outcome.version,
            activate_ms = outcome.activate_ms,
            "rebuilt and swapped"
        ),
        Err(error) => {
            tracing::error!(service, %error, "rebuilt version refused; the running version keeps serving");
        }
    }
}
