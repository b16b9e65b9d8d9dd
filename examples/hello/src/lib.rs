//! The smallest Wharf service: every request gets
//! `200 Hello from Wharf!` as `text/plain; charset=utf-8`.

use wharf_sdk::http::{Request, Response};

/// Answers every request, whatever its method or path.
#[wharf_sdk::http_service]
fn handle(_req: Request) -> Response {
    Response::text(200, "Hello from Wharf!\n")
}
