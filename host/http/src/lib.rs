//! # wharf-http: the HTTP trigger
//!
//! This crate decides *when* a component runs for HTTP: it owns the hyper
//! server (HTTP/1.1 with keep-alive and HTTP/2 cleartext on one port), the
//! route table, and the per-request path that turns a hyper request into a
//! fresh instance of the matching service and its response back into a
//! streamed hyper response. Instances come from
//! [`wharf_core::ServiceTemplate`]; this crate never compiles or links.
//!
//! - [`router`]: longest-match routing from paths to services.
//! - [`table`]: what serves each route right now (stable and canary
//!   versions), swapped atomically on deploy.
//! - [`handler`]: one request → one instance → one response.
//! - [`server`]: accept loop and graceful shutdown, with the listener and
//!   the shutdown signal supplied by the caller so tests can drive it on
//!   port 0; the admin listener serves through the same loop and limits.
#![deny(missing_docs)]

pub mod body_limit;
pub mod handler;
pub mod observe;
pub mod router;
pub mod server;
pub mod table;

pub use handler::HttpApp;
pub use router::Router;
pub use server::{ServeOptions, serve, serve_with};
pub use table::{Canary, RouteTable, ServiceTarget, Serving};
