//! `wharf.toml`: the app manifest, parsed and strictly validated.
//!
//! This crate owns the manifest file format and every rule about it, so the
//! rest of the host (the CLI, the HTTP router, later grants and limits) only
//! ever sees a [`Manifest`] that is known to be valid: service names are
//! usable as DNS labels, routes are parsed into [`Route`]s and do not
//! conflict, and component paths are absolute and exist. Nothing here touches
//! WebAssembly.
//!
//! Besides whole manifests it checks one service deployed on its own through
//! the admin API ([`parse_service_section`], with
//! [`extract_service_section`] on the sending side), and tells what a new
//! version of a service may do that the active one may not
//! ([`CapabilityDiff`]).
//!
//! # Format
//!
//! ```toml
//! [app]                               # optional
//! name = "shop"                       # optional; default: the manifest directory's name
//!
//! [service.hello]                     # one table per service; the key is the name
//! component = "build/hello.wasm"      # a prebuilt component, relative to the manifest
//! # or: component = { cargo = "services/hello" }   # a Cargo package that `wharf build` compiles
//! # or: component = { python = "app.py" }          # a Python app (componentize-py)
//! # or: component = { js = "app.js" }              # a JavaScript app (componentize-js)
//! # or: component = "oci://ghcr.io/acme/hello:1.0"  # pulled from an OCI registry (see [`OciReference`])
//! routes = ["/", "/hello/..."]        # non-empty; optional with subscriptions
//! version = "1.0.0"                   # optional label, default "dev"
//! outbound = ["https://api.example.com"]               # origins it may call
//! files = [{ source = "static", path = "/static" }]    # mode = "rw" to write
//! sockets = ["127.0.0.1:5432", "10.0.0.0/8:*"]         # addresses it may reach
//! publish = ["hello.>", "orders.reserved"]             # topics it may publish to
//! subscriptions = [                                    # topics it handles
//!     { topic = "orders.created", queue_group = "hello" },
//!     { topic = "orders.*", max_in_flight = 8, retries = 5, dead_letter = "orders.failed", durable = true },
//! ]
//!
//! key_value_stores = ["default", "cache"]            # wasi:keyvalue stores it may open
//!
//! [service.hello.variables]
//! GREETING = "hello"
//! API_KEY = "${env.HELLO_API_KEY}"    # from the host's environment; secret
//!
//! [service.hello.limits]              # every limit has a default
//! memory = "128MiB"
//! timeout = "10s"
//! ```
//!
//! # Messaging
//!
//! Topics follow NATS subject syntax: dot-separated, non-empty tokens of
//! printable ASCII without whitespace, at most 255 characters. In a pattern,
//! the token `*` matches exactly one token and `>`, only as the last token,
//! one or more (`orders.>` matches `orders.created.eu`, not `orders`); a
//! token is a wildcard alone or contains neither character.
//!
//! - `publish`: patterns of the subjects the service may publish to and send
//!   requests to; absent means none. The host checks a subject with
//!   [`topic_pattern_matches`].
//! - `subscriptions`: each entry delivers the messages on `topic` (a pattern)
//!   to the service's handler. `queue_group` (`[A-Za-z0-9_-]{1,64}`) shares
//!   them among the subscribers of the group. `max_in_flight` (1 to 1024,
//!   default 16) is how many deliveries are handled at once, `retries` (0 to
//!   20, default 3) how many more attempts a delivery gets when the handler
//!   errors or traps; then it goes to `dead_letter`, a plain subject, by
//!   default `<topic>.dlq` when `topic` has no wildcards and `dlq.<service
//!   name>` when it has (see [`Subscription::default_dead_letter`]). Nothing
//!   forbids a `dead_letter` the topic itself matches (`orders.failed` for
//!   `orders.*`): failed deliveries then come back to the same subscription.
//!   `durable = true` (default false) makes it a durable JetStream consumer
//!   with NATS. A service may not subscribe twice to the same topic in the
//!   same queue group (or twice without one). The entries may also be
//!   written as `[[service.hello.subscriptions]]` tables.
//!
//! A service with at least one subscription may leave `routes` out or empty;
//! it then runs only for messages.
//!
//! # Deployed sections
//!
//! A deploy carries the component bytes and the body of the service's table
//! (the keys above without the `[service.hello]` header and without
//! `component`, subtables written `[limits]`). [`parse_service_section`]
//! checks it with the same code as a manifest's service and gives a
//! [`ServiceSpec`] whose component is [`ComponentSource::Deployed`];
//! [`extract_service_section`] makes that text from a manifest.
//!
//! # Capability diffs
//!
//! [`CapabilityDiff::between`] compares two versions of a service: origins,
//! directories, socket patterns, publish patterns, subscriptions, variables
//! (never their values), limits and routes. [`CapabilityDiff::escalates`]
//! says whether the candidate may do more than the active version; the diff
//! displays one line per change:
//!
//! ```text
//! + outbound https://api.example.com:443
//! ~ files /data -> /srv/data (read-write, was read-only)
//! + publish orders.>
//! + subscriptions orders.created (queue inventory)
//! ~ subscriptions orders.* dead_letter orders.failed -> dlq.inventory
//! ~ variables.GREETING value changed
//! ~ limits.memory 64 MiB -> 256 MiB (more)
//! ```
//!
//! A new `publish` pattern (one no pattern of the active version covers), a
//! new subscription and a changed `dead_letter` are escalations; changed
//! `max_in_flight`, `retries` or `durable` are not (see [`ChangeKind`]).
//!
//! # Errors
//!
//! Every mistake is reported with the file, line, column and key path, in the
//! shape compilers use:
//!
//! ```text
//! wharf.toml:7:1: service.hello.compnent: unknown field `compnent`, expected one of `component`, `routes`, `version`, `outbound`, `files`, `sockets`, `publish`, `subscriptions`, `variables`, `limits`, `key_value_stores`
//! ```
//!
//! All problems are collected and returned together
//! ([`ManifestError::Multiple`]), so the user can fix them in one go.
//!
//! # Layout
//!
//! - `raw.rs`: private serde types that mirror the file, with spans. New
//!   settings start there; a service's table is one type for manifests and
//!   deployed sections alike.
//! - `validate.rs`: turns them into the public types below, collecting
//!   problems; one path for a manifest's services and deployed sections.
//! - `route.rs`: [`Route`] parsing and matching.
//! - `grants.rs`: [`AllowedOrigin`], [`FileGrant`], [`SocketGrant`],
//!   [`Subscription`], [`Variable`].
//! - `oci.rs`: [`OciReference`], the syntax of `oci://` components.
//! - `topic.rs`: topic syntax, [`topic_pattern_matches`] and
//!   [`topic_pattern_covers`].
//! - [`limits`]: [`Limits`] and their defaults.
//! - `diff.rs`: [`CapabilityDiff`] between two versions of a service.
//! - `error.rs`: [`ManifestError`].
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use wharf_manifest::Manifest;
//!
//! match Manifest::load(Path::new(".")) {
//!     Ok(manifest) => {
//!         for service in &manifest.services {
//!             println!("{}: {:?}", service.name, service.routes);
//!         }
//!     }
//!     Err(err) => eprintln!("{err}"),
//! }
//! ```

