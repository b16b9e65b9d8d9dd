//! The order pipeline's `orders` service (`/orders/...`).
//!
//! `POST /orders` with `{"sku": "widget", "qty": 2}`:
//!
//! 1. asks `inventory` whether the stock is there, by request/reply on
//!    `inventory.check` (`{"sku", "qty"}` → `{"available": bool}`), waiting
//!    at most [`INVENTORY_TIMEOUT`];
//! 2. if it is, gives the order an ID, publishes it on `orders.created`
//!    (`{"id", "sku", "qty"}`) and answers `201` with the same JSON;
//! 3. if it is not, answers `409`.
//!
//! Errors are JSON `{"error": ...}`: `400` for a body that is not JSON,
//! `422` for a missing SKU or a quantity outside 1..=1000, `503` when the
//! inventory does not answer or the broker refuses, `405`/`404` for other
//! methods and paths. The manifest grants exactly the two subjects used:
//! `publish = ["orders.created", "inventory.check"]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use wharf_sdk::http::{Method, Request, Response};
use wharf_sdk::messaging;

/// How long to wait for the inventory's answer.
pub const INVENTORY_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest quantity one order may ask for.
const MAX_QTY: u32 = 1000;

/// Largest order body read.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What a client sends.
#[derive(Debug, Deserialize)]
struct NewOrder {
    sku: String,
    qty: u32,
}

/// An accepted order: the `201` body and the `orders.created` message.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Order {
    id: String,
    sku: String,
    qty: u32,
}

/// The `inventory.check` request.
#[derive(Debug, Serialize)]
struct StockCheck<'a> {
    sku: &'a str,
    qty: u32,
}

/// The `inventory.check` reply.
#[derive(Debug, Deserialize)]
struct Availability {
    available: bool,
}

#[wharf_sdk::http_service]
fn handle(req: Request) -> Response {
    match req.path() {
        "/orders" => match req.method() {
            Method::Post => create(&req),
            _ => error(405, "method not allowed").with_header("allow", "POST"),
        },
        _ => error(404, "not found"),
    }
}

/// `POST /orders`.
fn create(req: &Request) -> Response {
    let new = match req
        .body_bytes_limited(MAX_BODY_BYTES)
        .map_err(|e| (400, e.to_string()))
        .and_then(|body| parse(&body))
    {
        Ok(new) => new,
        Err((status, message)) => return error(status, &message),
    };

    let check = StockCheck {
        sku: &new.sku,
        qty: new.qty,
    };
    let availability: Availability =
        match messaging::request_json("inventory.check", &check, INVENTORY_TIMEOUT) {
            Ok(availability) => availability,
            Err(e) => {
                eprintln!("orders: inventory check for {} failed: {e}", new.sku);
                return error(503, "the inventory did not answer; try again");
            }
        };
    if !availability.available {
        return Response::json(
            409,
            &json!({ "error": "not enough stock", "sku": new.sku, "qty": new.qty }),
        );
    }

    let order = Order {
        id: new_id(),
        sku: new.sku,
        qty: new.qty,
    };
    if let Err(e) = messaging::publish_json("orders.created", &order) {
        eprintln!("orders: publishing order {} failed: {e}", order.id);
        return error(503, "the order could not be recorded; try again");
    }
    Response::json(201, &order)
}

/// Parses and checks an order body; `Err` is the status and message to
/// answer with.
fn parse(body: &[u8]) -> Result<NewOrder, (u16, String)> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| (400, format!("invalid JSON: {e}")))?;
    let new: NewOrder = serde_json::from_value(value).map_err(|e| {
        (
            422,
            format!("expected {{\"sku\": string, \"qty\": number}}: {e}"),
        )
    })?;
    if new.sku.trim().is_empty() {
        return Err((422, "sku must not be empty".to_owned()));
    }
    if new.qty == 0 || new.qty > MAX_QTY {
        return Err((422, format!("qty must be between 1 and {MAX_QTY}")));
    }
    Ok(new)
}

/// A random order ID like `ord-3f9a0c1d2e4b5a69`, from `wasi:random`.
fn new_id() -> String {
    // The host always provides wasi:random; fall back to the clock rather
    // than fail an order.
    let n = getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    });
    format!("ord-{n:016x}")
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "error": message }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_orders() {
        let order = parse(br#"{"sku": "widget", "qty": 2}"#).unwrap();
        assert_eq!((order.sku.as_str(), order.qty), ("widget", 2));
    }

    #[test]
    fn rejects_bad_orders_with_the_right_status() {
        assert_eq!(parse(b"{nope").unwrap_err().0, 400);
        for bad in [
            r#"{}"#,
            r#"{"sku": "widget"}"#,
            r#"{"sku": "widget", "qty": -1}"#,
            r#"{"sku": "widget", "qty": "2"}"#,
            r#"{"sku": " ", "qty": 1}"#,
            r#"{"sku": "widget", "qty": 0}"#,
            r#"{"sku": "widget", "qty": 1001}"#,
        ] {
            assert_eq!(parse(bad.as_bytes()).unwrap_err().0, 422, "{bad}");
        }
    }

    #[test]
    fn orders_serialise_as_the_documented_json() {
        let order = Order {
            id: "ord-1".into(),
            sku: "widget".into(),
            qty: 2,
        };
        assert_eq!(
            serde_json::to_value(&order).unwrap(),
            json!({"id": "ord-1", "sku": "widget", "qty": 2})
        );
        let check = StockCheck {
            sku: "widget",
            qty: 2,
        };
        assert_eq!(
            serde_json::to_value(&check).unwrap(),
            json!({"sku": "widget", "qty": 2})
        );
    }

    #[test]
    fn ids_look_right() {
        let id = new_id();
        assert!(id.starts_with("ord-") && id.len() == 20, "{id}");
    }
}
