//! JetStream key-value buckets, opened the same way by every part of the
//! host that keeps state in NATS (the cluster's deployment record and
//! heartbeats, `wasi:keyvalue` stores).
//!
//! One place for one workaround: async-nats 0.51's `create_key_value` first
//! reads the account's JetStream info, whose format changed in NATS server
//! 2.10, and fails against a 2.9 server (Debian's `nats-server`). The
//! bucket's stream is created directly instead, with the settings
//! `create_key_value` would use.

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};

/// Opens bucket `config.bucket`, creating it if it does not exist. Safe to
/// race: when another host creates it first, that bucket is opened.
///
/// # Errors
///
/// When the bucket neither opens nor can be created (JetStream is off on
/// the server, or the server refuses the stream).
pub async fn open_key_value(
    js: &jetstream::Context,
    config: kv::Config,
) -> anyhow::Result<kv::Store> {
    let bucket = config.bucket.clone();
    if let Ok(store) = js.get_key_value(&bucket).await {
        return Ok(store);
    }
    let stream = jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(config.description),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: config.history.max(1),
        max_age: config.max_age,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    };
    match js.create_stream(stream).await {
        Ok(_) => js
            .get_key_value(&bucket)
            .await
            .with_context(|| format!("cannot open the key-value bucket `{bucket}`")),
        // Another host created it first.
        Err(create) => js.get_key_value(&bucket).await.map_err(|_| {
            anyhow::Error::new(create).context(format!(
                "cannot open or create the key-value bucket `{bucket}` (is JetStream enabled on the NATS server?)"
            ))
        }),
    }
}

/// A durable subscription on JetStream: the topic's stream (created if
/// missing, Interest retention, so a message stays until every durable
/// subscription of the topic acknowledged it) and the subscription's
/// durable pull consumer (shared by every host running the service).
///
/// Limits: the stream refuses new messages past `spec.limits` (discard
/// `new`) rather than dropping stored ones; age is enforced by the server
/// (`max_age`). Redelivery: explicit acks, an `ack_wait` of
/// `spec.ack_wait`, no server-side delivery cap (the host dead-letters
/// after the subscription's `retries` itself, so nothing ends silently).
///
/// # Errors
///
/// When JetStream is unavailable, or the stream cannot be created (a
/// stream of another durable topic already captures overlapping subjects).
pub(crate) async fn subscribe_durable(
    client: &async_nats::Client,
    spec: &crate::durable::DurableSpec,
) -> Result<crate::durable::DurableSubscription, crate::BrokerError> {
    use crate::BrokerError;
    use crate::durable::{Delivery, DurableStatus, DurableSubscription, durable_names};
    use futures::{FutureExt as _, StreamExt as _};
    use jetstream::consumer::{AckPolicy, DeliverPolicy, pull};

    let js = jetstream::new(client.clone());
    let names = durable_names(
        &spec.app,
        &spec.service,
        &spec.topic,
        spec.queue_group.as_deref(),
    );
    let config = jetstream::stream::Config {
        name: names.stream.clone(),
        description: Some(format!("wharf: durable messages on `{}`", spec.topic)),
        subjects: vec![spec.topic.clone()],
        retention: jetstream::stream::RetentionPolicy::Interest,
        storage: jetstream::stream::StorageType::File,
        discard: jetstream::stream::DiscardPolicy::New,
        max_messages: i64::try_from(spec.limits.max_messages).unwrap_or(i64::MAX),
        max_bytes: i64::try_from(spec.limits.max_bytes).unwrap_or(i64::MAX),
        max_age: spec.limits.max_age,
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: 1,
        ..Default::default()
    };
    let stream = match js.get_stream(&names.stream).await {
        Ok(stream) => stream,
        Err(_) => match js.create_stream(config).await {
            Ok(stream) => stream,
            // Another host may have created it meanwhile.
            Err(create) => js.get_stream(&names.stream).await.map_err(|_| {
                BrokerError::Connection(format!(
                    "cannot create the JetStream stream `{}` for `{}` (is JetStream enabled; does another durable topic overlap it?): {create}",
                    names.stream, spec.topic
                ))
            })?,
        },
    };
    let max_in_flight = spec.max_in_flight.max(1);
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            &names.consumer,
            pull::Config {
                durable_name: Some(names.consumer.clone()),
                description: Some(format!(
                    "wharf: service `{}`, subscription `{}`",
                    spec.service, spec.topic
                )),
                filter_subject: spec.topic.clone(),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: spec.ack_wait,
                max_deliver: -1,
                max_ack_pending: i64::try_from(max_in_flight.saturating_mul(64)).unwrap_or(-1),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            BrokerError::Connection(format!(
                "cannot create the durable consumer `{}` on `{}`: {e}",
                names.consumer, names.stream
            ))
        })?;
    let messages = consumer
        .stream()
        .max_messages_per_batch(max_in_flight)
        .messages()
        .await
        .map_err(|e| {
            BrokerError::Connection(format!("cannot pull from `{}`: {e}", names.consumer))
        })?;
    let consumer_name = names.consumer.clone();
    let deliveries = messages.filter_map(move |next| {
        let consumer_name = consumer_name.clone();
        async move {
            let message = match next {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(consumer = %consumer_name, %error, "JetStream pull failed; retrying");
                    return None;
                }
            };
            let (attempt, key) = match message.info() {
                Ok(info) => (
                    u32::try_from(info.delivered).unwrap_or(u32::MAX),
                    format!("{}.{}", info.stream, info.stream_sequence),
                ),
                Err(_) => (1, String::new()),
            };
            let (message, acker) = message.split();
            let mut converted = crate::nats::from_nats(message);
            // The reply subject of a JetStream delivery is its ack subject,
            // not the publisher's inbox.
            converted.reply_to = None;
            Some(Delivery::new(converted, attempt, key, Box::new(JetStreamAck(acker))))
        }
    });
    let probe = move || {
        let mut consumer = consumer.clone();
        async move {
            let info = consumer.info().await.ok()?;
            Some(DurableStatus {
                pending: info.num_pending,
                in_flight: u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX),
                refused: 0,
            })
        }
        .boxed()
    };
    Ok(DurableSubscription::new(deliveries, probe))
}

/// How long JetStream remembers a message ID to drop a duplicate publish
/// (its default).
pub const DUPLICATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

struct JetStreamAck(jetstream::message::Acker);

#[async_trait::async_trait]
impl crate::durable::Acknowledge for JetStreamAck {
    async fn ack(&self) -> Result<(), crate::BrokerError> {
        self.0
            .ack()
            .await
            .map_err(|e| crate::BrokerError::Connection(e.to_string()))
    }

    async fn nak(&self, delay: std::time::Duration) -> Result<(), crate::BrokerError> {
        self.0
            .ack_with(jetstream::AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| crate::BrokerError::Connection(e.to_string()))
    }

    async fn in_progress(&self) -> Result<(), crate::BrokerError> {
        self.0
            .ack_with(jetstream::AckKind::Progress)
            .await
            .map_err(|e| crate::BrokerError::Connection(e.to_string()))
    }
}