mod diff;
mod error;
mod grants;
pub mod limits;
mod oci;
mod raw;
mod route;
mod topic;
mod validate;
mod version;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use diff::{CapabilityDiff, Change, ChangeKind, Direction};
pub use error::ManifestError;
pub use grants::check_key_value_store;
pub use grants::{AllowedOrigin, FileGrant, SocketGrant, Subscription, Variable};
pub use limits::Limits;
pub use oci::{OCI_SCHEME, OciReference, ParseOciReferenceError};
pub use route::Route;
pub use topic::{
    MAX_QUEUE_GROUP_LEN, MAX_TOPIC_LEN, check_not_reserved, check_queue_group, check_topic_pattern,
    check_topic_subject, check_topic_syntax, pattern_covers_valid, pattern_matches_valid,
    topic_pattern_covers, topic_pattern_matches,
};
pub use version::{DEFAULT_VERSION, MAX_VERSION_LEN, check_version_label};

/// The manifest's file name, looked for by [`Manifest::load`] in a directory.
pub const MANIFEST_FILE_NAME: &str = "wharf.toml";

/// A validated app manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Absolute path of the `wharf.toml` (for a manifest made by
    /// [`Manifest::single_component`], of the component file).
    pub file: PathBuf,
    /// Absolute path of the directory holding [`file`](Self::file); relative
    /// paths in the manifest are resolved against it.
    pub dir: PathBuf,
    /// `[app] name`, or the name of [`dir`](Self::dir) when absent.
    pub app_name: String,
    /// The services, in file order; never empty.
    pub services: Vec<ServiceSpec>,
}

