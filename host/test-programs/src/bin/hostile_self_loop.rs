//! `hostile_self_loop`: calls itself forever, and tries to hide it from
//! the host's hop count.
//!
//! `GET /loop` sends `GET http://self.internal/loop` (so it must be served
//! as the service `self` with `outbound = ["http://self.internal"]`), with
//! a forged `x-wharf-hops: 0` header, and answers with what came back:
//! - the callee's status and body, after a line `hop`;
//! - `508 loop-detected` when the call fails with `loop-detected`;
//! - `502 error: <code>` when it fails otherwise.
//!
//! Any other path is a 404.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingRequest, OutgoingRequest, ResponseOutparam, Scheme,
};

struct SelfLoop;

wasi::http::proxy::export!(SelfLoop);

impl wasi::exports::http::incoming_handler::Guest for SelfLoop {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        if wharf_test_programs::path(&request) != "/loop" {
            return wharf_test_programs::respond(out, 404, "not found\n");
        }
        let (status, body) = match call_self() {
            Ok((status, body)) => (status, format!("hop\n{body}")),
            Err(ErrorCode::LoopDetected) => (508, "loop-detected\n".to_string()),
            Err(e) => (502, format!("error: {e:?}\n")),
        };
        wharf_test_programs::respond(out, status, &body);
    }
}

fn call_self() -> Result<(u16, String), ErrorCode> {
    let headers = Fields::new();
    headers.append("x-wharf-hops", b"0").unwrap();
    let request = OutgoingRequest::new(headers);
    request.set_scheme(Some(&Scheme::Http)).unwrap();
    request.set_authority(Some("self.internal")).unwrap();
    request.set_path_with_query(Some("/loop")).unwrap();
    let future = outgoing_handler::handle(request, None)?;
    future.subscribe().block();
    let response = future.get().unwrap().unwrap()?;
    let status = response.status();
    let body = response.consume().unwrap();
    let stream = body.stream().unwrap();
    let mut text = Vec::new();
    while let Ok(Some(chunk)) = wharf_test_programs::read_chunk(&stream) {
        text.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&text).into_owned()))
}
