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
//!    service's limits, and calls `wasmcloud:messaging/handler.handle-message`;
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

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wharf_core::ServiceTemplate;
use wharf_core::messaging::BrokerMessage;
use wharf_http::HttpApp;
use wharf_manifest::Subscription as SubscriptionSpec;
use wharf_messaging::{Broker, Message};
use wharf_metrics::Metrics;
use wharf_telemetry::TraceContext;

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
        for target in table.services() {
            let template = &target.stable.template;
            for spec in template.policy().subscriptions.iter() {
                let key = Key {
                    service: template.identity().name.to_string(),
                    topic: spec.topic.clone(),
                    queue_group: spec.queue_group.clone(),
                };
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
            let capacity = usize::try_from(spec.max_in_flight).unwrap_or(16).max(1) * 2;
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
            let task = tokio::spawn(self.clone().consume(
                key.service.clone(),
                spec.clone(),
                subscription,
            ));
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
        mut subscription: wharf_messaging::Subscription,
    ) {
        let slots = Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(spec.max_in_flight).unwrap_or(16).max(1),
        ));
        let spec = Arc::new(spec);
        while let Some(message) = subscription.next().await {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let this = self.clone();
            let service = service.clone();
            let spec = spec.clone();
            tokio::spawn(async move {
                let _permit = permit;
                this.deliver(&service, &spec, message).await;
            });
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
                    tracing::warn!(service, subject = %message.subject, attempt, %error, "message handler failed; retrying");
                    let backoff = FIRST_BACKOFF
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(MAX_BACKOFF);
                    tokio::time::sleep(backoff).await;
                }
                Err(error) => break error,
            }
        };
        // A dead letter that fails again is not dead-lettered again: that
        // could loop forever when the dead-letter subject matches the
        // subscription.
        if message.header(ORIGINAL_SUBJECT_HEADER).is_some() {
            count("dropped");
            tracing::error!(service, subject = %message.subject, attempts = attempt, %error, "dead letter failed again; dropped");
            return;
        }
        let namespace = self.app.namespace();
        let mut dead = Message::new(namespace.to_broker(&spec.dead_letter), message.body.clone());
        dead.headers = message.headers.clone();
        dead.headers.push((ERROR_HEADER.into(), one_line(&error)));
        dead.headers
            .push((ATTEMPTS_HEADER.into(), attempt.to_string()));
        dead.headers.push((
            ORIGINAL_SUBJECT_HEADER.into(),
            namespace
                .from_broker(&message.subject)
                .unwrap_or(&message.subject)
                .to_owned(),
        ));
        match self.broker.publish(dead).await {
            Ok(()) => {
                count("dead_lettered");
                tracing::error!(service, subject = %message.subject, dead_letter = %spec.dead_letter, attempts = attempt, %error, "message dead-lettered");
            }
            Err(publish_error) => {
                count("dropped");
                tracing::error!(service, subject = %message.subject, attempts = attempt, %error, %publish_error, "message failed and could not be dead-lettered; dropped");
            }
        }
    }

    /// One attempt: a fresh instance of the service's current version.
    async fn handle_once(&self, service: &str, message: &Message) -> anyhow::Result<()> {
        let Some(target) = self.app.table().by_name(service).cloned() else {
            anyhow::bail!("service `{service}` is no longer deployed");
        };
        let request_id = self.request_id(message);
        let headers = header_map(message);
        let serving = target.pick(&request_id, &headers).clone();
        let template: &Arc<ServiceTemplate> = &serving.template;
        let Some(pre) = template.messaging() else {
            anyhow::bail!("the active version of `{service}` exports no message handler");
        };
        let trace = TraceContext::from_request_headers(&headers);
        let propagate = wharf_http::handler::propagation(&trace, &request_id);
        let namespace = self.app.namespace();
        let reply_to =
            wharf_core::messaging::guest_reply_to(namespace, message.reply_to.as_deref());
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
        let msg = BrokerMessage {
            subject: namespace
                .from_broker(&message.subject)
                .unwrap_or(&message.subject)
                .to_owned(),
            body: message.body.to_vec(),
            reply_to,
        };
        let run = async {
            let bindings = pre.instantiate_async(&mut store).await?;
            bindings
                .wasmcloud_messaging_handler()
                .call_handle_message(&mut store, &msg)
                .await
        };
        let retire = serving.retire.clone();
        tokio::select! {
            ended = tokio::time::timeout(timeout, run) => match ended {
                Err(_) => anyhow::bail!("handler timed out after {timeout:?}"),
                Ok(Err(trap)) => Err(anyhow::Error::from(trap).context("handler trapped")),
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
