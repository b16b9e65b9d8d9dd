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
    Up(UpArgs),
    /// Compile an app's Rust services to `wasm32-wasip2` components.
    Build(BuildArgs),
    /// Scaffold a new service from a template.
    New(NewArgs),
    /// Show the services of a running host and their health.
    Ps(PsArgs),
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

    /// Build the app's Rust services before serving.
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

    /// Where the host keeps its state (the admin token). Default: `.wharf`
    /// beside the manifest.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// Arguments of `wharf ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// URL of the host's admin listener.
    #[arg(long, default_value = "http://127.0.0.1:9080")]
    pub admin: String,

    /// The host's state directory, to read the admin token from when
    /// `WHARF_ADMIN_TOKEN` is not set.
    #[arg(long, default_value = ".wharf")]
    pub state_dir: PathBuf,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
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
}
