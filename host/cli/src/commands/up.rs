//! `wharf up`: load an app and serve it until Ctrl-C or SIGTERM.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use anyhow::Context as _;
use wharf_admin::{AdminState, ServiceStatus, StatusFn, serve_admin};
use wharf_core::{Runtime, RuntimeConfig};
use wharf_http::{ServeOptions, serve};
use wharf_manifest::{Manifest, Route};
use wharf_metrics::Metrics;
use wharf_telemetry::Telemetry;

use crate::app;
use crate::cli::UpArgs;
use crate::token;

/// Runs `wharf up`.
pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let manifest = load_manifest(&args.path)?;
    if args.build {
        super::build::build_manifest(&manifest)?;
    }
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| manifest.dir.join(".wharf"));
    let (token, created) = token::load_or_create(&state_dir)?;
    let metrics = Arc::new(Metrics::new()?);

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let result = tokio.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };

        // The admin listener comes up first, so `/readyz` can say "not
        // ready" while services compile.
        let admin = Arc::new(AdminState::new(metrics.clone(), token));
        let admin_listener = tokio::net::TcpListener::bind(args.admin)
            .await
            .with_context(|| format!("cannot listen on the admin address {}", args.admin))?;
        println!("Admin API on http://{}/", admin_listener.local_addr()?);
        if let Some(path) = created {
            println!("Admin token written to {} (mode 0600)", path.display());
        }
        tokio::spawn(serve_admin(admin_listener, admin.clone(), false, stopped()));
        if let Some(addr) = args.metrics {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on the metrics address {addr}"))?;
            println!("Metrics on http://{}/metrics", listener.local_addr()?);
            tokio::spawn(serve_admin(listener, admin.clone(), true, stopped()));
        }
        let telemetry = match &args.otlp_endpoint {
            Some(endpoint) => Telemetry::otlp(endpoint, "wharf")?,
            None => Telemetry::disabled(),
        };

        let (runtime, loaded) = tokio::task::spawn_blocking({
            let metrics = metrics.clone();
            let telemetry = telemetry.clone();
            move || -> anyhow::Result<_> {
                let runtime = Runtime::new(RuntimeConfig::default(), metrics)?;
                let loaded = app::load(&runtime, manifest, telemetry)?;
                Ok((Arc::new(runtime), loaded))
            }
        })
        .await
        .context("loading the app failed")??;

        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        // Ready before the banner: whoever waits for "Serving" (a person,
        // a script, a test) must find /readyz already saying so. The
        // listener is bound, so connections queue until `serve` accepts.
        admin.set_ready(service_status(&loaded, metrics.clone()), {
            let http = loaded.http.clone();
            Box::new(move || {
                runtime.observe_pool();
                http.observe();
            })
        });
        print_routes(&loaded.manifest, addr);
        let options = ServeOptions {
            grace_period: Duration::from_secs(args.grace_period),
            ..ServeOptions::default()
        };
        let served = serve(listener, loaded.http.clone(), options, stopped()).await;
        telemetry.shutdown();
        served
    });
    // Instances still running past the grace period are abandoned with the
    // runtime rather than waited for.
    tokio.shutdown_timeout(Duration::from_millis(100));
    result
}

/// The `/v1/services` listing of a loaded app.
fn service_status(loaded: &app::LoadedApp, metrics: Arc<Metrics>) -> StatusFn {
    let services: Vec<(String, String, Vec<String>)> = loaded
        .manifest
        .services
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.version.clone(),
                s.routes.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    Box::new(move || {
        let requests = requests_by_service(&metrics);
        services
            .iter()
            .map(|(name, version, routes)| ServiceStatus {
                name: name.clone(),
                version: version.clone(),
                routes: routes.clone(),
                state: "ready".into(),
                live_instances: metrics.instances_live.with_label_values(&[name]).get(),
                requests_total: requests.get(name).copied().unwrap_or(0),
            })
            .collect()
    })
}

/// Sums `wharf_http_requests_total` per service without creating series.
fn requests_by_service(metrics: &Metrics) -> std::collections::HashMap<String, u64> {
    use wharf_metrics::Collector as _;
    let mut totals = std::collections::HashMap::new();
    for family in metrics.http_requests.collect() {
        for metric in family.get_metric() {
            let service = metric
                .get_label()
                .iter()
                .find(|l| l.name() == "service")
                .map(|l| l.value().to_string());
            if let Some(service) = service {
                *totals.entry(service).or_insert(0) += metric.get_counter().value() as u64;
            }
        }
    }
    totals
}

/// A `.wasm` path is served alone; anything else is a manifest or a folder
/// holding one.
pub fn load_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let is_wasm = path.extension().is_some_and(|ext| ext == "wasm");
    let manifest = if is_wasm {
        Manifest::single_component(path)?
    } else {
        Manifest::load(path)?
    };
    Ok(manifest)
}

fn print_routes(manifest: &Manifest, addr: std::net::SocketAddr) {
    println!("Serving {} on http://{addr}/", manifest.app_name);
    for service in &manifest.services {
        for route in &service.routes {
            let shown = match route {
                Route::Prefix(prefix) => format!("{prefix}/..."),
                Route::Exact(path) => path.clone(),
            };
            println!(
                "  http://{addr}{shown}  ->  {} ({})",
                service.name, service.version
            );
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested");
}
