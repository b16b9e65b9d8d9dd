//! The broker used with `wharf up --nats nats://...`: a NATS server
//! carries the messages, so services on different hosts can talk.
//!
//! It owns the translation between [`Message`]/[`BrokerError`] and the
//! official `async-nats` client, so nothing else in the host depends on
//! that crate's types. Queue groups are NATS queue groups: with several
//! hosts subscribed in the same group, the server gives each message to one
//! member across all of them.
//!
//! # Guarantee
//!
//! Core NATS: at most once. Messages published while no subscriber exists,
//! or while the connection is down, are lost.
//!
//! # Buffering
//!
//! Deliveries a subscriber has not taken yet are held in host memory, so
//! they are bounded in bytes, not only in messages: a message is only as
//! big as the server's `max_payload` (1 MiB by default), but thousands of
//! them add up. Each subscription has a task that takes deliveries from the
//! client's buffer at once ([`CLIENT_CAPACITY`] messages, so it never
//! holds more than that many `max_payload`s) and queues them for the
//! subscriber up to [`SUBSCRIPTION_BYTES`] of payload and
//! [`SUBSCRIPTION_CAPACITY`] messages. A delivery that does not fit is
//! dropped and counted, like the client's own slow-consumer drops, in
//! [`NatsBroker::dropped`]. The `capacity` argument of
//! [`Broker::subscribe`] does not apply: a burst of small messages must not
//! be dropped while a bounded number of bytes is buffered. Publishing never
//! waits for a slow subscriber: the server is in between.
//!
//! # Credentials and TLS
//!
//! [`NatsSecurity`] carries what the server asks of its clients: a user
//! and password, a token, an NKey seed or a `.creds` file (JWT and seed),
//! and TLS (a CA to verify the server, a client certificate and key). The
//! host's NATS identity is the control plane's: it reads and writes the
//! cluster's deployment record, so a server shared with anything else
//! should require it.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::client::{PublishErrorKind, RequestErrorKind};
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use async_trait::async_trait;
use futures::StreamExt;

use crate::broker::{Broker, BrokerError, Subscription};
use crate::message::Message;
use crate::subject::{validate_pattern, validate_queue_group, validate_subject};

/// Deliveries queued per subscription for a subscriber that has not taken
/// them yet, at most (see the module's "Buffering").
pub const SUBSCRIPTION_CAPACITY: usize = 64 * 1024;

/// Payload bytes queued per subscription, at most; a delivery beyond it is
/// dropped and counted.
pub const SUBSCRIPTION_BYTES: usize = 32 * 1024 * 1024;

/// The client's own per-subscription buffer, in messages (the connection's
/// JetStream consumers use it too). A [`Broker`] subscription's task
/// drains it at once, so it stays near empty; even full it holds at most
/// this many `max_payload`s.
pub const CLIENT_CAPACITY: usize = 1024;

/// How long [`Broker::flush`] (and so [`Broker::subscribe`]) waits for the
/// server's round trip.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker backed by a NATS server.
///
/// Cloning is cheap and shares the connection.
#[derive(Clone, Debug)]
pub struct NatsBroker {
    client: async_nats::Client,
    slow_consumer_drops: Arc<AtomicU64>,
}

