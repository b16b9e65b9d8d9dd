//! Integration tests: a real host (in-process on 127.0.0.1:0, or the `wharf`
//! binary as a child process) driven by a real HTTP client, serving real
//! components compiled from `host/test-programs` and `examples/` by
//! `wharf-test-artifacts`' build script.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

mod attacks;
mod attacks_net;
mod cluster;
mod compat;
mod console;
mod deploy;
mod deploy_files;
mod durable;
mod examples;
mod failures;
mod keyvalue;
mod languages;
mod listeners;
mod manifest_errors;
mod messaging;
mod observability;
mod oci;
mod outbound;
mod pipeline;
mod refusals;
mod reuse;
mod routing;
mod scaffold;
mod sdk;
mod security;
mod services;
mod shutdown;
mod streaming;
mod wasi_messaging;
mod wasi_p3;
