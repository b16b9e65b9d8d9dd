//! `http_config`: reads runtime configuration through the standard
//! `wasi:config/store@0.2.0-draft` interface (declared inline with
//! `wit_bindgen::generate!`), and the environment through Rust std.
//!
//! - `GET /get?key=K` → `200 text/plain` `value=<v>\n` or `absent\n`;
//!   `500` `error: <upstream|io>: <message>\n` when the store fails.
//! - `GET /all` → `200`, one line `<k>=<v>` per pair, sorted by key (an empty
//!   body when there are none); `500` `error: ...` when the store fails.
//! - `GET /env?key=K` → `200` `env=<value of std::env::var(K)>\n` or
//!   `env absent\n`.
//!
//! `key` is percent-decoded; a missing `key` is a 400, any other path a 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::{percent_decode, respond};

mod config {
    wit_bindgen::generate!({
        inline: "
            package wasi:config@0.2.0-draft;

            interface store {
                variant error { upstream(string), io(string) }
                get: func(key: string) -> result<option<string>, error>;
                get-all: func() -> result<list<tuple<string, string>>, error>;
            }

            world config-user {
                import store;
            }
        ",
        world: "config-user",
    });
}

use config::wasi::config::store;

struct Config;

wasi::http::proxy::export!(Config);

impl wasi::exports::http::incoming_handler::Guest for Config {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let key = wharf_test_programs::query_param(&request, "key").map(|k| percent_decode(&k));
        match (wharf_test_programs::path(&request).as_str(), key) {
            ("/get", Some(key)) => match store::get(&key) {
                Ok(Some(value)) => respond(out, 200, &format!("value={value}\n")),
                Ok(None) => respond(out, 200, "absent\n"),
                Err(e) => respond(out, 500, &error_text(&e)),
            },
            ("/all", _) => match store::get_all() {
                Ok(mut pairs) => {
                    pairs.sort();
                    let mut text = String::new();
                    for (key, value) in &pairs {
                        let _ = writeln!(text, "{key}={value}");
                    }
                    respond(out, 200, &text);
                }
                Err(e) => respond(out, 500, &error_text(&e)),
            },
            ("/env", Some(key)) => match std::env::var(&key) {
                Ok(value) => respond(out, 200, &format!("env={value}\n")),
                Err(_) => respond(out, 200, "env absent\n"),
            },
            ("/get" | "/env", None) => respond(out, 400, "expected ?key=<key>\n"),
            _ => respond(out, 404, "not found\n"),
        }
    }
}

/// `error: <kind>: <message>\n` for a store error.
fn error_text(error: &store::Error) -> String {
    match error {
        store::Error::Upstream(message) => format!("error: upstream: {message}\n"),
        store::Error::Io(message) => format!("error: io: {message}\n"),
    }
}
