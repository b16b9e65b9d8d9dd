//! The order pipeline's `inventory` service. It has no routes: it runs only
//! for the messages its subscriptions deliver (both in queue group
//! `inventory`, so with several hosts each message is handled once).
//!
//! - `inventory.check` (a request, `{"sku": "widget", "qty": 2}`): answers
//!   `{"available": true}` when the fixed [`STOCK`] table holds at least
//!   `qty` of `sku`, else `{"available": false}` (unknown SKUs too).
//! - `orders.created` (`{"id", "sku", "qty"}`): "reserves" the stock by
//!   logging `reserved <qty> x <sku> for order <id>` to stdout, which the
//!   host writes to its log tagged with the service.
//!
//! A message that is not valid JSON of the expected shape is an error: the
//! host retries it and then dead-letters it (the requester of a malformed
//! check simply times out).

use serde::{Deserialize, Serialize};
use wharf_sdk::Error;
use wharf_sdk::messaging::Message;

/// Units in stock per SKU. Instances are fresh per message, so this example
/// keeps no state: the table is the same for every check.
pub const STOCK: &[(&str, u32)] = &[("widget", 10), ("gadget", 3), ("gizmo", 0)];

/// An `inventory.check` request.
#[derive(Debug, Deserialize)]
struct StockCheck {
    sku: String,
    qty: u32,
}

/// The reply to an `inventory.check`.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Availability {
    available: bool,
}

/// An `orders.created` message.
#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    sku: String,
    qty: u32,
}

#[wharf_sdk::message_handler]
fn on_message(msg: Message) -> Result<(), Error> {
    match msg.topic.as_str() {
        "inventory.check" => {
            let check: StockCheck = msg.json()?;
            msg.reply_json(&availability(&check.sku, check.qty))
        }
        "orders.created" => {
            let order: Order = msg.json()?;
            println!(
                "reserved {} x {} for order {}",
                order.qty, order.sku, order.id
            );
            Ok(())
        }
        other => {
            eprintln!("inventory: ignoring a message on `{other}`");
            Ok(())
        }
    }
}

/// Whether `qty` units of `sku` are in stock.
fn availability(sku: &str, qty: u32) -> Availability {
    let in_stock = STOCK.iter().find(|(s, _)| *s == sku).map_or(0, |(_, n)| *n);
    Availability {
        available: qty <= in_stock,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_from_the_stock_table() {
        assert!(availability("widget", 10).available);
        assert!(!availability("widget", 11).available);
        assert!(!availability("gizmo", 1).available);
        assert!(!availability("unknown", 1).available);
        assert_eq!(
            serde_json::to_string(&availability("gadget", 1))
                .ok()
                .as_deref(),
            Some(r#"{"available":true}"#)
        );
    }
}
