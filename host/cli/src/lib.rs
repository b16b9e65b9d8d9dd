//! # wharf: the host binary's library half
//!
//! The `wharf` binary is a thin clap front end ([`cli`]) over these
//! modules, kept in a library so integration tests can start a real host
//! in-process on an ephemeral port:
//!
//! - [`app`]: a validated manifest → compiled services → an
//!   [`wharf_http::HttpApp`].
//! - [`commands`]: one module per subcommand (`up`, `build`, `new`).
//! - [`key_value`]: the key-value backend `wharf up` picks (embedded or NATS).
//! - [`logging`]: the `tracing` subscriber (`--log-format`, `RUST_LOG`).
//! - [`toolchain`]: the pinned Python and JavaScript toolchains `wharf build` runs.
//! - [`oci`]: pulling `oci://` components for `wharf deploy` and `wharf up`.
//! - [`state_dir`]: where `wharf up` keeps an app's state, made private.
#![deny(missing_docs)]

pub mod admin_client;
pub mod app;
pub mod cli;
pub mod commands;
pub mod key_value;
pub mod logging;
pub mod oci;
pub mod state_dir;
pub mod token;
pub mod toolchain;
pub mod watch;
