//! A WASI 0.3 `wasi:http` service built with the `wasip3` crate 0.10
//! (WASI 0.3.2 imports). The handler is shared with `p3_service_0_3_0`:
//! `src/p3/service.rs`.
#![no_main]
#![allow(
    unsafe_code,
    missing_docs,
    reason = "wit-bindgen generates the export glue"
)]

/// The WASI release the program's bindings target.
const WASI: &str = "0.3.2";

include!("../p3/service.rs");
