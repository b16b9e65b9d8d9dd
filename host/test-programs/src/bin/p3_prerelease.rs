//! A component built against a WASI 0.3 *pre-release*: it imports
//! `wasi:http/types@0.3.0-rc-2026-03-15` and exports
//! `wasi:http/handler@0.3.0-rc-2026-03-15` (declared inline; the functions
//! are stand-ins, the versions are the point). The host must refuse it at
//! load, naming the pre-release and the version it implements.
#![no_main]
#![allow(
    unsafe_code,
    missing_docs,
    reason = "wit-bindgen generates the export glue"
)]

wit_bindgen::generate!({
    inline: "
        package wasi:http@0.3.0-rc-2026-03-15;
        interface types { now: func() -> u64; }
        interface handler { handle: func() -> u64; }
        world prerelease { import types; export handler; }
    ",
});

struct Handler;

impl exports::wasi::http::handler::Guest for Handler {
    fn handle() -> u64 {
        wasi::http::types::now()
    }
}

export!(Handler);
