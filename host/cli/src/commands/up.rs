//! `wharf up`: load an app and serve it until Ctrl-C or SIGTERM.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context as _, bail};
use wharf_admin::{AdminState, ServiceStatus, serve_admin};
use wharf_cluster::{Cluster, HostAddresses};
use wharf_core::{Runtime, RuntimeConfig};
use wharf_deploy::compiled_cache::CompiledCache;
use wharf_deploy::store::{
    ComponentStore, DeploymentStore, FileComponentStore, FileDeploymentStore,
};
use wharf_deploy::{Deployer, DeployerConfig};
use wharf_http::{HttpApp, RouteTable, ServeOptions, serve};
use wharf_manifest::Manifest;
use wharf_message_trigger::MessageTrigger;
use wharf_messaging::{Broker, EmbeddedBroker, NatsBroker};
use wharf_metrics::Metrics;
use wharf_telemetry::Telemetry;
use wharf_trust::TrustPolicy;

use crate::app;
use crate::cli::UpArgs;
use crate::token;

/// Runs `wharf up`.
pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let manifest = load_manifest(&args.path)?;
    if args.build || args.watch {
        super::build::build_manifest(&manifest)?;
    }
    let state_dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None if is_wasm(&args.path) => crate::state_dir::default_for(&args.path)?,
        None => crate::state_dir::default_for(&manifest.dir)?,
    };
    let state_dir = crate::state_dir::prepare(&state_dir)?;
    if !args.admin.ip().is_loopback() && !token::from_env() {
        bail!(
            "refusing to serve the admin API on {}, which is not a loopback address, without a token chosen by you: set {}",
            args.admin,
            token::TOKEN_ENV
        );
    }
    let trust = if args.trusted_keys.is_empty() {
        None
    } else {
        Some(TrustPolicy::from_public_key_files(&args.trusted_keys)?)
    };
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
        let admin = Arc::new(AdminState::new(metrics.clone(), token.clone()));
        let admin_listener = tokio::net::TcpListener::bind(args.admin)
            .await
            .with_context(|| format!("cannot listen on the admin address {}", args.admin))?;
        let admin_addr = admin_listener.local_addr()?;
        println!("Admin API on http://{admin_addr}/");
        println!("State in {}", state_dir.display());
        if let Some(path) = created {
            println!(
                "Admin token (shown once; kept in {}, mode 0600): {token}",
                path.display()
            );
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

        let runtime = tokio::task::spawn_blocking({
            let metrics = metrics.clone();
            move || Runtime::new(RuntimeConfig::default(), metrics)
        })
        .await
        .context("starting the runtime failed")??;
        let runtime = Arc::new(runtime);
        let mut nats_client = None;
        let broker: Arc<dyn Broker> = match &args.nats {
            Some(url) => {
                let broker = NatsBroker::connect_with(url, &args.nats_security.to_security())
                    .await?;
                println!("Messaging through NATS at {url}");
                nats_client = Some(broker.client().clone());
                Arc::new(broker)
            }
            None => {
                let broker = EmbeddedBroker::new();
                broker.keep_durable_in(&state_dir)?;
                Arc::new(broker)
            }
        };
        let cluster = match (&args.cluster, nats_client.clone()) {
            (Some(name), Some(client)) => {
                let cluster = Cluster::join(client, name, &state_dir, record_signing(&args)?)
                    .await
                    .with_context(|| format!("cannot join the cluster `{name}`"))?;
                println!(
                    "Cluster {name}: this is host {}; deployments are kept in NATS JetStream",
                    cluster.host_id()
                );
                Some(Arc::new(cluster))
            }
            (Some(_), None) => bail!("--cluster needs --nats: the cluster's state is kept in NATS JetStream"),
            (None, _) => None,
        };
        let (records, components): (Arc<dyn DeploymentStore>, Arc<dyn ComponentStore>) =
            match &cluster {
                Some(cluster) => (cluster.records(), cluster.components()),
                None => (
                    Arc::new(FileDeploymentStore::open(&state_dir)?),
                    Arc::new(FileComponentStore::open(&state_dir)?),
                ),
            };
        // Every subject of this app's services lives in its namespace on
        // the broker (per cluster on a cluster's NATS).
        let namespace = wharf_messaging::Namespace::for_app(
            &manifest.app_name,
            args.cluster.as_deref().filter(|_| args.nats.is_some()),
        );
        runtime.set_key_value(crate::key_value::open(nats_client, &namespace, &state_dir))?;
        let http = HttpApp::new(
            RouteTable::default(),
            metrics.clone(),
            telemetry.clone(),
            Some(broker.clone()),
            namespace,
        );
        let trigger = MessageTrigger::new(
            http.clone(),
            broker.clone(),
            metrics.clone(),
        );
        let resync: Arc<dyn Fn() + Send + Sync> = {
            let trigger = trigger.clone();
            Arc::new(move || {
                let trigger = trigger.clone();
                tokio::spawn(async move {
                    if let Err(error) = trigger.sync().await {
                        tracing::error!(error = %format!("{error:#}"), "cannot update subscriptions");
                    }
                });
            })
        };
        let deployer = Deployer::new(
            runtime.clone(),
            http.clone(),
            records,
            components,
            CompiledCache::open(&state_dir)?,
            DeployerConfig {
                drain_timeout: Duration::from_secs(args.drain_timeout),
                trust,
                state_dir: Some(state_dir.clone()),
                after_install: Some(resync),
                cluster: cluster.is_some(),
            },
        );
        // `oci://` components are pulled (verified, into the state
        // directory's cache) and then load like files.
        let manifest = crate::oci::pull_manifest_components(manifest, &state_dir)
            .await
            .context("loading the app failed")?;
        let services = app::manifest_services(&manifest)?;
        deployer
            .start(services)
            .await
            .context("loading the app failed")?;
        // Subscribed before the banner, so a message published once the
        // host says "Serving" is received.
        trigger.sync().await.context("subscribing failed")?;

        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        // Ready before the banner: whoever waits for "Serving" (a person,
        // a script, a test) must find /readyz already saying so. The
        // listener is bound, so connections queue until `serve` accepts.
        admin.set_ready(deployer.clone(), {
            let http = http.clone();
            let broker = broker.clone();
            let metrics = metrics.clone();
            Box::new(move || {
                runtime.observe_pool();
                http.observe();
                metrics
                    .broker_dropped
                    .set(i64::try_from(broker.dropped()).unwrap_or(i64::MAX));
            })
        });
        admin.start_console(http.clone());
        if let Some(cluster) = &cluster {
            cluster.run(
                deployer.clone(),
                HostAddresses {
                    admin: admin_addr.to_string(),
                    http: addr.to_string(),
                },
            );
            let status = cluster.clone();
            admin.set_cluster(Arc::new(move || {
                let status = status.clone();
                Box::pin(async move { status.status().await })
            }));
        }
        print_routes(&manifest.app_name, &deployer.status(), addr);
        if args.watch {
            tokio::spawn(crate::watch::run(manifest.clone(), deployer.clone()));
        }
        let options = ServeOptions {
            grace_period: Duration::from_secs(args.grace_period),
            ..ServeOptions::default()
        };
        let served = serve(listener, http, options, stopped()).await;
        if let Some(cluster) = &cluster {
            cluster.leave().await;
        }
        telemetry.shutdown();
        served
    });
    // Instances still running past the grace period are abandoned with the
    // runtime rather than waited for.
    tokio.shutdown_timeout(Duration::from_millis(100));
    result
}

