//! `hostile_env`: dumps the whole environment it can see through
//! `wasi:cli/environment` (Rust `std::env`), values included, looking for
//! host secrets.
//!
//! Any request → `200 text/plain`: `vars=<count>\n`, then `<NAME>=<value>\n`
//! per variable sorted by name, then `secret=<WHARF_TEST_SECRET or absent>\n`
//! and `home=<HOME or absent>\n`. Names and values are lossy UTF-8 with
//! newlines escaped as `\n`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::one_line;

struct Env;

wasi::http::proxy::export!(Env);

impl wasi::exports::http::incoming_handler::Guest for Env {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let mut vars: Vec<(String, String)> = std::env::vars_os()
            .map(|(name, value)| {
                (
                    one_line(&name.to_string_lossy()),
                    one_line(&value.to_string_lossy()),
                )
            })
            .collect();
        vars.sort();
        let mut text = format!("vars={}\n", vars.len());
        for (name, value) in &vars {
            let _ = writeln!(text, "{name}={value}");
        }
        let _ = writeln!(text, "secret={}", lookup("WHARF_TEST_SECRET"));
        let _ = writeln!(text, "home={}", lookup("HOME"));
        wharf_test_programs::respond(out, 200, &text);
    }
}

/// The variable's value, or `absent`.
fn lookup(name: &str) -> String {
    std::env::var_os(name)
        .map(|value| one_line(&value.to_string_lossy()))
        .unwrap_or_else(|| "absent".to_string())
}
