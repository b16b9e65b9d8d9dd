//! `http_newer_minor`: a wasi:http component (wasi 0.2.4 bindings) that also
//! imports `wasi:cli/environment@0.2.12`, a newer minor than the rest of its
//! imports, declared inline and called on every request. The host must link
//! it by semver (any `0.2.x` satisfies a `0.2.y` import of the same shape).
//! Answers `200 text/plain` `env=<count>\n`, the number of variables returned.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::http::types::{IncomingRequest, ResponseOutparam};

mod newer {
    wit_bindgen::generate!({
        inline: "
            package wasi:cli@0.2.12;

            // The whole 0.2.x interface: the component linker unifies this
            // import with the older `environment` that Rust std and the WASI
            // adapter import, which only works if no function goes missing.
            interface environment {
                get-environment: func() -> list<tuple<string, string>>;
                get-arguments: func() -> list<string>;
                initial-cwd: func() -> option<string>;
            }

            world newer-environment {
                import environment;
            }
        ",
        world: "newer-environment",
    });
}

struct NewerMinor;

wasi::http::proxy::export!(NewerMinor);

impl wasi::exports::http::incoming_handler::Guest for NewerMinor {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let env = newer::wasi::cli::environment::get_environment();
        wharf_test_programs::respond(out, 200, &format!("env={}\n", env.len()));
    }
}