/// How a host proves itself to the NATS server and checks the server: at
/// most one of user/password, token, NKey seed and `.creds` file, plus TLS.
#[derive(Debug, Clone, Default)]
pub struct NatsSecurity {
    /// User name (with [`password`](Self::password)).
    pub user: Option<String>,
    /// Password of [`user`](Self::user).
    pub password: Option<String>,
    /// Token authentication.
    pub token: Option<String>,
    /// File holding an NKey seed (`SU…`).
    pub nkey_file: Option<PathBuf>,
    /// A `.creds` file (user JWT and NKey seed, as `nsc` writes it).
    pub creds_file: Option<PathBuf>,
    /// PEM CA certificate(s) the server's certificate must chain to;
    /// setting it requires TLS.
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients (with
    /// [`tls_key`](Self::tls_key)).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of [`tls_cert`](Self::tls_cert).
    pub tls_key: Option<PathBuf>,
}

impl NatsSecurity {
    /// Applies these settings to `options`.
    ///
    /// # Errors
    ///
    /// When two kinds of credentials are given, a user without a password
    /// (or the reverse), a certificate without its key, or a file cannot be
    /// read.
    pub async fn apply(
        &self,
        mut options: async_nats::ConnectOptions,
    ) -> anyhow::Result<async_nats::ConnectOptions> {
        let kinds = [
            self.user.is_some() || self.password.is_some(),
            self.token.is_some(),
            self.nkey_file.is_some(),
            self.creds_file.is_some(),
        ];
        anyhow::ensure!(
            kinds.iter().filter(|k| **k).count() <= 1,
            "give one kind of NATS credentials: a user and password, a token, an NKey seed or a .creds file"
        );
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => {
                options = options.user_and_password(user.clone(), password.clone());
            }
            (None, None) => {}
            _ => anyhow::bail!("a NATS user needs a password, and a password a user"),
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(path) = &self.nkey_file {
            let seed = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the NKey seed {}", path.display()))?;
            options = options.nkey(seed.trim().to_owned());
        }
        if let Some(path) = &self.creds_file {
            options = options
                .credentials_file(path)
                .await
                .with_context(|| format!("cannot read the NATS credentials {}", path.display()))?;
        }
        if let Some(ca) = &self.tls_ca {
            anyhow::ensure!(
                ca.is_file(),
                "the NATS CA file {} does not exist",
                ca.display()
            );
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                for file in [cert, key] {
                    anyhow::ensure!(
                        file.is_file(),
                        "the NATS TLS file {} does not exist",
                        file.display()
                    );
                }
                options = options
                    .add_client_certificate(cert.clone(), key.clone())
                    .require_tls(true);
            }
            (None, None) => {}
            _ => {
                anyhow::bail!("a NATS client certificate needs its key, and a key its certificate")
            }
        }
        Ok(options)
    }
}

impl NatsBroker {
    /// Connects to the NATS server at `url` (e.g. `nats://127.0.0.1:4222`)
    /// with no credentials and no TLS beyond what the URL says.
    ///
    /// Fails if the server cannot be reached now; once connected, the client
    /// reconnects by itself after a disconnection.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, &NatsSecurity::default()).await
    }

    /// Connects to the NATS server at `url` with `security`'s credentials
    /// and TLS.
    pub async fn connect_with(url: &str, security: &NatsSecurity) -> anyhow::Result<Self> {
        let slow_consumer_drops = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&slow_consumer_drops);
        let options = security.apply(async_nats::ConnectOptions::new()).await?;
        let client = options
            .name("wharf")
            .subscription_capacity(CLIENT_CAPACITY)
            .event_callback(move |event| {
                let counter = Arc::clone(&counter);
                async move {
                    match event {
                        async_nats::Event::SlowConsumer(sid) => {
                            counter.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                subscription = sid,
                                "NATS subscriber buffer full; message dropped"
                            );
                        }
                        async_nats::Event::Connected => tracing::info!("connected to NATS"),
                        async_nats::Event::Disconnected => {
                            tracing::warn!("disconnected from NATS; reconnecting")
                        }
                        other => tracing::warn!(event = %other, "NATS client event"),
                    }
                }
            })
            .connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        Ok(Self {
            client,
            slow_consumer_drops,
        })
    }

    /// The underlying `async-nats` client (for JetStream and other features
    /// outside the [`Broker`] trait).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Slow-consumer events so far: each is a message the client dropped
    /// because a subscription's buffer was full. A lower bound, as the
    /// client itself drops events when its event queue is full.
    pub fn dropped(&self) -> u64 {
        self.slow_consumer_drops.load(Ordering::Relaxed)
    }
}

