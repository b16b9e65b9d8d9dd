//! A plain `wasi:http` component that does not use the Wharf SDK.
//!
//! It is written directly against the standard WASI bindings from the `wasi`
//! crate on crates.io (`wasi:http/proxy`), exactly as a component for any
//! other `wasi:http` host would be. Running it on Wharf shows that Wharf
//! hosts standard components, not just SDK-built ones.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const BODY: &[u8] = b"Hello from a plain wasi:http component!\n";

struct HelloWasi;

impl Guest for HelloWasi {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let content_length = BODY.len().to_string();
        let headers = Fields::from_list(&[
            ("content-type".to_owned(), b"text/plain".to_vec()),
            ("content-length".to_owned(), content_length.into_bytes()),
        ]);
        let Ok(headers) = headers else {
            // Leaving `response_out` unset makes the host answer with an error.
            return;
        };
        let response = OutgoingResponse::new(headers);
        // A fresh response's body can always be taken once.
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));

        let written = body.write().is_ok_and(|stream| {
            // The body is far below the 4096-byte limit of one
            // `blocking-write-and-flush` call.
            stream.blocking_write_and_flush(BODY).is_ok()
        });
        if written {
            let _ = OutgoingBody::finish(body, None);
        }
        // On failure `body` is dropped unfinished, which tells the host the
        // response is incomplete.
    }
}

wasi::http::proxy::export!(HelloWasi);
