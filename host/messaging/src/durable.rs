//! Durable, at-least-once subscriptions (`durable = true` in a manifest).
//!
//! This module owns what a durable subscription is, independent of the
//! broker: its [`DurableSpec`], the one function that names its storage
//! ([`durable_names`]), the [`Delivery`] a subscriber gets (a message plus
//! the means to acknowledge it) and the default [`DurableLimits`]. The
//! brokers implement it: [`NatsBroker`](crate::NatsBroker) with a JetStream
//! stream and durable pull consumer, the
//! [`EmbeddedBroker`](crate::EmbeddedBroker) with a queue in the state
//! directory's redb database.
//!
//! # Contract
//!
//! A message is kept until a subscriber [`Delivery::ack`]s it. A delivery
//! that is not acknowledged — the handler failed and the subscriber
//! [`nak`](Delivery::nak)ed it, or the host died — is delivered again, with
//! [`Delivery::attempt`] counting up. So a message may be handled more than
//! once (at least once), never zero times while it is within the limits.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::broker::BrokerError;
use crate::message::Message;

/// Bounds on what a durable subscription keeps. When one is reached, new
/// messages are refused (never silently dropped): the publisher gets an
/// error where the broker can give one, and the host logs and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurableLimits {
    /// Most messages kept.
    pub max_messages: u64,
    /// Most bytes of message bodies kept.
    pub max_bytes: u64,
    /// Oldest message kept; older ones expire (logged and counted).
    pub max_age: Duration,
}