/// A subscription whose undelivered messages are bounded in bytes and in
/// number: a task moves them from the client's buffer to a queue, dropping
/// (and counting in `dropped`) what does not fit. Dropping the
/// subscription ends the task, which unsubscribes.
fn bounded(mut subscriber: async_nats::Subscriber, dropped: Arc<AtomicU64>) -> Subscription {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let queued_bytes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (count, bytes) = (queued.clone(), queued_bytes.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = sender.closed() => break,
                next = subscriber.next() => {
                    let Some(message) = next else { break };
                    let size = message.payload.len();
                    let full = count.load(Ordering::Acquire) >= SUBSCRIPTION_CAPACITY
                        || bytes.load(Ordering::Acquire).saturating_add(size) > SUBSCRIPTION_BYTES;
                    if full {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            subject = %message.subject.as_str().escape_debug(),
                            bytes = size,
                            "NATS subscriber queue full; message dropped"
                        );
                        continue;
                    }
                    count.fetch_add(1, Ordering::AcqRel);
                    bytes.fetch_add(size, Ordering::AcqRel);
                    if sender.send(from_nats(message)).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = subscriber.unsubscribe().await;
    });
    let stream = futures::stream::unfold(receiver, move |mut receiver| {
        let (count, bytes) = (queued.clone(), queued_bytes.clone());
        async move {
            let message = receiver.recv().await?;
            count.fetch_sub(1, Ordering::AcqRel);
            bytes.fetch_sub(message.body.len(), Ordering::AcqRel);
            Some((message, receiver))
        }
    });
    Subscription::from_stream(stream)
}

/// Converts our headers to a NATS header map; `None` when there are none.
fn to_header_map(headers: &[(String, String)]) -> Result<Option<HeaderMap>, BrokerError> {
    if headers.is_empty() {
        return Ok(None);
    }
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let invalid = |reason: String| BrokerError::InvalidHeader {
            name: name.clone(),
            reason,
        };
        // NATS compares header names exactly; the host's headers travel
        // lower-cased (through `http::HeaderMap`), so JetStream's own are
        // restored to the spelling the server looks for.
        let name = canonical_header(name);
        let header_name = HeaderName::from_str(name).map_err(|e| invalid(e.to_string()))?;
        let header_value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
        map.append(header_name, header_value);
    }
    Ok(Some(map))
}

/// The spelling the NATS server needs for the headers it acts on.
fn canonical_header(name: &str) -> &str {
    const SERVER_HEADERS: &[&str] = &[
        "Nats-Msg-Id",
        "Nats-Expected-Stream",
        "Nats-Expected-Last-Msg-Id",
    ];
    SERVER_HEADERS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .map_or(name, |known| known)
}

