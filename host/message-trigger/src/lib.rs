//! # wharf-message-trigger: when a component runs for a message
//!
//! The messaging counterpart of `wharf-http`'s handler. For every
//! `subscriptions` entry of every service in the app's route table it keeps
//! one broker subscription (with its queue group, so competing consumers
//! share the work), and for every message it receives:
//!
//! 1. waits for one of the subscription's `max_in_flight` slots — while
//!    all are busy it stops reading, and the broker's bounded buffer pushes
//!    back on publishers;
//! 2. runs a fresh instance of the service's current version (looked up
//!    per message, so a hot-swap applies to the next message) with the
//!    service's limits, and calls its message handler (the standard
//!    `wasi:messaging/incoming-handler.handle`, or
//!    `wasmcloud:messaging/handler.handle-message`; see
//!    `ServiceTemplate::handle_message` for a component exporting both);
//! 3. on an error or a trap, retries with exponential backoff up to
//!    `retries` times, then publishes the message to the subscription's
//!    dead-letter subject with the error, the attempt count and the
//!    original subject as headers.
//!
//! Topics and dead-letter subjects are the service's view: on the broker
//! they live in the app's namespace
//! ([`Namespace`](wharf_messaging::Namespace)), and the handler sees the
//! subject and reply-to with the namespace taken off.
//!
//! Every message ends in exactly one of `handled`, `dead_lettered` or
//! `dropped` (a dead letter that itself fails, or one that cannot be
//! published), counted in `wharf_messages_total` and logged.
//!
//! # Durable subscriptions (`durable = true`)
//!
//! These read a [`DurableSubscription`] instead: the broker keeps each
//! message until it is acknowledged, across host restarts. The trigger
//! acknowledges only after the handler succeeded; on an error, a trap or a
//! timeout it `nak`s with the same backoff (the broker redelivers, possibly
//! to another host of the queue); once the delivery count passes
//! `retries`, it publishes the dead letter and then acknowledges. While a
//! handler runs, the delivery is marked in progress every few seconds, and
//! the ack wait is the handler's timeout plus its queue timeout plus a
//! margin, so a slow but live handler never sees its message redelivered.
//! The handler's own publishes carry a `Nats-Msg-Id` derived from the
//! delivery (`<stream>.<sequence>-<n>`), so a redelivered handler's
//! republished messages are dropped by JetStream's duplicate window.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;

use wharf_core::ServiceTemplate;
use wharf_http::HttpApp;
use wharf_manifest::Subscription as SubscriptionSpec;
use wharf_messaging::{Broker, Delivery, DurableSpec, DurableSubscription, Message};
use wharf_metrics::Metrics;
use wharf_telemetry::{TraceContext, guest_text};

/// Header carrying the error of the last attempt on a dead letter.
pub const ERROR_HEADER: &str = "wharf-error";
/// Header carrying how many attempts a dead letter had.
pub const ATTEMPTS_HEADER: &str = "wharf-attempts";
/// Header carrying the subject a dead letter was first published to.
pub const ORIGINAL_SUBJECT_HEADER: &str = "wharf-original-subject";
/// Header carrying the request ID, as on HTTP.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// First retry delay; doubled per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Added to a durable subscription's ack wait beyond the handler's timeout
/// and queue timeout.
const ACK_WAIT_MARGIN: Duration = Duration::from_secs(10);
/// How often a running durable delivery is marked in progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How often a durable subscription's backlog gauges are refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// The header JetStream drops duplicate publishes by.
const MESSAGE_ID_HEADER: &str = "nats-msg-id";

/// One subscription of one service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    service: String,
    topic: String,
    queue_group: Option<String>,
}

struct Running {
    spec: SubscriptionSpec,
    task: tokio::task::AbortHandle,
}

/// Runs services for the messages they subscribe to.
pub struct MessageTrigger {
    app: Arc<HttpApp>,
    broker: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
    running: tokio::sync::Mutex<HashMap<Key, Running>>,
    next_id: AtomicU64,
}

