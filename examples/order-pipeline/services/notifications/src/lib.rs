//! The order pipeline's `notifications` service. It has no routes: it
//! subscribes to `orders.created` and, for every order, logs
//!
//! ```text
//! order <id> created: <qty> x <sku>
//! ```
//!
//! to stdout, which the host writes to its log tagged with the service,
//! version and request ID (a real service would send an e-mail here).

use serde::Deserialize;
use wharf_sdk::Error;
use wharf_sdk::messaging::Message;

/// An `orders.created` message.
#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    sku: String,
    qty: u32,
}

#[wharf_sdk::message_handler]
fn on_message(msg: Message) -> Result<(), Error> {
    let order: Order = msg.json()?;
    println!("{}", notification(&order));
    Ok(())
}

fn notification(order: &Order) -> String {
    format!("order {} created: {} x {}", order.id, order.qty, order.sku)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_notification() {
        let order: Order =
            serde_json::from_str(r#"{"id": "ord-1", "sku": "widget", "qty": 2}"#).unwrap();
        assert_eq!(notification(&order), "order ord-1 created: 2 x widget");
    }
}
