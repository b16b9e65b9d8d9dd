//! The NATS broker against a real `nats-server` (started per test on a free
//! loopback port). Two `NatsBroker` clients stand for two hosts.
//!
//! These tests fail, not skip, when `nats-server` is missing:
//! scripts/test.sh installs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/nats_server.rs"]
mod nats_server;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nats_server::NatsServer;
use wharf_messaging::{Broker, BrokerError, Message, NatsBroker};

async fn connect(server: &NatsServer) -> NatsBroker {
    NatsBroker::connect(&server.url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_group_across_two_hosts_delivers_each_message_exactly_once() {
    const N: usize = 1_000;
    let server = NatsServer::start();
    let host_a = connect(&server).await;
    let host_b = connect(&server).await;

    // Three members of one group: two on host A, one on host B.
    let mut members = vec![
        (
            "a1",
            host_a
                .subscribe("jobs.*", Some("workers"), N)
                .await
                .unwrap(),
        ),
        (
            "a2",
            host_a
                .subscribe("jobs.*", Some("workers"), N)
                .await
                .unwrap(),
        ),
        (
            "b1",
            host_b
                .subscribe("jobs.*", Some("workers"), N)
                .await
                .unwrap(),
        ),
    ];

    // Read concurrently while publishing, as real hosts would. A reader
    // stops once all members together have N messages and it has been
    // quiet for a moment (time for any duplicate to show up), or at a
    // generous deadline.
    let total = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    let readers: Vec<_> = members
        .drain(..)
        .map(|(name, mut sub)| {
            let total = Arc::clone(&total);
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    match tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
                        Ok(Some(m)) => {
                            total.fetch_add(1, Ordering::SeqCst);
                            got.push(m);
                        }
                        Ok(None) => break,
                        Err(_) if total.load(Ordering::SeqCst) >= N => break,
                        Err(_) if Instant::now() > deadline => break,
                        Err(_) => {}
                    }
                }
                (name, got)
            })
        })
        .collect();

    for i in 0..N {
        host_a
            .publish(Message::new("jobs.new", "work").with_header("msg-id", i.to_string()))
            .await
            .unwrap();
    }
    host_a.flush().await.unwrap();

    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut per_member = HashMap::new();
    for reader in readers {
        let (name, got) = reader.await.unwrap();
        per_member.insert(name, got.len());
        for m in got {
            assert_eq!(m.subject, "jobs.new");
            *counts
                .entry(m.header("msg-id").unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(
        counts.len(),
        N,
        "every message handled; per member: {per_member:?}"
    );
    assert!(counts.values().all(|&c| c == 1), "no message handled twice");
    // The server spreads the group over both hosts.
    assert!(per_member["b1"] > 0, "{per_member:?}");
    assert!(per_member["a1"] + per_member["a2"] > 0, "{per_member:?}");
    assert_eq!(host_a.dropped() + host_b.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_across_hosts() {
    let server = NatsServer::start();
    let host_a = connect(&server).await;
    let host_b = connect(&server).await;
    let mut on_a = host_a.subscribe("news.>", None, 16).await.unwrap();
    let mut on_b = host_b.subscribe("news.*", None, 16).await.unwrap();
    host_b
        .publish(Message::new("news.sport", "goal"))
        .await
        .unwrap();
    host_b.flush().await.unwrap();
    assert_eq!(&on_a.next().await.unwrap().body[..], b"goal");
    assert_eq!(&on_b.next().await.unwrap().body[..], b"goal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_across_hosts() {
    let server = NatsServer::start();
    let requester = connect(&server).await;
    let responder = connect(&server).await;

    let mut sub = responder
        .subscribe("svc.echo", Some("echoers"), 16)
        .await
        .unwrap();
    let replier = responder.clone();
    let echo = tokio::spawn(async move {
        while let Some(request) = sub.next().await {
            let reply_to = request.reply_to.clone().unwrap();
            let body = String::from_utf8_lossy(&request.body).to_uppercase();
            let reply = Message::new(reply_to, body)
                .with_header("replied-by", "echo")
                .with_header("request-id", request.header("request-id").unwrap_or("-"));
            replier.publish(reply).await.unwrap();
        }
    });

    let reply = requester
        .request(
            Message::new("svc.echo", "hello").with_header("request-id", "42"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(&reply.body[..], b"HELLO");
    assert_eq!(reply.header("replied-by"), Some("echo"));
    assert_eq!(reply.header("request-id"), Some("42"));

    // Nobody listens here: the server answers "no responders" at once.
    let started = Instant::now();
    let err = requester
        .request(Message::new("svc.nobody", "?"), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::NoResponders { subject } if subject == "svc.nobody"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Someone listens but never replies.
    let _silent = responder.subscribe("svc.silent", None, 16).await.unwrap();
    let err = requester
        .request(Message::new("svc.silent", "?"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::Timeout { subject, after }
            if subject == "svc.silent" && *after == Duration::from_millis(200)),
        "{err:?}"
    );
    echo.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_reply_to_are_carried_end_to_end() {
    let server = NatsServer::start();
    let host_a = connect(&server).await;
    let host_b = connect(&server).await;
    let mut sub = host_b.subscribe("h.test", None, 16).await.unwrap();

    let sent = Message::new("h.test", &b"\x00binary\xffbody"[..])
        .with_header("X-Trace", "abc")
        .with_header("X-Multi", "1")
        .with_header("X-Multi", "2")
        .with_header("Content-Type", "application/octet-stream")
        .with_reply_to("replies.here");
    host_a.publish(sent.clone()).await.unwrap();
    host_a.flush().await.unwrap();

    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject, sent.subject);
    assert_eq!(got.body, sent.body);
    assert_eq!(got.reply_to, sent.reply_to);
    // Values of one name keep their order; order across names is not kept.
    assert_eq!(got.header_values("X-Multi").collect::<Vec<_>>(), ["1", "2"]);
    let mut expected = sent.headers.clone();
    let mut actual = got.headers.clone();
    expected.sort();
    actual.sort();
    assert_eq!(actual, expected);

    // Without headers, none arrive.
    host_a
        .publish(Message::new("h.test", "plain"))
        .await
        .unwrap();
    host_a.flush().await.unwrap();
    let got = sub.next().await.unwrap();
    assert!(got.headers.is_empty());
    assert_eq!(got.reply_to, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_refused_before_reaching_the_server() {
    let server = NatsServer::start();
    let broker = connect(&server).await;
    assert_eq!(broker.name(), "nats");
    let err = broker.publish(Message::new("a.*", "")).await.unwrap_err();
    assert!(matches!(err, BrokerError::InvalidSubject(_)), "{err:?}");
    let err = broker.subscribe("a.>.b", None, 1).await.unwrap_err();
    assert!(matches!(err, BrokerError::InvalidSubject(_)), "{err:?}");
    let err = broker
        .publish(Message::new("a", "").with_header("bad:name", "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::InvalidHeader { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_subscription_unsubscribes_at_the_server() {
    let server = NatsServer::start();
    let broker = connect(&server).await;
    let sub = broker.subscribe("svc.once", None, 1).await.unwrap();
    drop(sub);
    broker.flush().await.unwrap();
    // Once the UNSUB reached the server, requests find no responders.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match broker
            .request(Message::new("svc.once", ""), Duration::from_millis(200))
            .await
        {
            Err(BrokerError::NoResponders { .. }) => break,
            other if Instant::now() > deadline => panic!("still subscribed: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_with_jetstream_starts() {
    let server = NatsServer::start_with_jetstream();
    assert!(server.store_dir().is_some_and(|d| d.is_dir()));
    let broker = connect(&server).await;
    let mut sub = broker.subscribe("js.smoke", None, 1).await.unwrap();
    broker
        .publish(Message::new("js.smoke", "ok"))
        .await
        .unwrap();
    broker.flush().await.unwrap();
    assert_eq!(&sub.next().await.unwrap().body[..], b"ok");
}

#[tokio::test]
async fn connecting_to_nothing_fails_with_context() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let err = NatsBroker::connect(&url).await.unwrap_err();
    assert!(format!("{err:#}").contains(&url), "{err:#}");
}
