//! WASI 0.3 (`wasi:http/handler@0.3.x`) services beside WASI 0.2 ones: the
//! HTTP contract, the grants and limits, the pre-release refusal and a
//! hot swap between the two releases. The guests are `p3_service`
//! (`wasip3` 0.10, WASI 0.3.2 imports) and `p3_service_0_3_0` (`wasip3` 0.9,
//! WASI 0.3.0 imports), one source: `host/test-programs/src/p3/service.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wharf_test_artifacts as art;

use crate::common::{
    ChildHost, InProcessHost, Recorder, client, mentions, run_wharf, run_wharf_env,
};

/// Both WASI 0.3 guests, with the release their imports name.
const GUESTS: [(&str, &str); 2] = [
    (art::P3_SERVICE_COMPONENT, "0.3.2"),
    (art::P3_SERVICE_0_3_0_COMPONENT, "0.3.0"),
];

/// The p3 guest at `/...` (plus `extra` lines in its table) and the WASI
/// 0.2 `http_hello` as `hello` at `/neighbour/...`.
fn app(component: &str, extra: &str) -> String {
    format!(
        "[service.p3]\ncomponent = {component:?}\nroutes = [\"/...\"]\n{extra}\n\n\
         [service.hello]\ncomponent = {:?}\nroutes = [\"/neighbour/...\"]\n",
        art::HTTP_HELLO_COMPONENT
    )
}

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn assert_neighbour_ok(host: &InProcessHost) {
    let started = Instant::now();
    assert_eq!(
        get(&host.url("/neighbour/")).await,
        (200, "hello from http_hello\n".to_string())
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(100), "neighbour took {took:?}");
}

/// Byte `i` of the guests' downloads.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn the_guests_import_the_wasi_release_they_are_built_for() {
    assert!(mentions(
        art::P3_SERVICE_COMPONENT,
        "wasi:http/handler@0.3.2"
    ));
    assert!(mentions(
        art::P3_SERVICE_0_3_0_COMPONENT,
        "wasi:http/handler@0.3.0"
    ));
    assert!(!mentions(art::P3_SERVICE_0_3_0_COMPONENT, "@0.3.2"));
}

#[tokio::test]
async fn both_wasi_0_3_releases_keep_the_http_contract() {
    for (component, release) in GUESTS {
        let (host, _app) = InProcessHost::start(&app(component, "")).await;
        let client = client();

        let r = client.get(host.url("/hello")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(
            r.text().await.unwrap(),
            format!("hello from wasi {release}\n")
        );

        let r = client
            .get(host.url("/headers"))
            .header("x-test", "abc 123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-echo"], "abc 123");
        assert_eq!(r.text().await.unwrap(), "x-test=abc 123\n");

        for code in [201u16, 404, 418, 503] {
            let (status, body) = get(&host.url(&format!("/status?code={code}"))).await;
            assert_eq!((status, body), (code, format!("status {code}\n")));
        }
        assert_eq!(get(&host.url("/nowhere")).await.0, 404);

        // Binary echo, streamed back, keeping the content-type.
        let sent: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 % 256) as u8).collect();
        let r = client
            .post(host.url("/echo"))
            .header("content-type", "image/png")
            .body(sent.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert!(r.bytes().await.unwrap() == sent, "echo differs");

        // A chunked download (no content-length).
        let r = client
            .get(host.url("/download?size=1048576"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("content-length").is_none());
        assert!(r.bytes().await.unwrap() == pattern(1 << 20));

        // A trap is a 500, and the next request is served.
        assert_eq!(
            get(&host.url("/trap")).await,
            (500, "internal error\n".into())
        );
        assert_eq!(get(&host.url("/hello")).await.0, 200);
        assert_neighbour_ok(&host).await;
    }
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    const SIZE: usize = 100 * 1024 * 1024;
    let (host, _app) = InProcessHost::start(&app(art::P3_SERVICE_COMPONENT, "")).await;
    let client = client();
    let r = client
        .get(host.url(&format!("/download?size={SIZE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), SIZE);
    assert!(body[..] == pattern(SIZE)[..], "download differs");

    let upload = pattern(SIZE);
    let sum = upload
        .iter()
        .fold(0u64, |s, b| s.wrapping_add(u64::from(*b)));
    let r = client
        .post(host.url("/upload"))
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), format!("bytes={SIZE} sum={sum}\n"));
}

#[tokio::test]
async fn sixteen_concurrent_downloads() {
    let (host, _app) = InProcessHost::start(&app(art::P3_SERVICE_COMPONENT, "")).await;
    let downloads = (0..16).map(|_| {
        let url = host.url("/download?size=1048576");
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    });
    for body in futures::future::join_all(downloads).await {
        assert!(body == pattern(1 << 20));
    }
}

#[tokio::test]
async fn a_p3_guest_reads_only_its_file_grant() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("static")).unwrap();
    std::fs::write(dir.path().join("static/ok.txt"), "fine\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "top secret\n").unwrap();
    let grant = format!(
        "files = [{{ source = {:?}, path = \"/static\", mode = \"ro\" }}]",
        dir.path().join("static").to_str().unwrap()
    );
    let (host, _app) = InProcessHost::start(&app(art::P3_SERVICE_COMPONENT, &grant)).await;
    for path in [
        "/etc/passwd",
        "/static/../secret.txt",
        "/static/../../../../etc/passwd",
    ] {
        let (status, body) = get(&host.url(&format!("/read?path={path}"))).await;
        assert_eq!(status, 200);
        assert!(body.contains(": denied:"), "{path}: {body}");
        assert!(
            !body.contains("top secret") && !body.contains("root:"),
            "{body}"
        );
    }
    let (_, body) = get(&host.url("/read?path=/static/ok.txt")).await;
    assert!(
        body.contains("fine"),
        "the grant itself is readable: {body}"
    );
    assert_eq!(get(&host.url("/env")).await, (200, "vars=0\n".to_string()));
    assert_neighbour_ok(&host).await;
}

