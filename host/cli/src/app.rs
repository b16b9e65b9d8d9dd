//! From a validated manifest to the services `wharf up` hands the deployer.
//!
//! Reads each service's component and the text of its manifest table; the
//! deployer compiles, links and pre-instantiates them, and builds the route
//! table. Any service that cannot be read fails the whole app, with the
//! service named: a host never starts half an app.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wharf_deploy::ManifestService;
use wharf_manifest::{ComponentSource, Manifest, ServiceSpec};

use crate::commands::sign;

/// Folder, beside the manifest, where `wharf build` puts components.
pub const BUILD_DIR: &str = ".wharf/build";

/// Where the component of `service` is read from: its prebuilt file, or the
/// output of `wharf build` for Cargo services. `None` for an `oci://`
/// component that has not been pulled yet
/// ([`crate::oci::pull_manifest_components`] turns those into files).
pub fn component_path(manifest: &Manifest, service: &ServiceSpec) -> Option<PathBuf> {
    match &service.component {
        ComponentSource::File(path) => Some(path.clone()),
        ComponentSource::Cargo { .. }
        | ComponentSource::Script { .. }
        | ComponentSource::Deployed => Some(built_component_path(&manifest.dir, &service.name)),
        ComponentSource::Oci(_) => None,
    }
}

/// [`component_path`], or an error naming an `oci://` component that was
/// not pulled.
fn local_component_path(manifest: &Manifest, service: &ServiceSpec) -> anyhow::Result<PathBuf> {
    component_path(manifest, service).with_context(|| match &service.component {
        ComponentSource::Oci(reference) => format!(
            "service `{}`: its component {} has not been pulled",
            service.name,
            reference.url()
        ),
        _ => format!("service `{}` has no component file", service.name),
    })
}

/// Where `wharf build` writes the component of the service `name`.
pub fn built_component_path(manifest_dir: &Path, name: &str) -> PathBuf {
    manifest_dir.join(BUILD_DIR).join(format!("{name}.wasm"))
}

/// Every service of `manifest`, read from disk.
pub fn manifest_services(manifest: &Manifest) -> anyhow::Result<Vec<ManifestService>> {
    // A manifest made for a single `.wasm` has no TOML of its own.
    let source = if manifest.file.extension().is_some_and(|e| e == "wasm") {
        None
    } else {
        Some(
            std::fs::read_to_string(&manifest.file)
                .with_context(|| format!("cannot read {}", manifest.file.display()))?,
        )
    };
    manifest
        .services
        .iter()
        .map(|service| {
            let section = match &source {
                Some(source) => wharf_manifest::extract_service_section(source, &service.name)
                    .with_context(|| {
                        format!(
                            "{} has no [service.{}] table",
                            manifest.file.display(),
                            service.name
                        )
                    })?,
                None => {
                    let routes: Vec<String> = service
                        .routes
                        .iter()
                        .map(|r| format!("{:?}", r.to_string()))
                        .collect();
                    format!("routes = [{}]\n", routes.join(", "))
                }
            };
            let path = local_component_path(manifest, service)?;
            Ok(ManifestService {
                name: service.name.clone(),
                version: service.version.clone(),
                bytes: read_component(service, &path)?,
                section,
                base_dir: manifest.dir.clone(),
                signature: sign::read_signature_beside(&path)?,
            })
        })
        .collect()
}

fn read_component(service: &ServiceSpec, path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let source = match &service.component {
                ComponentSource::Cargo { package_dir } => Some(package_dir),
                ComponentSource::Script { entry, .. } => Some(entry),
                _ => None,
            };
            if let Some(source) = source {
                anyhow::bail!(
                    "service `{}` is built from {} but has not been built yet: run `wharf build` or `wharf up --build`",
                    service.name,
                    source.display()
                );
            }
            Err(error).with_context(|| {
                format!("service `{}`: cannot read {}", service.name, path.display())
            })
        }
        Err(error) => Err(error)
            .with_context(|| format!("service `{}`: cannot read {}", service.name, path.display())),
    }
}

/// A loaded app: the manifest it came from and the servable services.
pub struct LoadedApp {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The services, ready to serve.
    pub http: std::sync::Arc<wharf_http::HttpApp>,
}

/// Compiles every service of `manifest` into a fixed app, without a state
/// directory or deployments: for benchmarks and in-process tests, which
/// measure serving, not deploying. `wharf up` goes through the deployer.
pub fn load(
    runtime: &wharf_core::Runtime,
    manifest: Manifest,
    telemetry: wharf_telemetry::Telemetry,
) -> anyhow::Result<LoadedApp> {
    use std::sync::Arc;
    use wharf_core::{ServiceIdentity, ServicePolicy, ServiceTemplate};
    use wharf_http::{HttpApp, RouteTable, Router, ServiceTarget, Serving};

    let mut targets = Vec::with_capacity(manifest.services.len());
    for service in &manifest.services {
        let path = local_component_path(&manifest, service)?;
        let bytes = read_component(service, &path)?;
        let identity = ServiceIdentity {
            name: Arc::from(service.name.as_str()),
            version: Arc::from(service.version.as_str()),
        };
        let template = ServiceTemplate::load(
            runtime,
            identity,
            &bytes,
            &path.display().to_string(),
            ServicePolicy::from_spec(service),
        )
        .with_context(|| format!("service `{}` was refused", service.name))?;
        targets.push(Arc::new(ServiceTarget::stable(Serving::new(Arc::new(
            template,
        )))));
    }
    runtime
        .metrics()
        .components_loaded
        .set(i64::try_from(targets.len()).unwrap_or(i64::MAX));
    let router = Router::new(
        manifest
            .services
            .iter()
            .enumerate()
            .flat_map(|(index, service)| service.routes.iter().map(move |route| (route, index))),
    );
    let table = RouteTable::new(router, targets);
    Ok(LoadedApp {
        http: HttpApp::new(
            table,
            runtime.metrics().clone(),
            telemetry,
            None,
            wharf_messaging::Namespace::for_app(&manifest.app_name, None),
        ),
        manifest,
    })
}
