//! Attacks from the network side of a host (issue #15, holes 3, 4, 5, 9,
//! 10): a guest forging reply-to, reaching the broker's own subjects or
//! another app's, a NATS peer writing the cluster's record, registries
//! collecting credentials. Each test makes the attack, checks it fails, and
//! checks that a well-behaved neighbour still answers.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use wharf_messaging::Namespace;
use wharf_test_artifacts as art;

use crate::common::{ChildHost, TestApp, client, run_wharf};

use crate::messaging::nats_server;

/// A `msg_wasmcloud` service with `extra` keys and, when `data` is set,
/// that directory granted read-write as `/data` (where it logs what it
/// handles).
fn svc(name: &str, extra: &str, data: Option<&Path>) -> String {
    let files = match data {
        Some(dir) => format!("files = [{{ source = {dir:?}, path = \"/data\", mode = \"rw\" }}]\n"),
        None => String::new(),
    };
    format!(
        "[service.{name}]\ncomponent = {:?}\n{extra}\n{files}\n",
        art::MSG_WASMCLOUD_COMPONENT
    )
}

/// What a `msg_wasmcloud` service logged in `dir`.
fn received(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("received.log")).unwrap_or_default()
}

async fn get(host: &ChildHost, path: &str) -> (u16, String) {
    let response = client().get(host.url(path)).send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Hole 3: a guest allowed to publish only `svc.*` sets reply-to
/// `secret.x`, so the service it asks would answer onto a subject neither
/// may use. The reply-to is refused; a reply-to its grant covers works, and
/// request/reply still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_forge_a_reply_to_outside_its_grant() {
    let staging = tempfile::tempdir().unwrap();
    let spy = staging.path().join("spy");
    let granted = staging.path().join("granted");
    std::fs::create_dir_all(&spy).unwrap();
    std::fs::create_dir_all(&granted).unwrap();
    let manifest = [
        svc("front", "routes = [\"/...\"]\npublish = [\"svc.*\"]", None),
        svc("echo", "subscriptions = [{ topic = \"svc.echo\" }]", None),
        // Stands for whatever listens on `secret.x`.
        svc(
            "spy",
            "subscriptions = [{ topic = \"secret.x\" }]",
            Some(&spy),
        ),
        svc(
            "granted",
            "subscriptions = [{ topic = \"svc.answers\" }]",
            Some(&granted),
        ),
    ]
    .concat();
    let app = TestApp::new(&manifest);
    let host = ChildHost::start(app.dir.path(), &[]);

    let (status, body) = get(&host, "/publish?topic=svc.echo&body=leak&reply_to=secret.x").await;
    assert_eq!(status, 502, "a forged reply-to was accepted: {body}");
    assert!(
        body.contains("reply-to `secret.x` is not granted"),
        "{body}"
    );

    // A reply-to the grant covers is fine: the answer lands there.
    let (status, body) = get(
        &host,
        "/publish?topic=svc.echo&body=ok&reply_to=svc.answers",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually(20, "the answer on svc.answers", || {
        received(&granted).contains("svc.answers reply:ok")
    })
    .await;
    // The neighbour answers a request through the host's inbox.
    let (status, body) = get(&host, "/request?topic=svc.echo&body=ping&timeout=5000").await;
    assert_eq!((status, body.as_str()), (200, "reply:ping"));
    assert_eq!(received(&spy), "", "the forged reply reached `secret.x`");
}

/// Hole 4: grants naming subjects reserved to the broker are refused when
/// the manifest is loaded, naming file, line, key and subject.
#[test]
fn grants_naming_reserved_subjects_are_refused_at_load() {
    for (key, grant, subject) in [
        (
            "subscriptions[0].topic",
            "subscriptions = [{ topic = \"_INBOX.>\" }]",
            "_INBOX.>",
        ),
        (
            "subscriptions[0].topic",
            "subscriptions = [{ topic = \"$KV.>\" }]",
            "$KV.>",
        ),
        ("publish[0]", "publish = [\"$JS.>\"]", "$JS.>"),
        ("publish[0]", "publish = [\"$SYS.REQ.>\"]", "$SYS.REQ.>"),
        (
            "subscriptions[0].dead_letter",
            "subscriptions = [{ topic = \"a\", dead_letter = \"$JS.API.x\" }]",
            "$JS.API.x",
        ),
    ] {
        let app = TestApp::new(&format!(
            "[service.s]\ncomponent = {:?}\n{grant}\n",
            art::MSG_WASMCLOUD_COMPONENT
        ));
        let (code, stdout, stderr) = run_wharf(&[
            "up",
            app.dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ]);
        assert_eq!(code, 1, "{grant} was accepted:\n{stdout}\n{stderr}");
        let stderr = stderr.replace(app.dir.path().to_str().unwrap(), "<dir>");
        assert!(
            stderr.contains("<dir>/wharf.toml:3:")
                && stderr.contains(&format!(
                    "service.s.{key}: `{subject}` is reserved to the broker"
                )),
            "{grant}: {stderr}"
        );
    }
}

/// Hole 4 over NATS: a service of app `a` that subscribes to `>` and may
/// publish anywhere (`>`) sees only its own app's subjects. It gets nothing
/// of app `b`, nothing published outside any app, no request's reply; what
/// it publishes to `$KV.…` never reaches JetStream's subjects; app `b`'s
/// service on the same server still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_on_nats_reaches_only_its_own_apps_subjects() {
    let nats = nats_server::NatsServer::start();
    let staging = tempfile::tempdir().unwrap();
    let sniffer = staging.path().join("sniffer");
    let neighbour = staging.path().join("neighbour");
    std::fs::create_dir_all(&sniffer).unwrap();
    std::fs::create_dir_all(&neighbour).unwrap();
    let app_a = TestApp::new(
        &[
            "[app]\nname = \"a\"\n".to_owned(),
            svc("front", "routes = [\"/...\"]\npublish = [\">\"]", None),
            svc(
                "sniffer",
                "subscriptions = [{ topic = \">\" }]",
                Some(&sniffer),
            ),
        ]
        .concat(),
    );
    let app_b = TestApp::new(
        &[
            "[app]\nname = \"b\"\n".to_owned(),
            svc(
                "front",
                "routes = [\"/...\"]\npublish = [\"orders.*\"]",
                None,
            ),
            svc(
                "orders",
                "subscriptions = [{ topic = \"orders.x\" }]",
                Some(&neighbour),
            ),
        ]
        .concat(),
    );
    let nats_args = ["--nats", nats.url.as_str()];
    let host_a = ChildHost::start(app_a.dir.path(), &nats_args);
    let host_b = ChildHost::start(app_b.dir.path(), &nats_args);
    let (a, b) = (Namespace::for_app("a", None), Namespace::for_app("b", None));

    let raw = async_nats::connect(&nats.url).await.unwrap();
    let mut kv_watch = raw.subscribe("$KV.>").await.unwrap();
    let mut outside = raw.subscribe("orders.>").await.unwrap();
    raw.flush().await.unwrap();

    // Traffic the sniffer must not see: a raw subject, app b's subjects, a
    // request's reply inbox.
    raw.publish("secret.raw", "raw".into()).await.unwrap();
    raw.publish(b.to_broker("orders.x"), "for-b".into())
        .await
        .unwrap();
    let (status, body) = get(&host_b, "/publish?topic=orders.x&body=from-b").await;
    assert_eq!(status, 200, "{body}");
    let responder = {
        let mut requests = raw.subscribe("raw.service").await.unwrap();
        raw.flush().await.unwrap();
        let raw = raw.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    raw.publish(reply, "inbox-secret".into()).await.unwrap();
                }
            }
        })
    };
    let reply = raw.request("raw.service", "q".into()).await.unwrap();
    assert_eq!(&reply.payload[..], b"inbox-secret");
    responder.abort();

    // What app a's front publishes stays in app a.
    for path in [
        "/publish?topic=$KV.wharf-kv-default.key&body=kv-forge",
        "/publish?topic=orders.x&body=from-a",
        "/publish?topic=mine.hello&body=own",
    ] {
        let (status, body) = get(&host_a, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // The sniffer gets app a's own traffic (so it does listen)...
    eventually(20, "the sniffer's own messages", || {
        let log = received(&sniffer);
        log.contains("mine.hello own")
            && log.contains("orders.x from-a")
            && log.contains("$KV.wharf-kv-default.key kv-forge")
    })
    .await;
    // ... and the neighbour of app b got both of its messages.
    eventually(20, "app b's messages", || {
        let log = received(&neighbour);
        log.contains("orders.x for-b") && log.contains("orders.x from-b")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = received(&sniffer);
    for leaked in ["raw", "for-b", "from-b", "q", "inbox-secret"] {
        assert!(
            !log.lines().any(|l| l.ends_with(&format!(" {leaked}"))),
            "app a's `>` received `{leaked}`:\n{log}"
        );
    }
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(
        !received(&neighbour).contains("from-a"),
        "app a reached app b"
    );
    // Nothing reached JetStream's subjects or the raw `orders.>`.
    let quiet = tokio::time::timeout(Duration::from_millis(300), kv_watch.next()).await;
    assert!(quiet.is_err(), "a guest published on $KV: {quiet:?}");
    let quiet = tokio::time::timeout(Duration::from_millis(300), outside.next()).await;
    assert!(
        quiet.is_err(),
        "a guest published outside its namespace: {quiet:?}"
    );
    assert_eq!(a.prefix(), "wharf.local.a.");
    drop((host_a, host_b));
}

/// The JSON of `GET /v1/cluster` on `host`.
async fn cluster_status(host: &ChildHost) -> serde_json::Value {
    client()
        .get(host.admin_url("/v1/cluster"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default()
}

/// What `hostile_read_passwd` answers on `host`; `None` if it does not.
async fn passwd_attempts(host: &ChildHost) -> Option<String> {
    let response = client().get(host.url("/")).send().await.ok()?;
    (response.status() == 200).then_some(())?;
    response.text().await.ok()
}

/// Hole 5: NATS requires credentials (the hosts pass them by flag and by
/// environment), and the cluster's deployment record is signed by the
/// operator. A raw NATS client with the credentials (a compromised peer)
/// writes a record that grants the service `files` on `/`: neither host
/// applies it, both report it in `wharf ps --cluster`, the service keeps
/// running without the grant, and a signed deploy still goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_record_written_straight_into_nats_is_applied_by_no_host() {
    const USER: &str = "wharf";
    const PASSWORD: &str = "nats-s3cret";
    let nats =
        nats_server::NatsServer::start_with_args(true, &["--user", USER, "--pass", PASSWORD]);
    // The server does require them.
    assert!(async_nats::connect(&nats.url).await.is_err());

    let keys = tempfile::tempdir().unwrap();
    let (code, out, err) = run_wharf(&["keygen", keys.path().join("operator").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let secret = keys.path().join("operator.key");
    let public = keys.path().join("operator.pub");
    let app = TestApp::new(&format!(
        "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v1\"\n",
        art::HOSTILE_READ_PASSWD_COMPONENT
    ));
    let states = tempfile::tempdir().unwrap();
    let state = |i: usize| states.path().join(format!("host{i}"));
    let (state0, state1) = (state(0), state(1));
    let common = |state: &Path| -> Vec<String> {
        [
            "--nats",
            nats.url.as_str(),
            "--cluster",
            "t",
            "--state-dir",
            state.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let mut args0 = common(&state0);
    args0.extend(
        [
            "--nats-user",
            USER,
            "--nats-password",
            PASSWORD,
            "--operator-key",
            secret.to_str().unwrap(),
        ]
        .map(str::to_owned),
    );
    let host0 = ChildHost::start(
        app.dir.path(),
        &args0.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut args1 = common(&state1);
    args1.extend(["--trusted-operator", public.to_str().unwrap()].map(str::to_owned));
    let host1 = ChildHost::start_with_env(
        app.dir.path(),
        &args1.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("WHARF_NATS_USER", USER), ("WHARF_NATS_PASSWORD", PASSWORD)],
    );
    let hosts = [&host0, &host1];
    for host in hosts {
        let answer = passwd_attempts(host).await.unwrap();
        assert!(!answer.contains("LEAKED"), "{answer}");
    }

    // The attack: the record rewritten to grant `/`, as plain JSON and as
    // a signed envelope whose signature is for the old record.
    let raw = async_nats::ConnectOptions::new()
        .user_and_password(USER.into(), PASSWORD.into())
        .connect(&nats.url)
        .await
        .unwrap();
    let kv = async_nats::jetstream::new(raw)
        .get_key_value("wharf-t-deployments")
        .await
        .unwrap();
    let original = kv.entry("record").await.unwrap().unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&original.value).unwrap();
    for keep_signature in [false, true] {
        // On a host without signing the record is plain JSON.
        let json = stored["signed_record"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8(original.value.to_vec()).unwrap());
        let mut record: serde_json::Value = serde_json::from_str(&json).unwrap();
        let revision = record["revision"].as_u64().unwrap() + 1;
        record["revision"] = revision.into();
        let active = &mut record["services"]["web"]["active"];
        let section = active["section"].as_str().unwrap().to_owned();
        active["section"] =
            format!("{section}\nfiles = [{{ source = \"/\", path = \"/\", mode = \"ro\" }}]\n")
                .into();
        active["version"] = "forged".into();
        let forged = if keep_signature {
            serde_json::json!({
                "signed_record": serde_json::to_string_pretty(&record).unwrap(),
                "signature": stored["signature"].clone(),
            })
        } else {
            record
        };
        let current = kv.entry("record").await.unwrap().unwrap().revision;
        let written = kv
            .update(
                "record",
                serde_json::to_vec(&forged).unwrap().into(),
                current,
            )
            .await
            .unwrap();
        let this_one = |v: &serde_json::Value| {
            v["refused_record"]
                .as_str()
                .is_some_and(|r| r.contains(&format!("at revision {written} ")))
        };

        // Both hosts see it and refuse it, and say so.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = cluster_status(&host0).await;
            let refused_by_all = this_one(&status)
                && status["hosts"]
                    .as_array()
                    .is_some_and(|h| h.len() == 2 && h.iter().all(this_one));
            if refused_by_all {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not refused everywhere: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (code, table, err) = tokio::task::block_in_place(|| {
            crate::common::run_wharf_env(
                &[
                    "ps",
                    "--cluster",
                    "--admin",
                    &format!("http://{}", host1.admin),
                ],
                &[("WHARF_ADMIN_TOKEN", "test-admin-token")],
            )
        });
        assert_eq!(code, 0, "{err}");
        assert!(table.contains("REFUSED RECORD"), "{table}");
        // The service keeps running, without the grant.
        for host in hosts {
            let answer = passwd_attempts(host).await.unwrap();
            assert!(!answer.contains("LEAKED"), "{answer}");
            assert!(answer.contains("/etc/passwd: denied"), "{answer}");
        }
    }

    // The operator's own deploy replaces the forged record everywhere.
    let (code, out, err) = tokio::task::block_in_place(|| {
        crate::common::run_wharf_env(
            &[
                "deploy",
                "web",
                art::HTTP_HELLO_COMPONENT,
                "--version",
                "v2",
                "--admin",
                &format!("http://{}", host0.admin),
            ],
            &[("WHARF_ADMIN_TOKEN", "test-admin-token")],
        )
    });
    assert_eq!(code, 0, "{out}{err}");
    for host in hosts {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if passwd_attempts(host).await.as_deref() == Some("hello from http_hello\n") {
                break;
            }
            assert!(Instant::now() < deadline, "v2 not served by {}", host.addr);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(cluster_status(&host1).await["refused_record"].is_null());
}

/// A one-answer HTTP server on `ip`: every request gets `response`; the
/// request heads are kept.
async fn fake_http(
    ip: &str,
    response: impl Fn(u16) -> String + Send + Sync + 'static,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    let response = std::sync::Arc::new(response);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            let response = response.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = stream.write_all(response(addr.port()).as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, heads)
}

/// Hole 10: a registry on 127.0.0.1 names a token service on another host
/// (127.0.0.2) over plain HTTP. `wharf push` with credentials refuses to
/// send them there, and says why; credentials bound to another registry
/// (`WHARF_REGISTRY_HOST`) are sent to neither. The token service, a
/// neighbour here, still answers requests without credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_credentials_never_go_to_a_foreign_token_service() {
    let (realm, realm_heads) = fake_http("127.0.0.2", |_| {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"token\":\"t1\"}\n".to_owned()
    })
    .await;
    let challenge = format!("Bearer realm=\"http://{realm}/token\",service=\"fake\"");
    let (registry, registry_heads) = fake_http("127.0.0.1", move |_| {
        format!(
            "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: {challenge}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
    })
    .await;
    let target = format!("{registry}/wharf/hello:v1");
    let cache = tempfile::tempdir().unwrap();
    let push = |extra: &[(&str, &str)]| {
        let mut envs = vec![
            ("WHARF_REGISTRY_USER", "operator"),
            ("WHARF_REGISTRY_PASSWORD", "registry-s3cret"),
            ("WHARF_CACHE_DIR", cache.path().to_str().unwrap()),
        ];
        envs.extend_from_slice(extra);
        tokio::task::block_in_place(|| {
            crate::common::run_wharf_env(&["push", art::EXAMPLE_HELLO_COMPONENT, &target], &envs)
        })
    };
    let (code, _, err) = push(&[]);
    assert_ne!(code, 0);
    assert!(err.contains("not sending the credentials"), "{err}");
    assert!(err.contains("outside the registry's host"), "{err}");
    // Bound to another registry: this one gets an anonymous push.
    let (code, _, _) = push(&[("WHARF_REGISTRY_HOST", "registry.example.com")]);
    assert_ne!(code, 0);

    let leaked = |heads: &[String]| {
        heads
            .iter()
            // The password travels as Basic; an anonymous Bearer token
            // from the token service is not a credential.
            .any(|h| h.to_ascii_lowercase().contains("authorization: basic"))
    };
    let realm_seen = realm_heads.lock().unwrap().clone();
    assert!(
        !leaked(&realm_seen),
        "credentials sent to the token service: {realm_seen:?}"
    );
    let registry_seen = registry_heads.lock().unwrap().clone();
    assert!(!registry_seen.is_empty());
    assert!(
        !leaked(&registry_seen),
        "credentials sent while bound elsewhere: {registry_seen:?}"
    );
    // The token service answers.
    let answer = client()
        .get(format!("http://{realm}/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

/// Hole 9 (NATS buffers): a NATS peer floods a subscription whose service
/// is stuck (one slot, every message retried with back-off) with 300
/// messages of nearly 1 MB. The host queues at most a bounded number of
/// bytes for it and drops the rest (counted); its memory stays far below
/// what was sent, and the app still answers HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_to_a_slow_subscriber_is_bounded_in_bytes() {
    let nats = nats_server::NatsServer::start();
    let app = TestApp::new(
        &[
            "[app]\nname = \"flood\"\n".to_owned(),
            svc("front", "routes = [\"/...\"]\npublish = [\"ok.*\"]", None),
            svc(
                "stuck",
                "subscriptions = [{ topic = \"big.fail\", max_in_flight = 1, retries = 5 }]",
                None,
            ),
        ]
        .concat(),
    );
    let host = ChildHost::start(app.dir.path(), &["--nats", nats.url.as_str()]);
    let before = host.peak_rss();
    let raw = async_nats::connect(&nats.url).await.unwrap();
    let subject = Namespace::for_app("flood", None).to_broker("big.fail");
    let payload = bytes::Bytes::from(vec![b'x'; 1_000_000]);
    for _ in 0..300 {
        raw.publish(subject.clone(), payload.clone()).await.unwrap();
    }
    raw.flush().await.unwrap();
    // Until the host has dropped some: it has taken in the flood.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = client()
            .get(host.admin_url("/metrics"))
            .bearer_auth("test-admin-token")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let dropped: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("wharf_broker_dropped_messages "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        if dropped >= 100.0 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing dropped:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grown = host.peak_rss().saturating_sub(before);
    assert!(
        grown < 160 * 1024 * 1024,
        "the host grew by {} MiB holding 300 MB for a stuck subscriber",
        grown / (1024 * 1024)
    );
    let (status, body) = get(&host, "/publish?topic=ok.x&body=1").await;
    assert_eq!((status, body.as_str()), (200, "published\n"));
}