impl MessageTrigger {
    /// A trigger for the services of `app`, receiving from `broker`.
    pub fn new(app: Arc<HttpApp>, broker: Arc<dyn Broker>, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            app,
            broker,
            metrics,
            running: tokio::sync::Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// Makes the running subscriptions match the app's current services:
    /// starts new ones, stops removed ones, restarts changed ones. Called
    /// after every deployment change.
    pub async fn sync(self: &Arc<Self>) -> anyhow::Result<()> {
        let table = self.app.table();
        let mut wanted: HashMap<Key, SubscriptionSpec> = HashMap::new();
        let mut ack_waits: HashMap<Key, Duration> = HashMap::new();
        for target in table.services() {
            let template = &target.stable.template;
            for spec in template.policy().subscriptions.iter() {
                let key = Key {
                    service: template.identity().name.to_string(),
                    topic: spec.topic.clone(),
                    queue_group: spec.queue_group.clone(),
                };
                let limits = &template.policy().limits;
                ack_waits.insert(
                    key.clone(),
                    limits.timeout + limits.queue_timeout + ACK_WAIT_MARGIN,
                );
                wanted.insert(key, spec.clone());
            }
        }
        let mut running = self.running.lock().await;
        running.retain(|key, run| {
            let keep = wanted.get(key) == Some(&run.spec);
            if !keep {
                run.task.abort();
                tracing::info!(service = %key.service, topic = %key.topic, "subscription stopped");
            }
            keep
        });
        for (key, spec) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            let task = if spec.durable {
                // Named from the app's namespace (per app, and per cluster on
                // NATS), so two apps never share a stream or consumer.
                let namespace = self.app.namespace();
                let durable = DurableSpec {
                    app: namespace.prefix().to_owned(),
                    service: key.service.clone(),
                    topic: namespace.to_broker(&spec.topic),
                    queue_group: spec.queue_group.clone(),
                    ack_wait: ack_waits.get(&key).copied().unwrap_or(ACK_WAIT_MARGIN),
                    max_in_flight: in_flight_slots(spec.max_in_flight),
                    limits: wharf_messaging::DurableLimits::default(),
                };
                let subscription = self.broker.subscribe_durable(&durable).await.map_err(|e| {
                    anyhow::anyhow!(
                        "service `{}` cannot subscribe durably to `{}`: {e}",
                        key.service,
                        spec.topic
                    )
                })?;
                tracing::info!(
                    service = %key.service,
                    topic = %spec.topic,
                    broker = self.broker.name(),
                    "subscribed durably (at least once)"
                );
                tokio::spawn(self.clone().consume_durable(
                    key.service.clone(),
                    spec.clone(),
                    subscription,
                ))
            } else {
                let capacity = in_flight_slots(spec.max_in_flight).saturating_mul(2);
                let subscription = self
                    .broker
                    .subscribe(
                        &self.app.namespace().to_broker(&spec.topic),
                        spec.queue_group.as_deref(),
                        capacity,
                    )
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "service `{}` cannot subscribe to `{}`: {e}",
                            key.service,
                            spec.topic
                        )
                    })?;
                tracing::info!(
                    service = %key.service,
                    topic = %spec.topic,
                    queue_group = spec.queue_group.as_deref().unwrap_or("-"),
                    broker = self.broker.name(),
                    "subscribed"
                );
                tokio::spawn(
                    self.clone()
                        .consume(key.service.clone(), spec.clone(), subscription),
                )
            };
            running.insert(
                key,
                Running {
                    spec,
                    task: task.abort_handle(),
                },
            );
        }
        Ok(())
    }

    async fn consume(
        self: Arc<Self>,
        service: String,
        spec: SubscriptionSpec,
        subscription: wharf_messaging::Subscription,
    ) {
        let max_in_flight = spec.max_in_flight;
        let spec = Arc::new(spec);
        for_each_bounded(subscription, max_in_flight, move |message| {
            let this = self.clone();
            let service = service.clone();
            let spec = spec.clone();
            async move { this.deliver(&service, &spec, message).await }
        })
        .await;
    }

    async fn consume_durable(
        self: Arc<Self>,
        service: String,
        spec: SubscriptionSpec,
        subscription: DurableSubscription,
    ) {
        let (deliveries, status) = subscription.into_parts();
        let pending = self
            .metrics
            .durable_pending
            .with_label_values(&[&service, &spec.topic]);
        let lag = self
            .metrics
            .durable_lag
            .with_label_values(&[&service, &spec.topic]);
        // Ends with this task: a subscription stopped by `sync` stops
        // refreshing its gauges.
        let refused = self
            .metrics
            .durable_refused
            .with_label_values(&[&service, &spec.topic]);
        let _status = AbortOnDrop(tokio::spawn(async move {
            let mut refused_before = 0;
            loop {
                if let Some(now) = status().await {
                    refused.inc_by(now.refused.saturating_sub(refused_before));
                    refused_before = refused_before.max(now.refused);
                    let waiting = i64::try_from(now.pending).unwrap_or(i64::MAX);
                    let in_flight = i64::try_from(now.in_flight).unwrap_or(i64::MAX);
                    lag.set(waiting);
                    pending.set(waiting.saturating_add(in_flight));
                }
                tokio::time::sleep(STATUS_EVERY).await;
            }
        }));
        let max_in_flight = spec.max_in_flight;
        let spec = Arc::new(spec);
        for_each_bounded(deliveries, max_in_flight, move |delivery| {
            let this = self.clone();
            let service = service.clone();
            let spec = spec.clone();
            async move { this.deliver_durable(&service, &spec, delivery).await }
        })
        .await;
    }

    /// One delivery of a durable message: acked after the handler
    /// succeeded, nak'ed for a later retry, or dead-lettered and acked.
    async fn deliver_durable(&self, service: &str, spec: &SubscriptionSpec, delivery: Delivery) {
        let count = |outcome: &str| {
            self.metrics
                .messages
                .with_label_values(&[service, &spec.topic, outcome])
                .inc();
        };
        let message = &delivery.message;
        let attempt = delivery.attempt.max(1);
        if attempt > 1 {
            count("redelivered");
        }
        let progress = async {
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                if let Err(error) = delivery.in_progress().await {
                    tracing::debug!(service, %error, "cannot mark a delivery in progress");
                }
            }
        };
        let handled = tokio::select! {
            handled = self.handle_once_with(service, message, Some(delivery.key.as_str())) => handled,
            _ = progress => return,
        };
        let error = match handled {
            Ok(()) => {
                count("handled");
                match delivery.ack().await {
                    Ok(()) => count("acked"),
                    Err(error) => {
                        tracing::warn!(service, subject = %guest_text(&message.subject), error = %guest_text(&error.to_string()), "ack failed; the message will be redelivered");
                    }
                }
                return;
            }
            Err(error) => error,
        };
        if attempt <= spec.retries {
            count("retried");
            tracing::warn!(service, subject = %guest_text(&message.subject), attempt, error = %guest_text(&error.to_string()), "message handler failed; redelivering later");
            if let Err(nak) = delivery.nak(backoff(attempt)).await {
                tracing::warn!(service, %nak, "nak failed; the message is redelivered after the ack wait");
            }
            return;
        }
        match self
            .broker
            .publish(dead_letter(
                self.app.namespace(),
                spec,
                message,
                attempt,
                &error,
            ))
            .await
        {
            Ok(()) => {
                count("dead_lettered");
                tracing::error!(service, subject = %guest_text(&message.subject), dead_letter = %spec.dead_letter, attempts = attempt, error = %guest_text(&error.to_string()), "message dead-lettered");
                if let Err(ack) = delivery.ack().await {
                    tracing::warn!(service, %ack, "ack of a dead-lettered message failed; it will be redelivered");
                }
            }
            Err(publish_error) => {
                // Kept: the dead letter is tried again on the next delivery.
                tracing::error!(service, subject = %guest_text(&message.subject), attempts = attempt, error = %guest_text(&error.to_string()), %publish_error, "message failed and could not be dead-lettered; redelivering later");
                let _ = delivery.nak(MAX_BACKOFF).await;
            }
        }
    }

    /// Handles one message to its end: handled, dead-lettered or dropped.
    async fn deliver(&self, service: &str, spec: &SubscriptionSpec, message: Message) {
        let count = |outcome: &str| {
            self.metrics
                .messages
                .with_label_values(&[service, &spec.topic, outcome])
                .inc();
        };
        let mut attempt = 0;
        let error = loop {
            attempt += 1;
            match self.handle_once(service, &message).await {
                Ok(()) => {
                    count("handled");
                    return;
                }
                Err(error) if attempt <= spec.retries => {
                    count("retried");
                    tracing::warn!(service, subject = %guest_text(&message.subject), attempt, error = %guest_text(&error.to_string()), "message handler failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(error) => break error,
            }
        };
        // A dead letter that fails again is not dead-lettered again: that
        // could loop forever when the dead-letter subject matches the
        // subscription.
        if message.header(ORIGINAL_SUBJECT_HEADER).is_some() {
            count("dropped");
            tracing::error!(service, subject = %guest_text(&message.subject), attempts = attempt, error = %guest_text(&error.to_string()), "dead letter failed again; dropped");
            return;
        }
        match self
            .broker
            .publish(dead_letter(
                self.app.namespace(),
                spec,
                &message,
                attempt,
                &error,
            ))
            .await
        {
            Ok(()) => {
                count("dead_lettered");
                tracing::error!(service, subject = %guest_text(&message.subject), dead_letter = %spec.dead_letter, attempts = attempt, error = %guest_text(&error.to_string()), "message dead-lettered");
            }
            Err(publish_error) => {
                count("dropped");
                tracing::error!(service, subject = %guest_text(&message.subject), attempts = attempt, error = %guest_text(&error.to_string()), %publish_error, "message failed and could not be dead-lettered; dropped");
            }
        }
    }

    /// One attempt: a fresh instance of the service's current version.
    async fn handle_once(&self, service: &str, message: &Message) -> anyhow::Result<()> {
        self.handle_once_with(service, message, None).await
    }

    /// One attempt; with `message_key` (a durable delivery), every message
    /// the handler publishes carries a message ID derived from it, the same
    /// on every redelivery.
    async fn handle_once_with(
        &self,
        service: &str,
        message: &Message,
        message_key: Option<&str>,
    ) -> anyhow::Result<()> {
        let Some(target) = self.app.table().by_name(service).cloned() else {
            anyhow::bail!("service `{service}` is no longer deployed");
        };
        let request_id = self.request_id(message);
        let headers = header_map(message);
        let serving = target.pick(&request_id, &headers).clone();
        let template: &Arc<ServiceTemplate> = &serving.template;
        if !template.handles_messages() {
            anyhow::bail!("the active version of `{service}` exports no message handler");
        }
        let trace = TraceContext::from_request_headers(&headers);
        let propagate = wharf_http::handler::propagation(&trace, &request_id);
        let namespace = self.app.namespace();
        // What the guest sees: the subject without the namespace, and a
        // reply-to only when it is the app's own subject or a host inbox.
        let reply_to =
            wharf_core::messaging::guest_reply_to(namespace, message.reply_to.as_deref());
        let propagate = match message_key {
            Some(key) if !key.is_empty() => with_message_ids(propagate, key),
            _ => propagate,
        };
        let outbound = self.app.outbound_context(
            propagate,
            reply_to
                .is_some()
                .then(|| message.reply_to.clone())
                .flatten(),
            Arc::new(message.headers.clone()),
        );
        let _permit = template
            .concurrency()
            .acquire()
            .await
            .map_err(|e| anyhow::anyhow!("service at capacity: {e:?}"))?;
        let mut store = template.new_store(request_id, outbound)?;
        let timeout = template.policy().limits.timeout;
        let guest_message = Message {
            subject: namespace
                .from_broker(&message.subject)
                .unwrap_or(&message.subject)
                .to_owned(),
            body: message.body.clone(),
            headers: message.headers.clone(),
            reply_to: reply_to.clone(),
        };
        let run = template.handle_message(&mut store, &guest_message);
        let retire = serving.retire.clone();
        tokio::select! {
            ended = tokio::time::timeout(timeout, run) => match ended {
                Err(_) => anyhow::bail!("handler timed out after {timeout:?}"),
                Ok(Err(trap)) => Err(trap.context("handler trapped")),
                Ok(Ok(Err(guest))) => anyhow::bail!("handler returned an error: {guest}"),
                Ok(Ok(Ok(()))) => Ok(()),
            },
            () = retire.cancelled() => anyhow::bail!("version retired while handling"),
        }
    }

    fn request_id(&self, message: &Message) -> Arc<str> {
        match message.header(REQUEST_ID_HEADER) {
            Some(id) if !id.is_empty() && id.len() <= 128 => Arc::from(id),
            _ => {
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                Arc::from(format!("msg-{n:012x}"))
            }
        }
    }
}

/// The dead letter for `message` after `attempts` failed with `error`:
/// the original headers plus the error, the attempt count and the
/// original subject.
fn dead_letter(
    namespace: &wharf_messaging::Namespace,
    spec: &SubscriptionSpec,
    message: &Message,
    attempts: u32,
    error: &anyhow::Error,
) -> Message {
    let mut dead = Message::new(namespace.to_broker(&spec.dead_letter), message.body.clone());
    dead.headers = message.headers.clone();
    dead.headers.push((ERROR_HEADER.into(), one_line(error)));
    dead.headers
        .push((ATTEMPTS_HEADER.into(), attempts.to_string()));
    // The subject as the app names it, like the dead-letter subject itself.
    dead.headers.push((
        ORIGINAL_SUBJECT_HEADER.into(),
        namespace
            .from_broker(&message.subject)
            .unwrap_or(&message.subject)
            .to_owned(),
    ));
    dead
}

/// How many messages of a subscription may be handled at once (at least 1).
fn in_flight_slots(max_in_flight: u32) -> usize {
    usize::try_from(max_in_flight).unwrap_or(usize::MAX).max(1)
}

/// Runs `handle` on a task of its own for every item of `items`, at most
/// `max_in_flight` at once: while every slot is busy it stops reading, so
/// the broker's bounded buffer (or the durable consumer's window) pushes
/// back on publishers.
async fn for_each_bounded<T, F, Fut>(
    items: impl futures::Stream<Item = T> + Unpin,
    max_in_flight: u32,
    handle: F,
) where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight_slots(max_in_flight)));
    let mut items = items;
    while let Some(item) = items.next().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let run = handle(item);
        tokio::spawn(async move {
            let _permit = permit;
            run.await;
        });
    }
}

/// The wait before retry `attempt` (1-based): doubling from
/// [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// `propagate`, plus a message ID `<key>-<n>` on the n-th message sent.
fn with_message_ids(
    propagate: wharf_core::outbound::Propagate,
    key: &str,
) -> wharf_core::outbound::Propagate {
    let key = key.to_owned();
    let sent = AtomicU64::new(0);
    Arc::new(move |headers: &mut http::HeaderMap| {
        propagate(headers);
        let n = sent.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(value) = http::HeaderValue::try_from(format!("{key}-{n}")) {
            headers.insert(MESSAGE_ID_HEADER, value);
        }
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn header_map(message: &Message) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in &message.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(name.as_str()),
            http::HeaderValue::try_from(value.as_str()),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace(['\n', '\r'], " ")
}