/// The operator key this host signs records with, and the operators whose
/// records it applies (its own key when only that is given).
fn record_signing(args: &UpArgs) -> anyhow::Result<wharf_cluster::RecordSigning> {
    let signer = match &args.operator_key {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the operator key {}", path.display()))?;
            Some(
                wharf_trust::SigningKeyPair::from_secret_text(&text).with_context(|| {
                    format!("{} is not a secret key from `wharf keygen`", path.display())
                })?,
            )
        }
        None => None,
    };
    let trusted = if !args.trusted_operators.is_empty() {
        Some(TrustPolicy::from_public_key_files(&args.trusted_operators)?)
    } else {
        signer
            .as_ref()
            .map(|s| TrustPolicy::new(vec![s.public_key()]))
    };
    Ok(wharf_cluster::RecordSigning { signer, trusted })
}

/// A `.wasm` path is served alone; anything else is a manifest or a folder
/// holding one.
pub fn load_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let manifest = if is_wasm(path) {
        Manifest::single_component(path)?
    } else {
        Manifest::load(path)?
    };
    Ok(manifest)
}

/// Whether `wharf up` serves `path` as a single component.
fn is_wasm(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wasm")
}

fn print_routes(app: &str, services: &[ServiceStatus], addr: std::net::SocketAddr) {
    println!("Serving {app} on http://{addr}/");
    for service in services {
        for route in &service.routes {
            println!(
                "  http://{addr}{route}  ->  {} ({})",
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
