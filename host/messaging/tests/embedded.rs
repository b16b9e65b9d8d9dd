//! Delivery rules of the embedded broker: fan-out, queue groups, wildcards,
//! request/reply and back-pressure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use wharf_messaging::{Broker, BrokerError, EmbeddedBroker, Message, Subscription};

/// Everything the subscription yields until it has been quiet for `quiet`.
async fn drain(sub: &mut Subscription, quiet: Duration) -> Vec<Message> {
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, sub.next()).await {
        out.push(m);
    }
    out
}

fn bodies(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

const QUIET: Duration = Duration::from_millis(100);

#[tokio::test]
async fn fan_out_to_every_subscriber() {
    let broker = EmbeddedBroker::new();
    let mut a = broker.subscribe("news.sport", None, 16).await.unwrap();
    let mut b = broker.subscribe("news.sport", None, 16).await.unwrap();
    for i in 0..3 {
        broker
            .publish(Message::new("news.sport", format!("m{i}")))
            .await
            .unwrap();
    }
    assert_eq!(bodies(&drain(&mut a, QUIET).await), ["m0", "m1", "m2"]);
    assert_eq!(bodies(&drain(&mut b, QUIET).await), ["m0", "m1", "m2"]);
    assert_eq!(broker.dropped(), 0);
}

#[tokio::test]
async fn publish_without_subscribers_is_fine() {
    let broker = EmbeddedBroker::new();
    broker
        .publish(Message::new("nobody.home", "x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn queue_group_delivers_each_message_exactly_once() {
    const N: usize = 1_000;
    let broker = EmbeddedBroker::new();
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            broker
                .subscribe("jobs.*", Some("workers"), N)
                .await
                .unwrap(),
        );
    }
    // A plain subscriber on the same subjects still sees everything.
    let mut observer = broker.subscribe("jobs.>", None, N).await.unwrap();
    // A second group gets its own copy of each message.
    let mut auditor = broker
        .subscribe("jobs.new", Some("audit"), N)
        .await
        .unwrap();

    for i in 0..N {
        broker
            .publish(Message::new("jobs.new", "work").with_header("msg-id", i.to_string()))
            .await
            .unwrap();
    }

    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut per_member = Vec::new();
    for member in &mut members {
        let got = drain(member, QUIET).await;
        per_member.push(got.len());
        for m in got {
            *counts
                .entry(m.header("msg-id").unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(counts.len(), N, "every message handled");
    assert!(counts.values().all(|&c| c == 1), "no message handled twice");
    // Round-robin: as even as possible.
    per_member.sort_unstable();
    assert_eq!(per_member, [333, 333, 334]);
    assert_eq!(drain(&mut observer, QUIET).await.len(), N);
    assert_eq!(drain(&mut auditor, QUIET).await.len(), N);
}

#[tokio::test]
async fn queue_group_member_leaving_does_not_lose_messages() {
    let broker = EmbeddedBroker::new();
    let mut stay = broker.subscribe("q", Some("g"), 100).await.unwrap();
    let leave = broker.subscribe("q", Some("g"), 100).await.unwrap();
    drop(leave);
    for i in 0..10 {
        broker
            .publish(Message::new("q", i.to_string()))
            .await
            .unwrap();
    }
    assert_eq!(drain(&mut stay, QUIET).await.len(), 10);
}

#[tokio::test]
async fn wildcards() {
    let broker = EmbeddedBroker::new();
    let mut one = broker.subscribe("orders.*", None, 16).await.unwrap();
    let mut tail = broker.subscribe("orders.>", None, 16).await.unwrap();
    let mut all = broker.subscribe(">", None, 16).await.unwrap();
    let mut middle = broker
        .subscribe("orders.*.created", None, 16)
        .await
        .unwrap();
    let mut exact = broker.subscribe("orders", None, 16).await.unwrap();

    for subject in [
        "orders",
        "orders.1",
        "orders.1.created",
        "orders.1.paid",
        "other",
    ] {
        broker
            .publish(Message::new(subject, subject))
            .await
            .unwrap();
    }

    assert_eq!(bodies(&drain(&mut one, QUIET).await), ["orders.1"]);
    assert_eq!(
        bodies(&drain(&mut tail, QUIET).await),
        ["orders.1", "orders.1.created", "orders.1.paid"]
    );
    assert_eq!(drain(&mut all, QUIET).await.len(), 5);
    assert_eq!(
        bodies(&drain(&mut middle, QUIET).await),
        ["orders.1.created"]
    );
    assert_eq!(bodies(&drain(&mut exact, QUIET).await), ["orders"]);
    // The subject is the one published to, not the pattern.
    broker.publish(Message::new("orders.9", "")).await.unwrap();
    assert_eq!(one.next().await.unwrap().subject, "orders.9");
}

/// Replies to every request on `subject` with the body upper-cased.
fn spawn_echo(broker: EmbeddedBroker, mut sub: Subscription) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(request) = sub.next().await {
            let Some(reply_to) = request.reply_to.clone() else {
                continue;
            };
            let body = String::from_utf8_lossy(&request.body).to_uppercase();
            let reply = Message::new(reply_to, body).with_header("replied-by", "echo");
            broker.publish(reply).await.unwrap();
        }
    })
}

#[tokio::test]
async fn request_reply() {
    let broker = EmbeddedBroker::new();
    let sub = broker
        .subscribe("svc.echo", Some("echoers"), 16)
        .await
        .unwrap();
    let echo = spawn_echo(broker.clone(), sub);

    let reply = broker
        .request(Message::new("svc.echo", "hello"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&reply.body[..], b"HELLO");
    assert_eq!(reply.header("replied-by"), Some("echo"));
    assert!(reply.subject.starts_with("_INBOX."), "{}", reply.subject);

    // Concurrent requests each get their own reply.
    let requests = (0..20).map(|i| {
        let broker = broker.clone();
        async move {
            broker
                .request(
                    Message::new("svc.echo", format!("r{i}")),
                    Duration::from_secs(5),
                )
                .await
                .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        }
    });
    let replies: Vec<_> = futures::future::join_all(requests).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), format!("R{i}"));
    }
    // Inbox subscriptions are gone once requests complete.
    assert_eq!(broker.subscription_count(), 1);
    echo.abort();
}

