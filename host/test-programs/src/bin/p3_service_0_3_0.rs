//! The WASI 0.3 `wasi:http` service of `p3_service`, built with the
//! `wasip3` crate 0.9 (WASI 0.3.0 imports).
#![no_main]
#![allow(
    unsafe_code,
    missing_docs,
    reason = "wit-bindgen generates the export glue"
)]

use wasip3_0_9 as wasip3;

/// The WASI release the program's bindings target.
const WASI: &str = "0.3.0";

include!("../p3/service.rs");
