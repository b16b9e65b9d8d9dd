//! `wharf up --watch`: rebuild a service built from source (Rust, Python,
//! JavaScript) when its sources change and hot-swap it through the deployer, exactly like `wharf deploy` would —
//! compiled and checked before it takes traffic; a build or load failure
//! is reported and the running version keeps serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use wharf_deploy::Deployer;
use wharf_deploy::api::DeployRequest;
use wharf_manifest::{ComponentSource, Manifest, ServiceSpec};

use crate::commands::build;

/// Quiet time after the last change before a rebuild starts: editors write
/// several files (and temp files) per save.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches every service of `manifest` built from source until the
/// process ends.
pub async fn run(manifest: Manifest, deployer: Arc<Deployer>) {
    if let Err(error) = watch(manifest, deployer).await {
        tracing::error!(error = %format!("{error:#}"), "watching sources stopped");
    }
}

/// A watched service: its spec and its manifest section.
struct Watched {
    service: ServiceSpec,
    section: String,
}

/// The folders (or files) whose changes rebuild `component`: a Cargo
/// package's `src/` and `Cargo.toml`, a Python or JavaScript app's folder.
fn watched_paths(component: &ComponentSource) -> Vec<PathBuf> {
    match component {
        ComponentSource::Cargo { package_dir } => {
            vec![package_dir.join("src"), package_dir.join("Cargo.toml")]
        }
        ComponentSource::Script { entry, .. } => {
            entry.parent().map(Path::to_path_buf).into_iter().collect()
        }
        ComponentSource::File(_) | ComponentSource::Deployed | ComponentSource::Oci(_) => {
            Vec::new()
        }
    }
}

/// Whether a change to `path` (under `root`) is a source edit: build
/// outputs, caches and hidden files (`.wharf/`, `__pycache__`, editor swap
/// files) are not, or every build would trigger the next.
fn is_source_change(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    relative.components().all(|part| {
        let part = part.as_os_str().to_string_lossy();
        !(part.starts_with('.')
            || part == "__pycache__"
            || part == "node_modules"
            || part == "target"
            || part.ends_with('~'))
    })
}

async fn watch(manifest: Manifest, deployer: Arc<Deployer>) -> anyhow::Result<()> {
    let source = std::fs::read_to_string(&manifest.file)?;
    // watched path → services it rebuilds
    let mut roots: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
    let mut services = Vec::new();
    for service in &manifest.services {
        let paths = watched_paths(&service.component);
        if paths.is_empty() {
            continue;
        }
        let Some(section) = wharf_manifest::extract_service_section(&source, &service.name) else {
            continue;
        };
        for path in paths {
            roots.entry(path).or_default().push(services.len());
        }
        services.push(Watched {
            service: service.clone(),
            section,
        });
    }
    if services.is_empty() {
        tracing::info!("--watch: no services built from source to watch");
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
    for path in roots.keys() {
        if path.exists() {
            watcher.watch(path, RecursiveMode::Recursive)?;
            tracing::info!(path = %path.display(), "watching for changes");
        }
    }
    while let Some(first) = rx.recv().await {
        let mut changed = vec![first];
        // Collect the burst.
        while let Ok(Some(path)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            changed.push(path);
        }
        let mut due: Vec<usize> = roots
            .iter()
            .filter(|(root, _)| changed.iter().any(|p| is_source_change(root, p)))
            .flat_map(|(_, indexes)| indexes.iter().copied())
            .collect();
        due.sort_unstable();
        due.dedup();
        for index in due {
            if let Some(watched) = services.get(index) {
                rebuild(&deployer, watched, &manifest.dir).await;
            }
        }
    }
    drop(watcher);
    Ok(())
}

async fn rebuild(deployer: &Deployer, watched: &Watched, base: &Path) {
    let service = watched.service.name.as_str();
    tracing::info!(service, "sources changed: rebuilding");
    let spec = watched.service.clone();
    let dir = base.to_path_buf();
    let built = tokio::task::spawn_blocking(move || {
        let wasm = build::build_service(&dir, &spec)?;
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
        section: Some(watched.section.clone()),
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
