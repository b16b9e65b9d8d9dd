//! The JetStream backends against a real `nats-server -js` on a loopback
//! port: the record's compare-and-swap between two hosts, and components
//! shared through the object store, verified on the way in and out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../messaging/tests/support/nats_server.rs"]
mod nats_server;

use std::collections::BTreeSet;

use wharf_cluster::Cluster;
use wharf_deploy::store::RecordConflict;
use wharf_deploy::{DeploymentRecord, Digest};

async fn join(nats: &nats_server::NatsServer, state: &std::path::Path) -> Cluster {
    let client = async_nats::connect(&nats.url).await.unwrap();
    Cluster::join(
        client,
        "unit",
        state,
        wharf_cluster::RecordSigning::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_save_based_on_a_stale_record_is_refused() {
    let nats = nats_server::NatsServer::start_with_jetstream();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = join(&nats, dirs[0].path()).await;
    let b = join(&nats, dirs[1].path()).await;
    assert_ne!(a.host_id(), b.host_id());
    let (ra, rb) = (a.records(), b.records());
    assert_eq!(ra.load().await.unwrap(), None);
    assert_eq!(rb.load().await.unwrap(), None);

    // Both start from nothing; the first save wins, the second conflicts.
    let first = DeploymentRecord {
        revision: 1,
        ..Default::default()
    };
    ra.save(&first).await.unwrap();
    let err = rb.save(&first).await.unwrap_err();
    assert!(err.downcast_ref::<RecordConflict>().is_some(), "{err:#}");

    // Once b has read the latest, it can build on it; then a is stale.
    assert_eq!(rb.load().await.unwrap(), Some(first.clone()));
    let second = DeploymentRecord {
        revision: 2,
        ..Default::default()
    };
    rb.save(&second).await.unwrap();
    let err = ra.save(&second).await.unwrap_err();
    assert!(err.downcast_ref::<RecordConflict>().is_some(), "{err:#}");
    assert_eq!(ra.load().await.unwrap(), Some(second));
}

#[tokio::test]
async fn components_are_shared_and_verified() {
    let nats = nats_server::NatsServer::start_with_jetstream();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = join(&nats, dirs[0].path()).await;
    let b = join(&nats, dirs[1].path()).await;
    let bytes = b"\0asm pretend component".to_vec();
    let digest = a.components().put(&bytes).await.unwrap();
    assert_eq!(digest, Digest::of(&bytes));
    // b has no local copy but finds it in the object store, and caches it.
    assert!(b.components().contains(&digest).await.unwrap());
    assert_eq!(
        b.components().get(&digest).await.unwrap(),
        Some(bytes.clone())
    );
    let cached = dirs[1]
        .path()
        .join(format!("components/sha256/{}.wasm", digest.hex()));
    assert_eq!(std::fs::read(&cached).unwrap(), bytes);
    // Garbage collection only touches the local cache.
    assert_eq!(b.components().retain(&BTreeSet::new()).await.unwrap(), 1);
    assert!(b.components().contains(&digest).await.unwrap());

    // Other bytes planted under a digest are refused, naming both digests.
    let wanted = Digest::of(b"the real thing");
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    let objects = js.get_object_store("wharf-unit-components").await.unwrap();
    objects
        .put(wanted.to_string().as_str(), &mut &b"something else"[..])
        .await
        .unwrap();
    let err = b.components().get(&wanted).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&wanted.to_string()), "{msg}");
    assert!(
        msg.contains(&Digest::of(b"something else").to_string()),
        "{msg}"
    );
    assert!(
        !cached
            .with_file_name(format!("{}.wasm", wanted.hex()))
            .exists()
    );
    // The object store's own checksum does not match the name either, so
    // `contains` says no, and an honest upload replaces the planted copy.
    assert!(!b.components().contains(&wanted).await.unwrap());
    assert_eq!(a.components().put(b"the real thing").await.unwrap(), wanted);
    assert_eq!(
        b.components().get(&wanted).await.unwrap(),
        Some(b"the real thing".to_vec())
    );
}
