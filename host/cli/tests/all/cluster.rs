//! Clusters on NATS JetStream end to end: a real `nats-server -js` on a
//! loopback port with its own store directory, several real `wharf up
//! --nats … --cluster …` processes, `wharf deploy` / `rollback` / `traffic`
//! / `promote` / `ps --cluster` as real CLI processes against any one host,
//! and real HTTP clients asking every host what it serves.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use wharf_test_artifacts as art;

use crate::common::{ChildHost, assert_ok, client, run_wharf_env, wharf_admin};

// Also loaded by `messaging` and `pipeline`; each test module keeps its own.
#[allow(clippy::duplicate_mod)]
#[path = "../../../messaging/tests/support/nats_server.rs"]
mod nats_server;

use crate::common::ADMIN_TOKEN as TOKEN;
const CLUSTER: &str = "t";
const V1_BODY: &str = "hello from http_hello\n";
const V2_BODY: &str = "Hello from Wharf!\n";
/// Generous: a loaded 2-core machine compiles a component per host.
const CONVERGE_SECS: u64 = 120;

/// An app serving `http_hello` as `web` on every path, label `v1`.
fn app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v1\"\n",
            art::HTTP_HELLO_COMPONENT
        ),
    )
    .unwrap();
    dir
}

/// A host of cluster [`CLUSTER`] on `nats`, its state in `state`.
fn start_host(app: &Path, nats: &str, state: &Path) -> ChildHost {
    ChildHost::start(
        app,
        &[
            "--nats",
            nats,
            "--cluster",
            CLUSTER,
            "--state-dir",
            state.to_str().unwrap(),
            "--drain-timeout",
            "5",
        ],
    )
}

/// A running cluster: one JetStream server, hosts with their own state.
struct Cluster {
    nats: nats_server::NatsServer,
    app: tempfile::TempDir,
    states: tempfile::TempDir,
    hosts: Vec<ChildHost>,
}

impl Cluster {
    /// `n` hosts, started one after the other (the first one writes the
    /// record from `wharf.toml`, the others find it).
    fn start(n: usize) -> Self {
        let nats = nats_server::NatsServer::start_with_jetstream();
        let app = app();
        let states = tempfile::tempdir().unwrap();
        let mut cluster = Self {
            nats,
            app,
            states,
            hosts: Vec::new(),
        };
        for i in 0..n {
            let host = cluster.start_host(i);
            cluster.hosts.push(host);
        }
        cluster
    }

    fn state(&self, i: usize) -> std::path::PathBuf {
        self.states.path().join(format!("host{i}"))
    }

    /// Host 1 takes the NATS URL and the cluster's name from the
    /// environment (`WHARF_NATS_URL`, `WHARF_CLUSTER`), the others from
    /// flags.
    fn start_host(&self, i: usize) -> ChildHost {
        if i != 1 {
            return start_host(self.app.path(), &self.nats.url, &self.state(i));
        }
        let state = self.state(i);
        ChildHost::start_with_env(
            self.app.path(),
            &[
                "--state-dir",
                state.to_str().unwrap(),
                "--drain-timeout",
                "5",
            ],
            &[
                ("WHARF_NATS_URL", &self.nats.url),
                ("WHARF_CLUSTER", CLUSTER),
            ],
        )
    }
}

async fn body(host: &ChildHost, path: &str) -> Result<(u16, String), String> {
    let r = client()
        .get(host.url(path))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.text().await.map_err(|e| e.to_string())?))
}