#[tokio::test]
async fn a_p3_guest_gets_no_socket_without_a_grant() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (host, _app) = InProcessHost::start(&app(art::P3_SERVICE_COMPONENT, "")).await;
    let (status, body) = get(&host.url(&format!("/tcp?addr={addr}"))).await;
    assert_eq!(status, 200);
    assert!(body.contains(": denied:"), "{body}");
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "the guest reached the listener");
}

#[tokio::test]
async fn p3_outbound_requests_pass_the_allow_list() {
    let upstream = Recorder::start("upstream says hi").await;
    let authority = upstream.origin.trim_start_matches("http://").to_string();

    // No grant: refused before the network, the upstream sees nothing.
    let (host, _app) = InProcessHost::start(&app(art::P3_SERVICE_COMPONENT, "")).await;
    let (status, body) = get(&host.url(&format!("/fetch?authority={authority}&path=/x"))).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert_eq!(upstream.count(), 0);
    drop(host);

    // Granted: it goes out, and so does a `.internal` call to a WASI 0.2
    // neighbour.
    let grant = format!(
        "outbound = [{:?}, \"http://hello.internal\"]",
        upstream.origin
    );
    let (host, _app) = InProcessHost::start(&app(art::P3_SERVICE_COMPONENT, &grant)).await;
    assert_eq!(
        get(&host.url(&format!("/fetch?authority={authority}&path=/x"))).await,
        (200, "status=200\nupstream says hi".to_string())
    );
    assert_eq!(upstream.count(), 1);
    let headers = &upstream.requests()[0].headers;
    assert!(headers.contains_key("traceparent"), "{headers:?}");
    assert_eq!(
        get(&host.url("/fetch?authority=hello.internal&path=/")).await,
        (200, "status=200\nhello from http_hello\n".to_string())
    );
}

