//! A Wharf HTTP service.

use wharf_sdk::http::{Request, Response};

/// Handles every request routed to this service (see `wharf.toml`).
#[wharf_sdk::http_service]
fn handle(req: Request) -> Response {
    match req.path() {
        "/" => Response::text(200, "Hello from Wharf!\n"),
        path => Response::text(200, format!("Hello from Wharf! You asked for {path}\n")),
    }
}
