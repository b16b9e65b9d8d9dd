//! `wharf up`: load an app and serve it until Ctrl-C or SIGTERM.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use wharf_core::{Runtime, RuntimeConfig};
use wharf_http::{ServeOptions, serve};
use wharf_manifest::{Manifest, Route};

use crate::app;
use crate::cli::UpArgs;

/// Runs `wharf up`.
pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let manifest = load_manifest(&args.path)?;
    if args.build {
        super::build::build_manifest(&manifest)?;
    }
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let loaded = app::load(&runtime, manifest)?;

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    tokio.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        print_routes(&loaded.manifest, addr);
        let options = ServeOptions {
            grace_period: Duration::from_secs(args.grace_period),
            ..ServeOptions::default()
        };
        serve(listener, loaded.http.clone(), options, shutdown_signal()).await
    })?;
    // Instances still running past the grace period are abandoned with the
    // runtime rather than waited for.
    tokio.shutdown_timeout(Duration::from_millis(100));
    Ok(())
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