impl Default for DurableLimits {
    /// 100,000 messages, 256 MiB, 7 days.
    fn default() -> Self {
        Self {
            max_messages: 100_000,
            max_bytes: 256 * 1024 * 1024,
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// One durable subscription of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableSpec {
    /// The app (today its name; the app's subject namespace once subjects
    /// are namespaced).
    pub app: String,
    /// The subscribing service.
    pub service: String,
    /// The subject or pattern.
    pub topic: String,
    /// The subscription's queue group, if any.
    pub queue_group: Option<String>,
    /// How long a delivery may go unacknowledged before it is delivered
    /// again; the subscriber must cover its handler's timeout with it.
    pub ack_wait: Duration,
    /// Most deliveries handed out and not yet acknowledged, per host.
    pub max_in_flight: usize,
    /// What the subscription keeps at most.
    pub limits: DurableLimits,
}

/// The names of a durable subscription's storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableNames {
    /// Where the topic's messages are kept (a JetStream stream). Shared by
    /// every durable subscription of the app to the same topic.
    pub stream: String,
    /// The subscription's consumer: one per app, service, topic and queue
    /// group, so every host running the service shares it and each message
    /// is handled once per subscription, whichever host is up.
    pub consumer: String,
}

/// Names a durable subscription's storage, deterministically from the
/// app, the service and the subscription. The one place these names are
/// made: the NATS stream and consumer and the embedded queue all use it.
///
/// Names are `WHARF_<app>_<hash>` and `<service>_<hash>`: readable parts
/// cut to JetStream's allowed characters (`A-Z a-z 0-9 _ -`), and a hash
/// of the exact, unmodified inputs so two subscriptions never share a name.
pub fn durable_names(
    app: &str,
    service: &str,
    topic: &str,
    queue_group: Option<&str>,
) -> DurableNames {
    let stream_key = [app, topic];
    let consumer_key = [app, service, topic, queue_group.unwrap_or("")];
    DurableNames {
        stream: format!("WHARF_{}_{:016x}", readable(app), fnv(&stream_key)),
        consumer: format!("{}_{:016x}", readable(service), fnv(&consumer_key)),
    }
}

/// At most 32 characters of `s`, others than `A-Z a-z 0-9 _ -` as `_`.
fn readable(s: &str) -> String {
    s.chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a over the parts, each followed by a 0 byte: stable across builds
/// and platforms (unlike `std`'s hasher), which names stored on a server
/// need.
fn fnv(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Acknowledges one delivery; implemented by each broker.
#[async_trait]
pub trait Acknowledge: Send + Sync {
    /// Handled: never deliver it again.
    async fn ack(&self) -> Result<(), BrokerError>;
    /// Not handled: deliver it again after `delay`.
    async fn nak(&self, delay: Duration) -> Result<(), BrokerError>;
    /// Still being handled: restart the ack-wait clock.
    async fn in_progress(&self) -> Result<(), BrokerError>;
}

/// One delivery of a durable message.
pub struct Delivery {
    /// The message as published.
    pub message: Message,
    /// 1 on the first delivery, counting up with every redelivery.
    pub attempt: u32,
    /// A key that is the same on every delivery of this message and
    /// differs between messages (`<stream>.<sequence>`): what the host
    /// derives message IDs for the handler's own publishes from.
    pub key: String,
    acknowledge: Box<dyn Acknowledge>,
}

impl Delivery {
    /// A delivery acknowledged through `acknowledge`; for brokers.
    pub fn new(
        message: Message,
        attempt: u32,
        key: String,
        acknowledge: Box<dyn Acknowledge>,
    ) -> Self {
        Self {
            message,
            attempt,
            key,
            acknowledge,
        }
    }

    /// Handled: never deliver it again.
    ///
    /// # Errors
    ///
    /// When the broker could not be told; the message is then delivered
    /// again.
    pub async fn ack(&self) -> Result<(), BrokerError> {
        self.acknowledge.ack().await
    }

    /// Not handled: deliver it again after `delay`.
    ///
    /// # Errors
    ///
    /// When the broker could not be told; the message is then delivered
    /// again once the ack wait passes.
    pub async fn nak(&self, delay: Duration) -> Result<(), BrokerError> {
        self.acknowledge.nak(delay).await
    }

    /// Still being handled: restart the ack-wait clock.
    ///
    /// # Errors
    ///
    /// When the broker could not be told.
    pub async fn in_progress(&self) -> Result<(), BrokerError> {
        self.acknowledge.in_progress().await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.message.subject)
            .field("attempt", &self.attempt)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What a durable subscription reports about itself, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurableStatus {
    /// Messages not yet delivered to the subscription.
    pub pending: u64,
    /// Messages delivered and not yet acknowledged.
    pub in_flight: u64,
    /// Messages refused or expired by a limit so far (cumulative; 0 where
    /// the broker cannot tell).
    pub refused: u64,
}

/// Deliveries of one durable subscription; dropping it stops delivery
/// (the stored messages stay).
pub struct DurableSubscription {
    stream: BoxStream<'static, Delivery>,
    status:
        Box<dyn Fn() -> futures::future::BoxFuture<'static, Option<DurableStatus>> + Send + Sync>,
}

impl DurableSubscription {
    /// Wraps a stream of deliveries and a status probe; for brokers.
    pub fn new(
        stream: impl Stream<Item = Delivery> + Send + 'static,
        status: impl Fn() -> futures::future::BoxFuture<'static, Option<DurableStatus>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            stream: stream.boxed(),
            status: Box::new(status),
        }
    }

    /// The next delivery; `None` once the subscription is closed.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.stream.next().await
    }

    /// Splits into the delivery stream and the status probe.
    #[allow(clippy::type_complexity, reason = "the two halves of the struct")]
    pub fn into_parts(
        self,
    ) -> (
        BoxStream<'static, Delivery>,
        Box<dyn Fn() -> futures::future::BoxFuture<'static, Option<DurableStatus>> + Send + Sync>,
    ) {
        (self.stream, self.status)
    }
}

impl Stream for DurableSubscription {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl fmt::Debug for DurableSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableSubscription")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_valid_and_distinct() {
        let a = durable_names("shop", "audit", "orders.*", None);
        assert_eq!(a, durable_names("shop", "audit", "orders.*", None));
        for name in [&a.stream, &a.consumer] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{name}"
            );
        }
        // Same topic, same app: one stream; any other difference: another
        // consumer.
        let b = durable_names("shop", "billing", "orders.*", None);
        assert_eq!(a.stream, b.stream);
        assert_ne!(a.consumer, b.consumer);
        let grouped = durable_names("shop", "audit", "orders.*", Some("g"));
        assert_ne!(a.consumer, grouped.consumer);
        assert_ne!(
            a.stream,
            durable_names("shop", "audit", "orders.>", None).stream
        );
        assert_ne!(
            a.stream,
            durable_names("shop2", "audit", "orders.*", None).stream
        );
        // Characters JetStream refuses are replaced, but still hashed apart.
        let dotted = durable_names("my.app", "audit", "x", None);
        assert!(
            dotted.stream.starts_with("WHARF_my_app_"),
            "{}",
            dotted.stream
        );
        assert_ne!(
            dotted.stream,
            durable_names("my_app", "audit", "x", None).stream
        );
    }
}
