//! The order pipeline's public front (`/shop/...`).
//!
//! - `POST /shop/orders` forwards the body to the `orders` service over
//!   service-to-service HTTP (`POST http://orders.internal/orders`, which
//!   the manifest grants with `outbound = ["http://orders.internal"]`) and
//!   answers with the orders service's status, content type and body.
//! - `GET /shop` describes the shop.
//!
//! If the orders service cannot be reached the client gets `502` with a JSON
//! `{"error": ...}`; other paths get `404`, other methods `405`.

use std::time::Duration;

use serde_json::json;
use wharf_sdk::http::{self, Method, OutgoingRequest, Request, Response};

/// Where orders are created: the `orders` service of the same app.
const ORDERS_URL: &str = "http://orders.internal/orders";

/// How long the gateway waits for the orders service.
const ORDERS_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest order body forwarded.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[wharf_sdk::http_service]
fn handle(req: Request) -> Response {
    match req.path() {
        "/shop" | "/shop/" => match req.method() {
            Method::Get | Method::Head => Response::json(
                200,
                &json!({
                    "shop": "order-pipeline",
                    "order": "POST /shop/orders {\"sku\": \"widget\", \"qty\": 2}",
                }),
            ),
            _ => method_not_allowed("GET, HEAD"),
        },
        "/shop/orders" => match req.method() {
            Method::Post => forward_order(&req),
            _ => method_not_allowed("POST"),
        },
        _ => error(404, "not found"),
    }
}

/// `POST /shop/orders`: the orders service decides; we relay its answer.
fn forward_order(req: &Request) -> Response {
    let body = match req.body_bytes_limited(MAX_BODY_BYTES) {
        Ok(body) => body,
        Err(wharf_sdk::Error::BodyTooLarge { limit }) => {
            return error(413, &format!("order body too large (limit {limit} bytes)"));
        }
        Err(e) => return error(400, &format!("could not read the order: {e}")),
    };
    let content_type = req.header("content-type").unwrap_or("application/json");
    let forwarded = OutgoingRequest::post(ORDERS_URL)
        .with_header("content-type", content_type)
        .with_body(body)
        .with_timeout(ORDERS_TIMEOUT);
    match http::send(forwarded) {
        Ok(answer) => {
            let content_type = answer
                .header("content-type")
                .unwrap_or("application/octet-stream")
                .to_owned();
            Response::new(answer.status())
                .with_header("content-type", content_type)
                .with_body(answer.into_body())
        }
        Err(e) => {
            eprintln!("gateway: the orders service failed: {e}");
            error(502, "the orders service is unavailable")
        }
    }
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "error": message }))
}

fn method_not_allowed(allow: &str) -> Response {
    error(405, "method not allowed").with_header("allow", allow)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_shop_and_rejects_other_paths_and_methods() {
        let r = handle(Request::new(Method::Get, "/shop"));
        assert_eq!(r.status(), 200);
        let r = handle(Request::new(Method::Get, "/shop/orders"));
        assert_eq!(r.status(), 405);
        assert_eq!(r.header("allow"), Some("POST"));
        let r = handle(Request::new(Method::Get, "/shop/nothing"));
        assert_eq!(r.status(), 404);
    }
}
