//! `http_wasi_0_2_0`: built against the WASI 0.2.0 interfaces (the `wasi`
//! crate at `0.13.1+wasi-0.2.0`, imported as `wasi_0_2_0`), so it imports
//! `wasi:http/types@0.2.0` and exports `wasi:http/incoming-handler@0.2.0`.
//! Answers every request with `200 text/plain` `built against wasi 0.2.0\n`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi_0_2_0::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Old;

wasi_0_2_0::http::proxy::export!(Old with_types_in wasi_0_2_0);

impl wasi_0_2_0::exports::http::incoming_handler::Guest for Old {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::new();
        headers
            .append(&"content-type".to_string(), &b"text/plain".to_vec())
            .expect("content-type header");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("response body");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("body stream");
        stream
            .blocking_write_and_flush(b"built against wasi 0.2.0\n")
            .expect("write body");
        drop(stream);
        OutgoingBody::finish(body, None).expect("finish body");
    }
}
