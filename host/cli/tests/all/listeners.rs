//! Listener attacks (issue #15, hole 8): slowloris on the admin listener,
//! silent connections, connection floods. Each attack must fail and a
//! well-behaved request on the same listener must still be answered.
//! Public and admin listeners share one accept loop
//! (`wharf_http::serve_with`), so the limits are tested on both.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wharf_admin::{AdminState, ServeOptions, serve_admin_with};
use wharf_metrics::Metrics;
use wharf_test_artifacts as art;

use crate::common::{InProcessHost, client};

/// Waits (at most `within`) for the server to close `stream`; true if it did.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = Vec::new();
    matches!(
        tokio::time::timeout(within, stream.read_to_end(&mut buf)).await,
        Ok(Ok(_)) | Ok(Err(_))
    )
}

/// An admin listener (token `t`) on an ephemeral port with `options`.
async fn admin_listener(options: ServeOptions) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let state = Arc::new(AdminState::new(
        Arc::new(Metrics::new().unwrap()),
        "t".into(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_admin_with(listener, state, false, options, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

async fn healthz(addr: SocketAddr) -> (u16, String) {
    let r = client()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn hello_manifest(component: &str) -> wharf_manifest::Manifest {
    wharf_manifest::Manifest::single_component(Path::new(component)).unwrap()
}

#[tokio::test]
async fn a_half_sent_head_on_the_admin_listener_is_cut_by_the_header_timeout() {
    let (addr, _stop) = admin_listener(ServeOptions {
        header_read_timeout: Duration::from_millis(500),
        // Longer than the test: only the head timer may end the attack.
        idle_timeout: Duration::from_secs(60),
        ..ServeOptions::admin()
    })
    .await;
    let mut attacker = TcpStream::connect(addr).await.unwrap();
    attacker
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The neighbour is answered while the attacker holds its connection.
    assert_eq!(healthz(addr).await, (200, "ok\n".into()));
    assert!(
        closed_by_server(&mut attacker, Duration::from_secs(5)).await,
        "the admin listener kept a half-sent head open"
    );
    assert_eq!(healthz(addr).await, (200, "ok\n".into()));
}

#[tokio::test]
async fn an_oversized_head_on_the_admin_listener_gets_431() {
    let (addr, _stop) = admin_listener(ServeOptions::admin()).await;
    let r = client()
        .get(format!("http://{addr}/healthz"))
        .header("x-big", "a".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert_eq!(healthz(addr).await, (200, "ok\n".into()));
}

#[tokio::test]
async fn a_silent_connection_on_the_public_listener_is_closed_by_the_idle_timeout() {
    let host = InProcessHost::start_with(
        hello_manifest(art::HTTP_SLEEP_COMPONENT),
        wharf_http::ServeOptions {
            idle_timeout: Duration::from_millis(500),
            // Longer than the test: only the idle timer may end the attack.
            header_read_timeout: Duration::from_secs(60),
            ..wharf_http::ServeOptions::default()
        },
    )
    .await;
    // Sends nothing at all: not even enough for the HTTP/1-or-2 sniff.
    let mut silent = TcpStream::connect(host.addr).await.unwrap();
    // A request that runs three times the idle timeout is in flight, not
    // idle: it must be answered.
    let r = client()
        .get(host.url("/sleep?ms=1500"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slept 1500\n");
    assert!(
        closed_by_server(&mut silent, Duration::from_secs(5)).await,
        "the public listener kept a silent connection open"
    );
    // A half HTTP/2 preface is no better.
    let mut half_preface = TcpStream::connect(host.addr).await.unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(closed_by_server(&mut half_preface, Duration::from_secs(5)).await);
    let r = client().get(host.url("/sleep?ms=1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_silent_connection_on_the_admin_listener_is_closed_by_the_idle_timeout() {
    let (addr, _stop) = admin_listener(ServeOptions {
        idle_timeout: Duration::from_millis(500),
        ..ServeOptions::admin()
    })
    .await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(healthz(addr).await, (200, "ok\n".into()));
    assert!(closed_by_server(&mut silent, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_connection_flood_past_the_cap_is_closed_and_a_normal_request_still_answers() {
    const CAP: usize = 4;
    let host = InProcessHost::start_with(
        hello_manifest(art::HTTP_HELLO_COMPONENT),
        wharf_http::ServeOptions {
            max_connections: CAP,
            // Long enough that the held connections outlive the flood.
            idle_timeout: Duration::from_secs(3),
            ..wharf_http::ServeOptions::default()
        },
    )
    .await;
    // The attacker fills the cap with silent connections...
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(TcpStream::connect(host.addr).await.unwrap());
    }
    // ...let the host accept them before flooding on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Every connection past the cap is closed at once (well before the
    // idle timeout), so the flood holds no more than CAP sockets.
    for i in 0..16 {
        let mut extra = TcpStream::connect(host.addr).await.unwrap();
        assert!(
            closed_by_server(&mut extra, Duration::from_millis(800)).await,
            "connection {i} past the cap was kept open"
        );
    }
    // The held ones go at the idle timeout, which frees the slots: a normal
    // client is served.
    for mut stream in held {
        assert!(closed_by_server(&mut stream, Duration::from_secs(5)).await);
    }
    let r = client().get(host.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello from http_hello\n");
}

#[tokio::test]
async fn a_connection_flood_past_the_admin_cap_is_closed() {
    const CAP: usize = 2;
    let (addr, _stop) = admin_listener(ServeOptions {
        max_connections: CAP,
        idle_timeout: Duration::from_secs(3),
        ..ServeOptions::admin()
    })
    .await;
    let held: Vec<_> = futures::future::join_all((0..CAP).map(|_| TcpStream::connect(addr)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut extra, Duration::from_millis(800)).await);
    drop(held);
    // Slots come back when connections end.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(healthz(addr).await, (200, "ok\n".into()));
}
