//! Both backends through the [`Backend`] trait, against the real thing: a
//! redb file in a temporary directory and a real `nats-server -js` on a
//! loopback port. The same checks run on each, so the two behave alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use wharf_keyvalue::{Backend, EmbeddedBackend, NatsBackend, Swap};

#[path = "../../messaging/tests/support/nats_server.rs"]
mod nats_server;

async fn compare_and_swap_succeeds_only_on_the_expected_value(kv: &dyn Backend) {
    let s = "cas";
    // Create-if-absent.
    assert_eq!(
        kv.compare_and_swap(s, "k", None, b"one").await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(
        kv.compare_and_swap(s, "k", None, b"two").await.unwrap(),
        Swap::Conflict
    );
    assert_eq!(kv.get(s, "k").await.unwrap().as_deref(), Some(&b"one"[..]));
    // Swap from the current value; a stale expectation conflicts.
    assert_eq!(
        kv.compare_and_swap(s, "k", Some(b"one"), b"two")
            .await
            .unwrap(),
        Swap::Swapped
    );
    assert_eq!(
        kv.compare_and_swap(s, "k", Some(b"one"), b"three")
            .await
            .unwrap(),
        Swap::Conflict
    );
    assert_eq!(kv.get(s, "k").await.unwrap().as_deref(), Some(&b"two"[..]));
    // A deleted key counts as absent again.
    kv.delete(s, "k").await.unwrap();
    assert_eq!(
        kv.compare_and_swap(s, "k", Some(b"two"), b"x")
            .await
            .unwrap(),
        Swap::Conflict
    );
    assert_eq!(
        kv.compare_and_swap(s, "k", None, b"back").await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(kv.get(s, "k").await.unwrap().as_deref(), Some(&b"back"[..]));
}

/// Many tasks race to CAS-increment one value; every success is counted
/// exactly once, so the final value equals the number of successes.
async fn racing_swaps_never_lose_an_update(kv: Arc<dyn Backend>) {
    let s = "race";
    kv.set(s, "n", b"0").await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let kv = kv.clone();
            tokio::spawn(async move {
                let mut wins = 0u64;
                for _ in 0..10 {
                    // Bounded retries: a conflict means someone else won.
                    for _ in 0..200 {
                        let current = kv.get(s, "n").await.unwrap().unwrap();
                        let n: u64 = std::str::from_utf8(&current).unwrap().parse().unwrap();
                        let next = (n + 1).to_string();
                        match kv
                            .compare_and_swap(s, "n", Some(&current), next.as_bytes())
                            .await
                            .unwrap()
                        {
                            Swap::Swapped => {
                                wins += 1;
                                break;
                            }
                            Swap::Conflict => continue,
                        }
                    }
                }
                wins
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += task.await.unwrap();
    }
    assert_eq!(wins, 80);
    assert_eq!(kv.get(s, "n").await.unwrap().as_deref(), Some(&b"80"[..]));
    assert_eq!(kv.increment(s, "n", 20).await.unwrap(), 100);
}

async fn check(kv: Arc<dyn Backend>) {
    compare_and_swap_succeeds_only_on_the_expected_value(&*kv).await;
    racing_swaps_never_lose_an_update(kv.clone()).await;
    // Overflow and non-counters are errors that change nothing.
    kv.set("c", "max", u64::MAX.to_string().as_bytes())
        .await
        .unwrap();
    let e = kv.increment("c", "max", 1).await.unwrap_err();
    assert!(format!("{e:#}").contains("overflows"), "{e:#}");
    kv.set("c", "text", b"hello").await.unwrap();
    let e = kv.increment("c", "text", 1).await.unwrap_err();
    assert!(format!("{e:#}").contains("not a counter"), "{e:#}");
    assert_eq!(
        kv.get("c", "text").await.unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    // An empty store lists nothing.
    let page = kv.list_keys("empty", 0, 10).await.unwrap();
    assert!(page.keys.is_empty() && page.cursor.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend_compare_and_swap_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    check(Arc::new(EmbeddedBackend::open(dir.path()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend_keeps_data_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kv = EmbeddedBackend::open(dir.path()).unwrap();
        kv.set("s", "k", b"v").await.unwrap();
    }
    let kv = EmbeddedBackend::open(dir.path()).unwrap();
    assert_eq!(kv.get("s", "k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_host_on_the_same_state_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedBackend::open(dir.path()).unwrap();
    let second = EmbeddedBackend::open(dir.path());
    let error = format!("{:#}", second.err().expect("the database is locked"));
    assert!(error.contains("keyvalue.redb"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_backend_compare_and_swap_maps_to_revisions() {
    let nats = nats_server::NatsServer::start_with_jetstream();
    check(Arc::new(
        NatsBackend::connect(&nats.url, wharf_messaging::Namespace::for_app("test", None))
            .await
            .unwrap(),
    ))
    .await;
    // A second client sees the same buckets.
    let other = NatsBackend::connect(&nats.url, wharf_messaging::Namespace::for_app("test", None))
        .await
        .unwrap();
    assert_eq!(
        other.get("race", "n").await.unwrap().as_deref(),
        Some(&b"100"[..])
    );
}
