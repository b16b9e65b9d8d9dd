//! Command-line arguments (clap derive). Every subcommand has `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Wharf: a WebAssembly microservice host.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about, long_about = None)]
pub struct Cli {
    /// Log output format. Filter with `RUST_LOG` (default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve an app (a `wharf.toml`, a folder holding one, or a single `.wasm`).
    Up(Box<UpArgs>),
    /// Compile an app's services (Rust, Python, JavaScript) to components.
    Build(BuildArgs),
    /// Scaffold a new service from a template.
    New(NewArgs),
    /// Show the services of a running host: versions, canaries, traffic.
    Ps(PsArgs),
    /// Deploy a new version of a service to a running host, with no
    /// downtime (a service not on the host yet is created).
    Deploy(DeployArgs),
    /// Return a service to its previous version (or withdraw its canary).
    Rollback(ServiceArgs),
    /// Make a service's canary its stable version.
    Promote(ServiceArgs),
    /// Put an earlier version of a service (by label or digest) back in service.
    Activate(ActivateArgs),
    /// Change the share of requests a service's canary gets.
    Traffic(TrafficArgs),
    /// Remove a service from a running host.
    Rm(ServiceArgs),
    /// Make an ed25519 key pair for signing components.
    Keygen(crate::commands::keygen::KeygenArgs),
    /// Sign a component's digest, for hosts with a trust policy.
    Sign(crate::commands::sign::SignArgs),
    /// Push a component to an OCI registry (prints the manifest digest).
    Push(crate::commands::push::PushArgs),
}

/// How to reach a host's admin API.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// URL of the host's admin listener.
    #[arg(long, default_value = "http://127.0.0.1:9080")]
    pub admin: String,

    /// The host's state directory, to read the admin token from when
    /// `WHARF_ADMIN_TOKEN` is not set. Default: the one `wharf up` uses
    /// for the app in the current folder.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// Arguments of commands that act on one service.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// The service.
    pub service: String,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub admin: AdminArgs,
}

/// Arguments of `wharf deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The service to deploy to.
    pub service: String,

    /// A component `.wasm`, a Cargo package folder to build first, or
    /// `oci://<registry>/<repository>:<tag>` (or `@sha256:<digest>`) to
    /// pull from a registry (see `wharf push`).
    pub component: PathBuf,

    /// Version label (default: the manifest's `version`, else the digest).
    #[arg(long)]
    pub version: Option<String>,

    /// Take routes, grants and limits from this service's table in a
    /// `wharf.toml` (default: keep the active version's; none for a new
    /// service, which then answers `/<service>/...`).
    #[arg(long)]
    pub manifest: Option<PathBuf>,

    /// Send this percentage of requests to the new version and keep the
    /// active one for the rest.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub canary: Option<u8>,

    /// Split a canary by this request header's value (sticky clients)
    /// instead of the request ID.
    #[arg(long, requires = "canary")]
    pub sticky_header: Option<String>,

    /// Watch the canary and roll it back by itself when its error rate or
    /// p99 is worse than the stable version's.
    #[arg(long, requires = "canary")]
    pub auto_rollback: bool,

    /// Auto-rollback: seconds per comparison window.
    #[arg(long, default_value_t = 10, requires = "auto_rollback")]
    pub rollback_window: u64,

    /// Auto-rollback: allowed excess of the canary's error rate, in
    /// percentage points.
    #[arg(long, default_value_t = 5.0, requires = "auto_rollback")]
    pub max_error_increase: f64,

    /// Auto-rollback: allowed ratio of the canary's p99 to stable's.
    #[arg(long, default_value_t = 2.0, requires = "auto_rollback")]
    pub max_p99_ratio: f64,

    /// Auto-rollback: canary requests a window needs before it counts.
    #[arg(long, default_value_t = 20, requires = "auto_rollback")]
    pub min_requests: u64,

    /// Accept a version that asks for capabilities (outbound origins,
    /// files, sockets, variables, higher limits) the active one lacks.
    #[arg(long)]
    pub allow_new_grants: bool,

    /// Signature file from `wharf sign` (default: `<component>.sig` if it
    /// exists).
    #[arg(long)]
    pub signature: Option<PathBuf>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub admin: AdminArgs,
}

/// Arguments of `wharf activate`.
#[derive(Debug, clap::Args)]
pub struct ActivateArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: ServiceArgs,

    /// Version label or digest (`sha256:…`) from the service's history.
    #[arg(long)]
    pub version: String,
}

/// Arguments of `wharf traffic`.
#[derive(Debug, clap::Args)]
pub struct TrafficArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: ServiceArgs,

    /// Percent of requests for the canary.
    #[arg(long = "canary", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub canary_percent: u8,

    /// Split by this request header instead of the request ID.
    #[arg(long)]
    pub sticky_header: Option<String>,
}