/// One validated `[service.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The service name: matches `^[a-z][a-z0-9-]{0,62}$`, so it can be used
    /// as a DNS label (`inventory.internal`).
    pub name: String,
    /// Where the service's component comes from.
    pub component: ComponentSource,
    /// The paths the service answers, in file order; empty only when the
    /// service has [`subscriptions`](Self::subscriptions), and no route
    /// appears twice in the whole manifest.
    pub routes: Vec<Route>,
    /// A free-form label (`1.0.0`), `dev` by default: non-empty, at most 64
    /// characters, no whitespace.
    pub version: String,
    /// Origins the service may send HTTP requests to; empty means none.
    pub outbound: Vec<AllowedOrigin>,
    /// Host directories mapped into the guest; empty means no filesystem.
    pub files: Vec<FileGrant>,
    /// Addresses the service may open sockets to; empty means none.
    pub sockets: Vec<SocketGrant>,
    /// Topic patterns the service may publish to and send requests to, as
    /// written (valid NATS patterns, see [`check_topic_pattern`]); empty
    /// means none. Check a subject with [`topic_pattern_matches`].
    pub publish: Vec<String>,
    /// The topics whose messages are delivered to the service, in file
    /// order, with defaults filled in; no two have the same topic and queue
    /// group.
    pub subscriptions: Vec<Subscription>,
    /// Variables visible as environment variables and `wasi:config`; the
    /// host's own environment is never visible.
    pub variables: Vec<Variable>,
    /// Resource limits (defaults where the manifest says nothing).
    pub limits: Limits,
    /// Names of the key-value stores the service may open with
    /// `wasi:keyvalue` (see [`check_key_value_store`]), in file order, no
    /// duplicates; empty means none. A store is shared by every service
    /// granted the same name.
    pub key_value_stores: Vec<String>,
}

/// Where a service's WebAssembly component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// A prebuilt component: an absolute path to a file that existed when the
    /// manifest was validated.
    File(PathBuf),
    /// A Rust package that `wharf build` compiles to a component.
    Cargo {
        /// Absolute path of the package directory; it held a `Cargo.toml` when
        /// the manifest was validated.
        package_dir: PathBuf,
    },
    /// A Python or JavaScript app that `wharf build` compiles to a
    /// component with the language's toolchain (componentize-py,
    /// componentize-js).
    Script {
        /// The language the app is written in.
        language: Language,
        /// Absolute path of the app's main module (`app.py`, `app.js`); it
        /// was a file when the manifest was validated. Its directory holds
        /// the app's other modules.
        entry: PathBuf,
    },
    /// Bytes supplied by a deploy, stored by digest in the host's state
    /// directory: what [`parse_service_section`] returns, since a deployed
    /// section has no `component` key.
    Deployed,
    /// A component in an OCI registry (`component = "oci://…"`), pulled by
    /// the host before loading; only the reference's syntax is checked here.
    Oci(OciReference),
}

/// A language `wharf build` compiles with its own toolchain: the key of
/// `component = { python = "app.py" }` or `{ js = "app.js" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Python, built with componentize-py.
    Python,
    /// JavaScript (ES modules), built with componentize-js.
    JavaScript,
}

impl Language {
    /// The key naming the language in `component = { … }`.
    pub fn key(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "js",
        }
    }

    /// File extensions a main module may have.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Language::Python => &["py"],
            Language::JavaScript => &["js", "mjs"],
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
        })
    }
}

impl Manifest {
    /// Reads and validates a manifest.
    ///
    /// `path` is either a `wharf.toml` file or a directory containing one.
    /// Messages name the file through `path` as given, so a relative path
    /// gives relative file names.
    ///
    /// # Errors
    ///
    /// [`ManifestError::NotFound`] if `path` is a directory without a
    /// `wharf.toml`, [`ManifestError::Io`] if the file cannot be read, and
    /// the errors of [`Manifest::parse`].
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ManifestError::Io { path, source }
        };
        let meta = fs::metadata(path).map_err(io_error(path))?;
        let file = if meta.is_dir() {
            path.join(MANIFEST_FILE_NAME)
        } else {
            path.to_path_buf()
        };
        let source = match fs::read_to_string(&file) {
            Ok(source) => source,
            Err(err) if meta.is_dir() && err.kind() == io::ErrorKind::NotFound => {
                return Err(ManifestError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(err) => return Err(io_error(&file)(err)),
        };
        Manifest::parse(&source, &file)
    }

    /// Validates manifest text.
    ///
    /// `file` names the manifest in messages, and its directory is the base
    /// for relative component paths (a bare `wharf.toml` means the current
    /// directory). Component paths are checked on disk.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Invalid`] for a single problem,
    /// [`ManifestError::Multiple`] for several; [`ManifestError::Io`] only if
    /// `file` cannot be made absolute (no current directory).
    pub fn parse(source: &str, file: &Path) -> Result<Manifest, ManifestError> {
        let abs_file = std::path::absolute(file).map_err(|source| ManifestError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        validate::manifest(validate::Input {
            source,
            file,
            abs_file,
        })
    }

    /// A manifest for one prebuilt component, for `wharf up x.wasm`.
    ///
    /// The app is named after the file stem, and has one service named after
    /// the stem too, made into a valid service name (lowercased, other
    /// characters replaced by `-`, prefixed with `svc-` unless it starts with
    /// a letter, cut to 63 characters). The service answers every path
    /// (`/...`) and has version `dev`.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Io`] if `wasm` does not exist or is not a file.
    pub fn single_component(wasm: &Path) -> Result<Manifest, ManifestError> {
        let io_error = |source| ManifestError::Io {
            path: wasm.to_path_buf(),
            source,
        };
        let file = std::path::absolute(wasm).map_err(io_error)?;
        let meta = fs::metadata(&file).map_err(io_error)?;
        if meta.is_dir() {
            return Err(io_error(io::ErrorKind::IsADirectory.into()));
        }
        if !meta.is_file() {
            return Err(io_error(io::Error::other("not a regular file")));
        }
        let stem = file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Manifest {
            services: vec![ServiceSpec {
                name: service_name_from(&stem),
                component: ComponentSource::File(file.clone()),
                routes: vec![Route::Prefix(String::new())],
                version: version::DEFAULT_VERSION.to_owned(),
                outbound: Vec::new(),
                files: Vec::new(),
                sockets: Vec::new(),
                publish: Vec::new(),
                subscriptions: Vec::new(),
                variables: Vec::new(),
                limits: Limits::default(),
                key_value_stores: Vec::new(),
            }],
            app_name: stem,
            file,
            dir,
        })
    }
}

