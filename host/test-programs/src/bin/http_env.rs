//! `http_env`: reports what `wasi:cli/environment` gives the guest, through
//! Rust std (`std::env::vars()` / `std::env::args()`).
//!
//! Answers `200 text/plain` with `vars=<count>\nargs=<count>\n` followed by one
//! line `<NAME>` per environment variable (names only, never values). The
//! host gives components an empty environment, so the test expects `vars=0`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Env;

wasi::http::proxy::export!(Env);

impl wasi::exports::http::incoming_handler::Guest for Env {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let names: Vec<String> = std::env::vars_os()
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        let args = std::env::args_os().count();
        let mut text = format!("vars={}\nargs={args}\n", names.len());
        for name in &names {
            let _ = writeln!(text, "{name}");
        }
        wharf_test_programs::respond(out, 200, &text);
    }
}
