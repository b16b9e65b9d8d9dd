//! Publish → receive throughput of the embedded and the NATS broker, from
//! the same run.
//!
//! ```text
//! cargo run --release -p wharf-messaging --example throughput [MESSAGES]
//! ```
//!
//! Sends MESSAGES (default and maximum 100,000) 64-byte messages from one
//! publisher to one subscriber and reports messages per second, measured
//! from the first publish to the last receipt. The NATS run starts a local
//! `nats-server` on a free loopback port (or uses `NATS_URL`) and uses two
//! connections, as two hosts would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/nats_server.rs"]
mod nats_server;

use std::time::{Duration, Instant};

use bytes::Bytes;
use wharf_messaging::{Broker, EmbeddedBroker, Message, NatsBroker};

const MAX_MESSAGES: usize = 100_000;
const BODY: [u8; 64] = [b'x'; 64];

struct Outcome {
    received: usize,
    elapsed: Duration,
    dropped: u64,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64()
    }
}

/// Publishes `count` messages on `publisher`, receives them on `subscriber`.
async fn run(publisher: &dyn Broker, subscriber: &dyn Broker, count: usize) -> Outcome {
    let mut sub = subscriber
        .subscribe("bench.throughput", None, 4096)
        .await
        .unwrap();
    let receiver = tokio::spawn(async move {
        let mut received = 0;
        // Stop at `count`, or once nothing arrived for a second (lost messages).
        while received < count {
            match tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
                Ok(Some(_)) => received += 1,
                _ => break,
            }
        }
        (received, Instant::now())
    });
    let body = Bytes::from_static(&BODY);
    let started = Instant::now();
    for _ in 0..count {
        publisher
            .publish(Message::new("bench.throughput", body.clone()))
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    let (received, finished) = receiver.await.unwrap();
    Outcome {
        received,
        elapsed: finished.duration_since(started),
        dropped: publisher.dropped() + subscriber.dropped(),
    }
}

fn report(name: &str, count: usize, outcome: &Outcome) {
    println!(
        "{name:>8}: {:>12.0} msg/s  ({} of {count} received in {:.3} s, {} dropped)",
        outcome.rate(),
        outcome.received,
        outcome.elapsed.as_secs_f64(),
        outcome.dropped
    );
}

#[tokio::main]
async fn main() {
    let count = std::env::args()
        .nth(1)
        .map(|s| s.parse::<usize>().expect("MESSAGES must be a number"))
        .unwrap_or(MAX_MESSAGES)
        .clamp(1, MAX_MESSAGES);

    let embedded = EmbeddedBroker::new();
    let embedded_outcome = run(&embedded, &embedded, count).await;

    let server;
    let url = match std::env::var("NATS_URL") {
        Ok(url) => url,
        Err(_) => {
            server = nats_server::NatsServer::start();
            server.url.clone()
        }
    };
    let publisher = NatsBroker::connect(&url).await.unwrap();
    let subscriber = NatsBroker::connect(&url).await.unwrap();
    let nats_outcome = run(&publisher, &subscriber, count).await;

    println!("publish -> receive, one publisher, one subscriber, 64-byte bodies");
    report("embedded", count, &embedded_outcome);
    report("nats", count, &nats_outcome);
}