/// Arguments of `wharf up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// A `wharf.toml`, a folder holding one, or a single component `.wasm`
    /// (served for every path as a service named after the file).
    #[arg(default_value = ".")]
    pub path: PathBuf,

    /// Address to serve HTTP on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Build the app's services (Rust, Python, JavaScript) before serving.
    #[arg(long)]
    pub build: bool,

    /// Seconds in-flight requests may run after Ctrl-C / SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub grace_period: u64,

    /// Address of the admin listener (`/metrics`, `/healthz`, `/readyz`,
    /// `/v1/...`). Never the public listener.
    #[arg(long, default_value = "127.0.0.1:9080")]
    pub admin: SocketAddr,

    /// Also serve `/metrics`, `/healthz` and `/readyz` (only) on this address.
    #[arg(long)]
    pub metrics: Option<SocketAddr>,

    /// Export one OpenTelemetry span per request to this OTLP/HTTP endpoint
    /// (e.g. `http://127.0.0.1:4318`). Off by default.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,

    /// Where the host keeps its state (admin token, components,
    /// deployment record, compiled code). Default: a per-app directory
    /// under `$XDG_STATE_HOME/wharf/apps/` (else `~/.local/state/...`),
    /// never inside the app folder.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,

    /// Seconds a replaced version may keep serving the requests it
    /// already has before they are cut off.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,

    /// Only run components signed by this public key (from `wharf
    /// keygen`); repeat for several keys. Off by default.
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,

    /// Rebuild the app's services built from source when their sources change and
    /// hot-swap them.
    #[arg(long)]
    pub watch: bool,

    /// Route all messaging through this NATS server (e.g.
    /// `nats://127.0.0.1:4222`) so services on several hosts talk to each
    /// other. Default: the embedded in-process broker.
    #[arg(long, env = "WHARF_NATS_URL")]
    pub nats: Option<String>,

    /// Join the cluster NAME: keep the deployment record and components in
    /// NATS JetStream (needs `--nats` with JetStream on) and converge to
    /// what any host of the cluster deployed. Default: this host alone.
    #[arg(long, env = "WHARF_CLUSTER", requires = "nats", value_name = "NAME")]
    pub cluster: Option<String>,

    /// How this host authenticates to NATS and checks the server (see
    /// `wharf up --help`).
    #[command(flatten)]
    pub nats_security: NatsSecurityArgs,

    /// Sign every deployment record this host saves with this operator
    /// key (a secret key from `wharf keygen`); with `--cluster`. Hosts
    /// started with `--trusted-operator` apply only records signed so.
    #[arg(
        long,
        env = "WHARF_OPERATOR_KEY",
        requires = "cluster",
        value_name = "SECRET_KEY"
    )]
    pub operator_key: Option<PathBuf>,

    /// Apply only cluster deployment records signed by this operator's
    /// public key (from `wharf keygen`); repeat for several. A record
    /// written by anything else is refused and shown by `wharf ps --cluster`.
    #[arg(
        long = "trusted-operator",
        requires = "cluster",
        value_name = "PUBLIC_KEY"
    )]
    pub trusted_operators: Vec<PathBuf>,
}

/// Credentials and TLS for `--nats`; each also from the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsSecurityArgs {
    /// NATS user name (with `--nats-password`).
    #[arg(long, env = "WHARF_NATS_USER", requires = "nats_password")]
    pub nats_user: Option<String>,
    /// NATS password (with `--nats-user`); prefer the environment
    /// variable, which other users cannot see.
    #[arg(long, env = "WHARF_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// NATS token.
    #[arg(long, env = "WHARF_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// File holding a NATS NKey seed.
    #[arg(long, env = "WHARF_NATS_NKEY", value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,
    /// NATS `.creds` file (user JWT and seed).
    #[arg(long, env = "WHARF_NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate (PEM) the NATS server's certificate must chain to;
    /// requires TLS.
    #[arg(long, env = "WHARF_NATS_TLS_CA", value_name = "FILE")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS servers that verify clients.
    #[arg(
        long,
        env = "WHARF_NATS_TLS_CERT",
        requires = "nats_tls_key",
        value_name = "FILE"
    )]
    pub nats_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `--nats-tls-cert`.
    #[arg(
        long,
        env = "WHARF_NATS_TLS_KEY",
        requires = "nats_tls_cert",
        value_name = "FILE"
    )]
    pub nats_tls_key: Option<PathBuf>,
}

impl NatsSecurityArgs {
    /// The settings the broker applies.
    pub fn to_security(&self) -> wharf_messaging::NatsSecurity {
        wharf_messaging::NatsSecurity {
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
            token: self.nats_token.clone(),
            nkey_file: self.nats_nkey.clone(),
            creds_file: self.nats_creds.clone(),
            tls_ca: self.nats_tls_ca.clone(),
            tls_cert: self.nats_tls_cert.clone(),
            tls_key: self.nats_tls_key.clone(),
        }
    }
}

/// Arguments of `wharf ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub admin: AdminArgs,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Show the host's whole cluster: every live host and, per service,
    /// the desired version and each host's.
    #[arg(long)]
    pub cluster: bool,
}

/// Arguments of `wharf build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// A `wharf.toml` or a folder holding one.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

/// Arguments of `wharf new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// Template to use.
    #[arg(value_enum)]
    pub template: Template,

    /// Name of the new service (also its folder).
    pub name: String,

    /// Folder to create the service in (default: `./<name>`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Templates `wharf new` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// An HTTP service in Rust using `wharf-sdk`.
    HttpRust,
    /// An HTTP service in Python, built with componentize-py.
    HttpPython,
    /// An HTTP service in JavaScript, built with componentize-js.
    HttpJs,
}