async fn admin_json(host: &ChildHost, path: &str) -> serde_json::Value {
    client()
        .get(host.admin_url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `check` every 50 ms until it holds, for at most `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether every host answers `path` with 200 and `expected`.
async fn all_serve(hosts: &[&ChildHost], path: &str, expected: &str) -> bool {
    for host in hosts {
        match body(host, path).await {
            Ok((200, b)) if b == expected => {}
            _ => return false,
        }
    }
    true
}

#[track_caller]
fn hosts_of(cluster: &Cluster) -> Vec<&ChildHost> {
    cluster.hosts.iter().collect()
}

/// The JSON of `wharf ps --cluster --json` through `host`.
fn ps_cluster(host: &ChildHost) -> serde_json::Value {
    let out = wharf_admin(host, &["ps", "--cluster", "--json"]);
    assert_ok(&out);
    serde_json::from_str(&out.1).unwrap()
}

/// Per host ID, the active version of `web` that `status` reports.
fn web_versions(status: &serde_json::Value) -> Vec<(String, String)> {
    status["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let web = h["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "web");
            (
                h["host_id"].as_str().unwrap().to_string(),
                web.map_or("-".into(), |s| s["version"].as_str().unwrap().to_string()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_deploy_reaches_every_host_and_ps_cluster_shows_them() {
    let cluster = Cluster::start(3);
    let hosts = hosts_of(&cluster);
    assert!(all_serve(&hosts, "/", V1_BODY).await);

    // Deploy through the second host; every host serves v2 by itself.
    let out = tokio::task::block_in_place(|| {
        wharf_admin(
            hosts[1],
            &[
                "deploy",
                "web",
                art::EXAMPLE_HELLO_COMPONENT,
                "--version",
                "v2",
            ],
        )
    });
    assert_ok(&out);
    eventually(CONVERGE_SECS, "all three hosts serve v2", || {
        all_serve(&hosts, "/", V2_BODY)
    })
    .await;

    // `wharf ps --cluster` through the first host: three hosts, each on v2.
    let mut last = serde_json::Value::Null;
    eventually(30, "the heartbeats report v2 on three hosts", || {
        last = tokio::task::block_in_place(|| ps_cluster(hosts[0]));
        let versions = web_versions(&last);
        async move { versions.len() == 3 && versions.iter().all(|(_, v)| v == "v2") }
    })
    .await;
    assert_eq!(last["cluster"], CLUSTER);
    assert_eq!(last["services"][0]["name"], "web");
    assert_eq!(last["services"][0]["version"], "v2");
    let admins: Vec<String> = last["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["admin"].as_str().unwrap().to_string())
        .collect();
    for host in &hosts {
        assert!(
            admins.contains(&host.admin.to_string()),
            "{admins:?} lacks {}",
            host.admin
        );
    }
    let table = tokio::task::block_in_place(|| wharf_admin(hosts[0], &["ps", "--cluster"]));
    assert_ok(&table);
    for (id, _) in web_versions(&last) {
        assert!(table.1.contains(&id), "{}", table.1);
    }
    assert!(table.1.contains("LAST HEARTBEAT"), "{}", table.1);

    // Rollback through the third host: cluster-wide.
    let out = tokio::task::block_in_place(|| wharf_admin(hosts[2], &["rollback", "web"]));
    assert_ok(&out);
    eventually(CONVERGE_SECS, "all three hosts serve v1 again", || {
        all_serve(&hosts, "/", V1_BODY)
    })
    .await;

    // A canary at 0 % through one host, all of the traffic to it through
    // another, promoted through the third: each is a record change every
    // host applies.
    let out = tokio::task::block_in_place(|| {
        wharf_admin(
            hosts[0],
            &[
                "deploy",
                "web",
                art::EXAMPLE_HELLO_COMPONENT,
                "--version",
                "v3",
                "--canary",
                "0",
            ],
        )
    });
    assert_ok(&out);
    eventually(CONVERGE_SECS, "every host runs the canary", || async {
        for host in &hosts {
            let services = admin_json(host, "/v1/services").await;
            if services[0]["canary"]["version"] != "v3" {
                return false;
            }
        }
        true
    })
    .await;
    assert!(all_serve(&hosts, "/", V1_BODY).await);
    let out = tokio::task::block_in_place(|| {
        wharf_admin(hosts[1], &["traffic", "web", "--canary", "100"])
    });
    assert_ok(&out);
    eventually(
        CONVERGE_SECS,
        "every host sends all traffic to the canary",
        || all_serve(&hosts, "/", V2_BODY),
    )
    .await;
    let out = tokio::task::block_in_place(|| wharf_admin(hosts[2], &["promote", "web"]));
    assert_ok(&out);
    eventually(CONVERGE_SECS, "every host runs v3 as stable", || async {
        for host in &hosts {
            let services = admin_json(host, "/v1/services").await;
            if services[0]["version"] != "v3" || !services[0]["canary"].is_null() {
                return false;
            }
        }
        true
    })
    .await;
    assert!(all_serve(&hosts, "/", V2_BODY).await);
}

/// Bounded load on one host: `clients` loops of GET `/` until stopped or
/// `max` requests each.
fn load(
    host: &ChildHost,
    clients: usize,
    max: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Result<String, String>>>> {
    (0..clients)
        .map(|_| {
            let url = host.url("/");
            let stop = stop.clone();
            tokio::spawn(async move {
                let client = client();
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) && seen.len() < max {
                    let outcome = match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => r.text().await.map_err(|e| e.to_string()),
                        Ok(r) => Err(format!("status {}", r.status())),
                        Err(e) => Err(e.to_string()),
                    };
                    seen.push(outcome);
                }
                seen
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_wide_swap_under_load_has_no_failed_requests() {
    let cluster = Cluster::start(3);
    let hosts = hosts_of(&cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = hosts
        .iter()
        .map(|host| load(host, 3, 20_000, &stop))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = tokio::task::block_in_place(|| {
        wharf_admin(
            hosts[0],
            &[
                "deploy",
                "web",
                art::EXAMPLE_HELLO_COMPONENT,
                "--version",
                "v2",
            ],
        )
    });
    assert_ok(&out);
    eventually(CONVERGE_SECS, "all three hosts serve v2", || {
        all_serve(&hosts, "/", V2_BODY)
    })
    .await;
    // Some traffic after the swap everywhere.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for (i, host_tasks) in tasks.into_iter().enumerate() {
        let mut results = Vec::new();
        for task in host_tasks {
            results.extend(task.await.unwrap());
        }
        let failures: Vec<_> = results
            .iter()
            .filter(|r| !matches!(r.as_deref(), Ok(V1_BODY) | Ok(V2_BODY)))
            .collect();
        assert!(failures.is_empty(), "host {i}: {failures:?}");
        let v1 = results
            .iter()
            .filter(|r| r.as_deref() == Ok(V1_BODY))
            .count();
        let v2 = results
            .iter()
            .filter(|r| r.as_deref() == Ok(V2_BODY))
            .count();
        assert!(v1 > 0 && v2 > 0, "host {i}: v1 {v1}, v2 {v2}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_host_converges_on_restart_and_a_late_host_on_start() {
    let mut cluster = Cluster::start(3);
    let id_of_third = std::fs::read_to_string(cluster.state(2).join("host-id"))
        .unwrap()
        .trim()
        .to_string();
    eventually(30, "ps --cluster lists the three hosts", || {
        let status = tokio::task::block_in_place(|| ps_cluster(&cluster.hosts[0]));
        let ids: Vec<String> = web_versions(&status)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let listed = ids.len() == 3 && ids.contains(&id_of_third);
        async move { listed }
    })
    .await;
    let killed_at = Instant::now();
    // SIGKILL the third host; the others keep serving.
    let mut third = cluster.hosts.pop().unwrap();
    third.child.kill().unwrap();
    third.child.wait().unwrap();
    let alive: Vec<&ChildHost> = cluster.hosts.iter().collect();
    assert!(all_serve(&alive, "/", V1_BODY).await);

    // A deploy while it is down reaches the two others…
    let out = tokio::task::block_in_place(|| {
        wharf_admin(
            alive[0],
            &[
                "deploy",
                "web",
                art::EXAMPLE_HELLO_COMPONENT,
                "--version",
                "v2",
            ],
        )
    });
    assert_ok(&out);
    eventually(CONVERGE_SECS, "the two live hosts serve v2", || {
        all_serve(&alive, "/", V2_BODY)
    })
    .await;
    // …and the dead one drops out of the table by itself.
    eventually(60, "the killed host drops out of ps --cluster", || {
        let status = tokio::task::block_in_place(|| ps_cluster(alive[1]));
        let ids: Vec<String> = web_versions(&status)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let gone = ids.len() == 2 && !ids.contains(&id_of_third);
        async move { gone }
    })
    .await;

    eprintln!(
        "the killed host dropped out after {:?}",
        killed_at.elapsed()
    );
    // Restarted on its state directory: the same host, serving v2 as soon
    // as it says it serves.
    let third = cluster.start_host(2);
    assert_eq!(body(&third, "/").await.unwrap(), (200, V2_BODY.to_string()));
    let status = admin_json(&third, "/v1/cluster").await;
    assert_eq!(status["host_id"], id_of_third.as_str());

    // A host that never saw the deploy (new state directory) converges too.
    let late = cluster.start_host(3);
    assert_eq!(body(&late, "/").await.unwrap(), (200, V2_BODY.to_string()));
    let services = admin_json(&late, "/v1/services").await;
    assert_eq!(services[0]["version"], "v2");

    let all: Vec<&ChildHost> = cluster.hosts.iter().chain([&third, &late]).collect();
    eventually(30, "ps --cluster lists the four hosts on v2", || {
        let status = tokio::task::block_in_place(|| ps_cluster(all[0]));
        let versions = web_versions(&status);
        async move { versions.len() == 4 && versions.iter().all(|(_, v)| v == "v2") }
    })
    .await;
    assert!(all_serve(&all, "/", V2_BODY).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deploys_through_two_hosts_both_land() {
    let cluster = Cluster::start(2);
    let hosts = hosts_of(&cluster);
    let (a, b) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let a = s.spawn(|| {
                wharf_admin(
                    hosts[0],
                    &[
                        "deploy",
                        "alpha",
                        art::EXAMPLE_HELLO_COMPONENT,
                        "--version",
                        "a1",
                    ],
                )
            });
            let b = s.spawn(|| {
                wharf_admin(
                    hosts[1],
                    &[
                        "deploy",
                        "beta",
                        art::EXAMPLE_HELLO_COMPONENT,
                        "--version",
                        "b1",
                    ],
                )
            });
            (a.join().unwrap(), b.join().unwrap())
        })
    });
    assert_ok(&a);
    assert_ok(&b);
    eventually(
        CONVERGE_SECS,
        "both hosts serve both new services",
        || async {
            all_serve(&hosts, "/alpha/x", V2_BODY).await
                && all_serve(&hosts, "/beta/x", V2_BODY).await
        },
    )
    .await;
    let status = tokio::task::block_in_place(|| ps_cluster(hosts[0]));
    let names: Vec<&str> = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "web"]);
    assert!(all_serve(&hosts, "/", V1_BODY).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_whose_bytes_do_not_match_its_digest_is_refused() {
    let cluster = Cluster::start(2);
    let hosts = hosts_of(&cluster);
    let good = std::fs::read(art::EXAMPLE_HELLO_COMPONENT).unwrap();
    let digest = format!("sha256:{}", sha256_hex(&good));

    // An upload that does not hash to the digest it names.
    let response = client()
        .put(hosts[0].admin_url(&format!("/v1/components/{digest}")))
        .bearer_auth(TOKEN)
        .body(std::fs::read(art::HTTP_TRAP_COMPONENT).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["kind"], "digest-mismatch");

    // Other bytes planted in the object store under that digest, and a
    // record naming it written straight into the bucket: no host runs them.
    let js = jetstream::new(async_nats::connect(&cluster.nats.url).await.unwrap());
    let objects = js
        .get_object_store(format!("wharf-{CLUSTER}-components"))
        .await
        .unwrap();
    let planted = std::fs::read(art::HTTP_TRAP_COMPONENT).unwrap();
    objects
        .put(digest.as_str(), &mut planted.as_slice())
        .await
        .unwrap();
    let kv = js
        .get_key_value(format!("wharf-{CLUSTER}-deployments"))
        .await
        .unwrap();
    let entry = kv.entry("record").await.unwrap().unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&entry.value).unwrap();
    let revision = record["revision"].as_u64().unwrap() + 1;
    record["revision"] = revision.into();
    let web = &mut record["services"]["web"];
    let old = web["active"].clone();
    web["history"].as_array_mut().unwrap().push(old);
    web["active"]["version"] = "planted".into();
    web["active"]["digest"] = digest.clone().into();
    kv.update(
        "record",
        Bytes::from(serde_json::to_vec(&record).unwrap()),
        entry.revision,
    )
    .await
    .unwrap();

    eventually(
        CONVERGE_SECS,
        "both hosts report the refused version",
        || async {
            for host in &hosts {
                let services = admin_json(host, "/v1/services").await;
                let error = services[0]["error"]["error"].as_str().unwrap_or_default();
                if !error.contains("does not match its digest") {
                    return false;
                }
            }
            true
        },
    )
    .await;
    // Never activated: v1 keeps serving everywhere, and the heartbeats say
    // why.
    assert!(all_serve(&hosts, "/", V1_BODY).await);
    eventually(
        30,
        "ps --cluster shows the load error on both hosts",
        || {
            let status = tokio::task::block_in_place(|| ps_cluster(hosts[0]));
            async move {
                status["hosts"].as_array().unwrap().len() == 2
                    && status["hosts"].as_array().unwrap().iter().all(|h| {
                        h["services"][0]["version"] == "v1"
                            && h["services"][0]["error"]["version"] == "planted"
                    })
            }
        },
    )
    .await;

    // A real deploy of those bytes replaces the planted copy, and every host
    // converges past the bad revision.
    let out = tokio::task::block_in_place(|| {
        wharf_admin(
            hosts[1],
            &[
                "deploy",
                "web",
                art::EXAMPLE_HELLO_COMPONENT,
                "--version",
                "v2",
            ],
        )
    });
    assert_ok(&out);
    eventually(
        CONVERGE_SECS,
        "both hosts serve v2 without an error",
        || async {
            for host in &hosts {
                let services = admin_json(host, "/v1/services").await;
                if services[0]["version"] != "v2" || !services[0]["error"].is_null() {
                    return false;
                }
            }
            true
        },
    )
    .await;
    assert!(all_serve(&hosts, "/", V2_BODY).await);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_keep_converging_after_the_nats_server_restarts() {
    let mut cluster = Cluster::start(2);
    cluster.nats.restart();
    let hosts = hosts_of(&cluster);
    // Serving never depended on NATS.
    assert!(all_serve(&hosts, "/", V1_BODY).await);
    // The client reconnects by itself; until it has, a deploy fails and
    // changes nothing.
    let deadline = Instant::now() + Duration::from_secs(CONVERGE_SECS);
    loop {
        let out = tokio::task::block_in_place(|| {
            wharf_admin(
                hosts[0],
                &[
                    "deploy",
                    "web",
                    art::EXAMPLE_HELLO_COMPONENT,
                    "--version",
                    "v2",
                ],
            )
        });
        if out.0 == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "deploys kept failing: {out:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The other host's watch was re-established (or its poll read the key).
    eventually(
        CONVERGE_SECS,
        "both hosts serve v2 after the restart",
        || all_serve(&hosts, "/", V2_BODY),
    )
    .await;
    eventually(30, "both heartbeats come back", || {
        let status = tokio::task::block_in_place(|| ps_cluster(hosts[1]));
        let versions = web_versions(&status);
        async move { versions.len() == 2 && versions.iter().all(|(_, v)| v == "v2") }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_refuses_bad_setups_with_clear_errors() {
    let app = app();
    let dir = app.path().to_str().unwrap();
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();

    // Without NATS there is nowhere to keep the cluster's state.
    let out = std::process::Command::new(crate::common::wharf_bin())
        .args(["up", dir, "--cluster", "x", "--state-dir", state])
        .env_remove("WHARF_NATS_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--nats"), "{err}");

    // A name that cannot be part of a bucket name.
    let core = nats_server::NatsServer::start();
    let up = |name: &str, url: &str| {
        run_wharf_env(
            &[
                "up",
                dir,
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--nats",
                url,
                "--cluster",
                name,
                "--state-dir",
                state,
            ],
            &[("WHARF_ADMIN_TOKEN", TOKEN)],
        )
    };
    let (code, _, err) = tokio::task::block_in_place(|| up("no.dots", &core.url));
    assert_ne!(code, 0);
    assert!(err.contains("invalid cluster name `no.dots`"), "{err}");

    // A NATS server without JetStream.
    let (code, _, err) = tokio::task::block_in_place(|| up("ok", &core.url));
    assert_ne!(code, 0);
    assert!(err.contains("cannot join the cluster `ok`"), "{err}");
    assert!(err.contains("is JetStream enabled"), "{err}");

    // A host that is not in a cluster says so.
    let single = ChildHost::start(app.path(), &[]);
    let (code, _, err) = tokio::task::block_in_place(|| wharf_admin(&single, &["ps", "--cluster"]));
    assert_ne!(code, 0);
    assert!(err.contains("not part of a cluster"), "{err}");
}

/// `component` with a custom section naming `tag` appended: the same
/// behaviour under a new digest, so every host fetches and compiles it
/// afresh (the compiled-code cache is keyed by digest).
fn variant(dir: &Path, component: &str, tag: &str) -> std::path::PathBuf {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut bytes = std::fs::read(component).unwrap();
    let name = b"wharf-measurement";
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(tag.as_bytes());
    bytes.push(0);
    leb(body.len(), &mut bytes);
    bytes.extend_from_slice(&body);
    let path = dir.join(format!("{tag}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs `wharf deploy web COMPONENT --version LABEL` through `through` and
/// returns, per host, the time from starting the command until the host
/// answers `/` with `expected`.
async fn time_deploy(
    hosts: &[&ChildHost],
    through: usize,
    component: &Path,
    label: &str,
    expected: &str,
) -> Vec<Duration> {
    let started = Instant::now();
    let admin = format!("http://{}", hosts[through].admin);
    let mut deploy = std::process::Command::new(crate::common::wharf_bin())
        .arg("deploy")
        .arg("web")
        .arg(component)
        .args(["--version", label, "--admin", &admin])
        .env("WHARF_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut serving = vec![None; hosts.len()];
    let deadline = Instant::now() + Duration::from_secs(CONVERGE_SECS);
    while serving.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "{label} did not converge");
        for (i, host) in hosts.iter().enumerate() {
            if serving[i].is_none()
                && matches!(body(host, "/").await, Ok((200, ref b)) if b == expected)
            {
                serving[i] = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(deploy.wait().unwrap().success());
    serving.into_iter().flatten().collect()
}

/// Prints the time from starting `wharf deploy` to all three hosts
/// answering with the new version: five deploys of components no host has
/// seen (each fetched from the object store and compiled on every host),
/// then five of a component every host has compiled, under a new label.
/// Run with
/// `cargo test -p wharf --test all cluster::time_from_deploy -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement; prints the time from `wharf deploy` to three hosts serving"]
async fn time_from_deploy_to_all_three_hosts_serving() {
    let cluster = Cluster::start(3);
    let hosts = hosts_of(&cluster);
    let work = tempfile::tempdir().unwrap();
    for (kind, fresh) in [("new component", true), ("compiled before", false)] {
        if !fresh {
            // Every host compiles both components once (untimed).
            for (i, (component, expected)) in [
                (art::HTTP_HELLO_COMPONENT, V1_BODY),
                (art::EXAMPLE_HELLO_COMPONENT, V2_BODY),
            ]
            .into_iter()
            .enumerate()
            {
                let label = format!("warm{i}");
                time_deploy(&hosts, 0, Path::new(component), &label, expected).await;
            }
        }
        let mut times = Vec::new();
        // Each deploy changes the body every host answers with.
        for round in 0..5 {
            let (component, expected) = if round % 2 == usize::from(!fresh) {
                (art::EXAMPLE_HELLO_COMPONENT, V2_BODY)
            } else {
                (art::HTTP_HELLO_COMPONENT, V1_BODY)
            };
            let label = format!("{}{round}", if fresh { "new" } else { "again" });
            let path = if fresh {
                variant(work.path(), component, &label)
            } else {
                Path::new(component).to_path_buf()
            };
            let serving = time_deploy(&hosts, round % 3, &path, &label, expected).await;
            let all = serving.iter().max().copied().unwrap();
            println!(
                "{kind}: deploy {label} through host {}: hosts serving after {serving:?}; all three after {all:?}",
                round % 3
            );
            times.push(all);
        }
        times.sort();
        println!(
            "{kind}: time from `wharf deploy` to all three hosts serving: median {:?} (min {:?}, max {:?}) over {} deploys",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            times.len()
        );
    }
}
