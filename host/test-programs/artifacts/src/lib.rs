//! Paths to the guest components the integration tests load.
//!
//! # How it works
//!
//! `build.rs` runs a nested
//! `cargo build --release --target wasm32-wasip2 --target-dir <workspace>/target/guests`
//! over the guest test programs (`host/test-programs`, package
//! `wharf-test-programs`) and the examples (`examples/hello`,
//! `examples/json-api`, `examples/hello-wasi`, and the four services of
//! `examples/order-pipeline`). The wasm32-wasip2 linker emits
//! components directly, so every `host/test-programs/src/bin/<name>.rs` and
//! every example ends up as one component `.wasm`. The build script reads
//! cargo's JSON messages to find each file and generates, into this crate:
//!
//! - one `pub const <NAME>_COMPONENT: &str` per test program, holding the
//!   absolute path of its `.wasm` (e.g. [`HTTP_HELLO_COMPONENT`]);
//! - one `pub const EXAMPLE_<NAME>_COMPONENT: &str` per example package
//!   (e.g. [`EXAMPLE_JSON_API_COMPONENT`],
//!   [`EXAMPLE_ORDER_PIPELINE_ORDERS_COMPONENT`]);
//! - a `foreach_<suite>!` macro per program name prefix (`http_`, `cli_`) that
//!   calls a macro once with each program's name, so a test crate can make
//!   a missing test a compile error (see below);
//! - [`WORKSPACE_ROOT`] and [`EXAMPLES_DIR`].
//!
//! Program names must start with a known suite prefix (`http_` for
//! `wasi:http` components, `cli_` for commands); the build fails on any
//! other name. Each program's expected behaviour is written down in
//! `host/test-programs/README.md` under "Expectations".
//!
//! The nested build reruns only when guest sources change (test programs,
//! SDK, WIT, examples, `Cargo.lock`) or a produced `.wasm` disappears.
//!
//! # Example
//!
//! Load a component by path, and list a suite with its macro:
//!
//! ```no_run
//! let wasm = std::fs::read(wharf_test_artifacts::HTTP_HELLO_COMPONENT);
//! # let _ = wasm;
//! macro_rules! print_name {
//!     ($name:ident) => {
//!         println!("{}", stringify!($name));
//!     };
//! }
//! wharf_test_artifacts::foreach_http!(print_name);
//! ```

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