#[tokio::test]
async fn request_times_out_when_nobody_replies() {
    let broker = EmbeddedBroker::new();
    let _silent = broker.subscribe("svc.silent", None, 16).await.unwrap();
    let started = Instant::now();
    let err = broker
        .request(Message::new("svc.silent", "?"), Duration::from_millis(100))
        .await
        .unwrap_err();
    match err {
        BrokerError::Timeout { subject, after } => {
            assert_eq!(subject, "svc.silent");
            assert_eq!(after, Duration::from_millis(100));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn request_without_subscribers_fails_at_once() {
    let broker = EmbeddedBroker::new();
    let started = Instant::now();
    let err = broker
        .request(Message::new("svc.none", "?"), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::NoResponders { subject } if subject == "svc.none"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    // A responder that went away counts as none.
    let gone = broker.subscribe("svc.gone", None, 1).await.unwrap();
    drop(gone);
    let err = broker
        .request(Message::new("svc.gone", "?"), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NoResponders { .. }), "{err:?}");
}

#[tokio::test]
async fn full_subscriber_drops_after_the_wait_and_counts_it() {
    let broker = EmbeddedBroker::with_full_wait(Duration::from_millis(50));
    // Never read while publishing.
    let mut stuck = broker.subscribe("load", None, 2).await.unwrap();
    let mut healthy = broker.subscribe("load", None, 100).await.unwrap();

    let started = Instant::now();
    for i in 0..5 {
        broker
            .publish(Message::new("load", i.to_string()))
            .await
            .unwrap();
    }
    // The three that did not fit each waited the bound, then were dropped.
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(broker.dropped(), 3);
    assert_eq!(Broker::dropped(&broker), 3);
    assert_eq!(bodies(&drain(&mut stuck, QUIET).await), ["0", "1"]);
    // The other subscriber lost nothing.
    assert_eq!(drain(&mut healthy, QUIET).await.len(), 5);
}

#[tokio::test]
async fn slow_subscriber_within_the_wait_loses_nothing() {
    let broker = EmbeddedBroker::with_full_wait(Duration::from_secs(5));
    let mut slow = broker.subscribe("slow", None, 1).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 20 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            got.push(slow.next().await.unwrap());
        }
        got
    });
    for i in 0..20 {
        broker
            .publish(Message::new("slow", i.to_string()))
            .await
            .unwrap();
    }
    let got = reader.await.unwrap();
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(bodies(&got), expected);
    assert_eq!(broker.dropped(), 0);
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    let broker = EmbeddedBroker::new();
    let a = broker.subscribe("x.*", None, 4).await.unwrap();
    let _b = broker.subscribe("x.y", Some("g"), 4).await.unwrap();
    assert_eq!(broker.subscription_count(), 2);
    drop(a);
    assert_eq!(broker.subscription_count(), 1);
}

#[tokio::test]
async fn invalid_subjects_are_refused() {
    let broker = EmbeddedBroker::new();
    for subject in ["", "a.*", "a.>", "a..b", "a b"] {
        let err = broker.publish(Message::new(subject, "")).await.unwrap_err();
        assert!(
            matches!(err, BrokerError::InvalidSubject(_)),
            "{subject:?}: {err:?}"
        );
    }
    for pattern in ["", "a.>.b", "a..b", "a*"] {
        let err = broker.subscribe(pattern, None, 1).await.unwrap_err();
        assert!(
            matches!(err, BrokerError::InvalidSubject(_)),
            "{pattern:?}: {err:?}"
        );
    }
    let err = broker
        .subscribe("a", Some("has space"), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::InvalidSubject(_)), "{err:?}");
    let err = broker
        .request(Message::new("a.*", ""), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::InvalidSubject(_)), "{err:?}");
}

#[tokio::test]
async fn usable_as_a_trait_object() {
    let broker: std::sync::Arc<dyn Broker> = std::sync::Arc::new(EmbeddedBroker::new());
    assert_eq!(broker.name(), "embedded");
    let mut sub = broker.subscribe("t", None, 1).await.unwrap();
    broker
        .publish(Message::new("t", "x").with_reply_to("r.1"))
        .await
        .unwrap();
    broker.flush().await.unwrap();
    let got = sub.next().await.unwrap();
    assert_eq!(got.reply_to.as_deref(), Some("r.1"));
}
