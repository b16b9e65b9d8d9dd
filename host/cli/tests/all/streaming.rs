//! Bodies stream both ways: 100 MiB up and down through the `wharf`
//! binary, with the host's peak memory staying far below the body size.

use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};
use wharf_test_artifacts as art;

use crate::common::{ChildHost, client};

const SIZE: u64 = 100 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;

fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((offset + i) % 251) as u8)
        .collect()
}

/// Peak RSS may grow by at most this much while 100 MiB pass each way.
const MAX_RSS_GROWTH: u64 = 40 * 1024 * 1024;

#[tokio::test]
async fn streams_100_mib_each_way_with_bounded_host_memory() {
    let host = ChildHost::start(std::path::Path::new(art::HTTP_STREAM_COMPONENT), &[]);
    let client = client();
    // Warm up so the baseline includes the first instantiation.
    let warm = client
        .get(host.url("/download?size=1024"))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.bytes().await.unwrap().len(), 1024);
    let baseline = host.peak_rss();

    // Upload: the client generates the body lazily, so neither side can
    // hold it whole unless it buffers.
    let chunks = SIZE / CHUNK as u64;
    let mut expected = Sha256::new();
    for i in 0..chunks {
        expected.update(pattern(i * CHUNK as u64, CHUNK));
    }
    let expected = format!("{:x}", expected.finalize());
    let body = futures::stream::iter(0..chunks)
        .map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(pattern(i * CHUNK as u64, CHUNK))));
    let response = client
        .post(host.url("/upload"))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        format!("bytes={SIZE} sha256={expected}\n")
    );

    // Download: no content-length, so it must arrive chunked.
    let response = client
        .get(host.url(&format!("/download?size={SIZE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.as_ref(), pattern(received, chunk.len()).as_slice());
        received += chunk.len() as u64;
    }
    assert_eq!(received, SIZE);

    let growth = host.peak_rss().saturating_sub(baseline);
    assert!(
        growth < MAX_RSS_GROWTH,
        "host peak RSS grew by {} MiB while streaming",
        growth / (1024 * 1024)
    );
}

#[tokio::test]
async fn echoes_a_streamed_body_back_as_it_arrives() {
    let host = ChildHost::start(std::path::Path::new(art::HTTP_STREAM_COMPONENT), &[]);
    let payload = pattern(7, 3 * 1024 * 1024 + 17);
    let response = client()
        .post(host.url("/echo"))
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), payload.as_slice());
}