#[tokio::test]
async fn a_p3_busy_loop_is_cut_at_the_cpu_limit_while_a_neighbour_answers() {
    let (host, _app) = InProcessHost::start(&app(
        art::P3_SERVICE_COMPONENT,
        "[service.p3.limits]\ncpu_time = \"500ms\"",
    ))
    .await;
    let looping = tokio::spawn(get_owned(host.url("/loop")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_neighbour_ok(&host).await;
    assert_eq!(
        looping.await.unwrap(),
        (504, "cpu time limit exceeded\n".to_string())
    );
    assert_eq!(get(&host.url("/hello")).await.0, 200);
}

async fn get_owned(url: String) -> (u16, String) {
    get(&url).await
}

#[tokio::test]
async fn a_p3_guest_awaiting_forever_hits_the_timeout() {
    let (host, _app) = InProcessHost::start(&app(
        art::P3_SERVICE_COMPONENT,
        "[service.p3.limits]\ntimeout = \"300ms\"",
    ))
    .await;
    let started = Instant::now();
    assert_eq!(
        get(&host.url("/forever")).await,
        (504, "request timed out\n".to_string())
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(get(&host.url("/hello")).await.0, 200);
}

#[tokio::test]
async fn a_p3_memory_bomb_fails_that_request_only() {
    let (host, _app) = InProcessHost::start(&app(
        art::P3_SERVICE_COMPONENT,
        "[service.p3.limits]\nmemory = \"16MiB\"",
    ))
    .await;
    assert_eq!(
        get(&host.url("/alloc")).await,
        (500, "memory limit exceeded\n".to_string())
    );
    assert_eq!(get(&host.url("/hello")).await.0, 200);
    assert_neighbour_ok(&host).await;
}

#[test]
fn a_wasi_0_3_pre_release_is_refused_naming_both_versions() {
    let (code, _stdout, stderr) = run_wharf(&[
        "up",
        art::P3_PRERELEASE_COMPONENT,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("imports `wasi:http/types@0.3.0-rc-2026-03-15`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pre-release 0.3.0-rc-2026-03-15"),
        "{stderr}"
    );
    assert!(stderr.contains("implements WASI 0.3.0"), "{stderr}");
    assert!(!stderr.contains("requires the component model async feature"));
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn wharf_up_serves_a_p3_component_with_default_flags() {
    let host = ChildHost::start(Path::new(art::P3_SERVICE_COMPONENT), &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = runtime.block_on(get(&host.url("/hello")));
    assert_eq!((status, body.as_str()), (200, "hello from wasi 0.3.2\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_swaps_between_wasi_0_2_and_0_3_under_load_fail_nothing() {
    const P2_BODY: &str = "hello from http_hello\n";
    const P3_BODY: &str = "hello from wasi 0.3.2\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v1\"\n",
            art::HTTP_HELLO_COMPONENT
        ),
    )
    .unwrap();
    let host = ChildHost::start(dir.path(), &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..6)
        .map(|_| {
            let url = host.url("/");
            let stop = stop.clone();
            tokio::spawn(async move {
                let client = client();
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) && seen.len() < 3_000 {
                    seen.push(match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => r.text().await.map_err(|e| e.to_string()),
                        Ok(r) => Err(format!("status {}", r.status())),
                        Err(e) => Err(e.to_string()),
                    });
                }
                seen
            })
        })
        .collect();
    let admin = format!("http://{}", host.admin);
    for (component, version) in [
        (art::P3_SERVICE_COMPONENT, "v2"),
        (art::HTTP_HELLO_COMPONENT, "v3"),
    ] {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (code, out, err) = tokio::task::block_in_place(|| {
            run_wharf_env(
                &[
                    "deploy",
                    "web",
                    component,
                    "--version",
                    version,
                    "--admin",
                    &admin,
                ],
                &[("WHARF_ADMIN_TOKEN", "test-admin-token")],
            )
        });
        assert_eq!(code, 0, "{out}\n{err}");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for task in load {
        results.extend(task.await.unwrap());
    }
    let failures: Vec<_> = results
        .iter()
        .filter(|r| !matches!(r.as_deref(), Ok(P2_BODY) | Ok(P3_BODY)))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    let p3 = results
        .iter()
        .filter(|r| r.as_deref() == Ok(P3_BODY))
        .count();
    assert!(p3 > 0, "no request saw the WASI 0.3 version");
    assert_eq!(get(&host.url("/")).await, (200, P2_BODY.to_string()));
}

#[tokio::test]
async fn p3_instances_are_fresh_by_default_and_reused_only_when_asked() {
    let (host, _app) = InProcessHost::start(&app(art::P3_SERVICE_COMPONENT, "")).await;
    for _ in 0..4 {
        assert_eq!(get(&host.url("/count")).await, (200, "served=1\n".into()));
    }
    drop(host);
    let (host, _app) = InProcessHost::start(&app(
        art::P3_SERVICE_COMPONENT,
        "[service.p3.limits]\ninstance_reuse = 3",
    ))
    .await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(get(&host.url("/count")).await.1);
    }
    assert_eq!(
        seen,
        [
            "served=1\n",
            "served=2\n",
            "served=3\n",
            "served=1\n",
            "served=2\n",
            "served=3\n"
        ]
    );
    // A trap ends the instance (which had served one request): the next
    // request gets a fresh one.
    assert_eq!(get(&host.url("/count")).await, (200, "served=1\n".into()));
    assert_eq!(get(&host.url("/trap")).await.0, 500);
    assert_eq!(get(&host.url("/count")).await, (200, "served=1\n".into()));
}
