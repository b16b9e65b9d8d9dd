//! From a validated manifest to a servable app.
//!
//! Reads each service's component, compiles, links and pre-instantiates it
//! through [`wharf_core`], and builds the route table. Any service that
//! fails to load fails the whole app, with the service named: a host never
//! starts half an app.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use wharf_core::{HttpServiceTemplate, Runtime, ServiceIdentity, ServicePolicy};
use wharf_http::{HttpApp, Router};
use wharf_manifest::{ComponentSource, Manifest, ServiceSpec};
use wharf_telemetry::Telemetry;

/// Folder, beside the manifest, where `wharf build` puts components.
pub const BUILD_DIR: &str = ".wharf/build";

/// A loaded app: the manifest it came from and the servable services.
pub struct LoadedApp {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The services, ready to serve.
    pub http: Arc<HttpApp>,
}

/// Where the component of `service` is read from: its prebuilt file, or the
/// output of `wharf build` for Cargo services.
pub fn component_path(manifest: &Manifest, service: &ServiceSpec) -> PathBuf {
    match &service.component {
        ComponentSource::File(path) => path.clone(),
        ComponentSource::Cargo { .. } => built_component_path(&manifest.dir, &service.name),
    }
}

/// Where `wharf build` writes the component of the service `name`.
pub fn built_component_path(manifest_dir: &Path, name: &str) -> PathBuf {
    manifest_dir.join(BUILD_DIR).join(format!("{name}.wasm"))
}

/// Compiles every service of `manifest` and builds its route table;
/// request spans go to `telemetry`.
pub fn load(
    runtime: &Runtime,
    manifest: Manifest,
    telemetry: Telemetry,
) -> anyhow::Result<LoadedApp> {
    let metrics = runtime.metrics().clone();
    let mut templates = Vec::with_capacity(manifest.services.len());
    for service in &manifest.services {
        let path = component_path(&manifest, service);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if let ComponentSource::Cargo { package_dir } = &service.component {
                    anyhow::bail!(
                        "service `{}` is built from {} but has not been built yet: run `wharf build` or `wharf up --build`",
                        service.name,
                        package_dir.display()
                    );
                }
                return Err(error).with_context(|| {
                    format!("service `{}`: cannot read {}", service.name, path.display())
                });
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("service `{}`: cannot read {}", service.name, path.display())
                });
            }
        };
        let identity = ServiceIdentity {
            name: Arc::from(service.name.as_str()),
            version: Arc::from(service.version.as_str()),
        };
        let started = std::time::Instant::now();
        let template = HttpServiceTemplate::load(
            runtime,
            identity,
            &bytes,
            &path.display().to_string(),
            ServicePolicy::from_spec(service),
        )
        .with_context(|| format!("service `{}` was refused", service.name))?;
        // Every load compiles: there is no compiled-code cache yet, so every
        // lookup is a miss.
        metrics.component_cache.with_label_values(&["miss"]).inc();
        metrics
            .compile_duration
            .with_label_values(&[&service.name])
            .observe(started.elapsed().as_secs_f64());
        metrics.components_loaded.inc();
        tracing::debug!(
            service = %service.name,
            compile_ms = started.elapsed().as_millis() as u64,
            "service loaded"
        );
        templates.push(Arc::new(template));
    }
    let router = Router::new(
        manifest
            .services
            .iter()
            .enumerate()
            .flat_map(|(index, service)| service.routes.iter().map(move |route| (route, index))),
    );
    Ok(LoadedApp {
        http: Arc::new(HttpApp::new(router, templates, metrics, telemetry)),
        manifest,
    })
}