/// Validates one service deployed on its own: the body of a
/// `[service.<name>]` table, without the header, as the admin API receives
/// it next to the component bytes.
///
/// `name` is the service name, checked like a manifest's. `section` holds the
/// table's keys (`routes`, `version`, `outbound`, `files`, `sockets`,
/// `publish`, `subscriptions`, `variables`, `limits`, `key_value_stores`), with the same rules as
/// in a manifest: `routes` is required and non-empty unless there are
/// `subscriptions`, `files` directories must exist, `${env.NAME}`
/// references are resolved from the host's environment, and so on. The
/// `component` key must be absent, since the component is the uploaded file;
/// the result's component is [`ComponentSource::Deployed`].
///
/// `origin` names the text in messages (`deploy of hello`), and positions
/// are lines and columns in `section`; key paths start with
/// `service.<name>`, as in a manifest. `base_dir` is the directory relative
/// `files` sources resolve against; it should be absolute (a relative one is
/// taken from the current directory).
///
/// # Errors
///
/// [`ManifestError::Invalid`] for a single problem and
/// [`ManifestError::Multiple`] for several, as [`Manifest::parse`]. An
/// invalid `name` is reported at line 1, column 1, since it is not part of
/// `section`.
pub fn parse_service_section(
    name: &str,
    section: &str,
    origin: &Path,
    base_dir: &Path,
) -> Result<ServiceSpec, ManifestError> {
    validate::service_section(validate::SectionInput {
        name,
        source: section,
        origin,
        base_dir,
    })
}

/// The `[service.<name>]` table of a manifest as table-body text for
/// [`parse_service_section`], without its `component` key: what `wharf
/// deploy` sends next to the component bytes.
///
/// Formatting and comments are not kept: the table is re-serialized by
/// `toml`, so subtables such as `limits` come out as `[limits]` headers.
/// Relative `files` sources stay relative, to be resolved against the base
/// directory given to [`parse_service_section`].
///
/// Returns `None` if `manifest_source` is not TOML or has no such service
/// table. It does not validate: check the manifest with [`Manifest::load`]
/// first, so errors point at the file.
pub fn extract_service_section(manifest_source: &str, name: &str) -> Option<String> {
    let mut root: toml::Table = manifest_source.parse().ok()?;
    let toml::Value::Table(mut services) = root.remove("service")? else {
        return None;
    };
    let toml::Value::Table(mut service) = services.remove(name)? else {
        return None;
    };
    service.remove("component");
    toml::to_string(&service).ok()
}

/// Makes a valid service name out of arbitrary text (a file stem).
fn service_name_from(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "svc-");
    }
    name.truncate(validate::MAX_SERVICE_NAME_LEN);
    name
}

#[cfg(test)]
mod tests {
    use super::service_name_from;
    use crate::validate::is_valid_service_name;

    #[test]
    fn sanitises_file_stems_into_service_names() {
        let cases = [
            ("hello", "hello"),
            ("Hello_World.v2", "hello-world-v2"),
            ("2048", "svc-2048"),
            ("-x", "svc--x"),
            ("", "svc-"),
            ("café", "caf-"),
        ];
        for (stem, name) in cases {
            assert_eq!(service_name_from(stem), name, "{stem}");
            assert!(is_valid_service_name(name), "{name}");
        }
        let long = service_name_from(&"a".repeat(100));
        assert_eq!(long.len(), 63);
        assert!(is_valid_service_name(&long));
    }
}