/// Converts a received NATS message.
pub(crate) fn from_nats(message: async_nats::Message) -> Message {
    let headers = message
        .headers
        .as_ref()
        .map(|map| {
            map.iter()
                .flat_map(|(name, values)| {
                    values
                        .iter()
                        .map(move |value| (name.to_string(), value.as_str().to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    Message {
        subject: message.subject.to_string(),
        body: message.payload,
        headers,
        reply_to: message.reply.map(|r| r.to_string()),
    }
}

fn publish_error(err: async_nats::client::PublishError) -> BrokerError {
    match err.kind() {
        PublishErrorKind::MaxPayloadExceeded | PublishErrorKind::InvalidSubject => {
            BrokerError::Rejected(err.to_string())
        }
        PublishErrorKind::Send => BrokerError::Closed,
    }
}

#[async_trait]
impl Broker for NatsBroker {
    async fn publish(&self, message: Message) -> Result<(), BrokerError> {
        validate_subject(&message.subject)?;
        let headers = to_header_map(&message.headers)?;
        let Message {
            subject,
            body,
            reply_to,
            ..
        } = message;
        let result = match (reply_to, headers) {
            (None, None) => self.client.publish(subject, body).await,
            (None, Some(h)) => self.client.publish_with_headers(subject, h, body).await,
            (Some(r), None) => self.client.publish_with_reply(subject, r, body).await,
            (Some(r), Some(h)) => {
                self.client
                    .publish_with_reply_and_headers(subject, r, h, body)
                    .await
            }
        };
        result.map_err(publish_error)
    }

    async fn subscribe(
        &self,
        pattern: &str,
        queue_group: Option<&str>,
        _capacity: usize,
    ) -> Result<Subscription, BrokerError> {
        validate_pattern(pattern)?;
        let subscriber = match queue_group {
            Some(group) => {
                validate_queue_group(group)?;
                self.client
                    .queue_subscribe(pattern.to_owned(), group.to_owned())
                    .await
            }
            None => self.client.subscribe(pattern.to_owned()).await,
        }
        .map_err(|e| BrokerError::Connection(e.to_string()))?;
        // Round-trip to the server so the subscription is active there
        // before we return (publishers on other connections see it). With a
        // NATS cluster, interest still reaches other servers asynchronously.
        self.flush().await?;
        Ok(bounded(subscriber, self.slow_consumer_drops.clone()))
    }

    async fn request(&self, message: Message, timeout: Duration) -> Result<Message, BrokerError> {
        validate_subject(&message.subject)?;
        let mut request = async_nats::Request::new()
            .payload(message.body)
            .timeout(Some(timeout));
        if let Some(headers) = to_header_map(&message.headers)? {
            request = request.headers(headers);
        }
        let subject = message.subject;
        match self.client.send_request(subject.clone(), request).await {
            Ok(reply) => Ok(from_nats(reply)),
            Err(err) => Err(match err.kind() {
                RequestErrorKind::NoResponders => BrokerError::NoResponders { subject },
                RequestErrorKind::TimedOut => BrokerError::Timeout {
                    subject,
                    after: timeout,
                },
                RequestErrorKind::InvalidSubject | RequestErrorKind::MaxPayloadExceeded => {
                    BrokerError::Rejected(err.to_string())
                }
                RequestErrorKind::Other => BrokerError::Connection(err.to_string()),
            }),
        }
    }

    /// A round trip through the server: a message to a fresh inbox this
    /// connection subscribes to. The server handles one connection's
    /// commands in order, so once it comes back every earlier publish,
    /// subscribe and unsubscribe has been processed (`async-nats`'s own
    /// `flush` only empties the socket buffer).
    async fn flush(&self) -> Result<(), BrokerError> {
        let inbox = self.client.new_inbox();
        let mut echo = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| BrokerError::Connection(e.to_string()))?;
        self.client
            .publish(inbox, bytes::Bytes::new())
            .await
            .map_err(publish_error)?;
        match tokio::time::timeout(FLUSH_TIMEOUT, echo.next()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(BrokerError::Closed),
            Err(_) => Err(BrokerError::Connection(format!(
                "the NATS server did not answer within {FLUSH_TIMEOUT:?}"
            ))),
        }
    }

    async fn subscribe_durable(
        &self,
        spec: &crate::durable::DurableSpec,
    ) -> Result<crate::durable::DurableSubscription, BrokerError> {
        validate_pattern(&spec.topic)?;
        crate::jetstream::subscribe_durable(&self.client, spec).await
    }

    fn dropped(&self) -> u64 {
        NatsBroker::dropped(self)
    }

    fn name(&self) -> &'static str {
        "nats"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_conversion() {
        let headers = vec![
            ("X-Id".to_owned(), "1".to_owned()),
            ("X-Id".to_owned(), "2".to_owned()),
        ];
        let map = to_header_map(&headers).ok().flatten();
        let values: Vec<_> = map
            .as_ref()
            .map(|m| m.get_all("X-Id").map(|v| v.as_str().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(values, ["1", "2"]);
        assert!(matches!(to_header_map(&[]), Ok(None)));
        for (name, value) in [("bad:name", "v"), ("bad name", "v"), ("ok", "a\r\nb")] {
            let bad = vec![(name.to_owned(), value.to_owned())];
            assert!(
                matches!(to_header_map(&bad), Err(BrokerError::InvalidHeader { .. })),
                "{name:?} {value:?}"
            );
        }
    }
}
