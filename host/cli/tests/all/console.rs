//! The operator console (`/ui/` on the admin listener): its API endpoints
//! over plain HTTP, and the page itself in a real headless Chromium driven
//! over WebDriver (`chromedriver`, started here on a loopback port; Debian's
//! `chromium` and `chromium-driver`, which scripts/test.sh installs).
//!
//! The browser test also writes the README's screenshot: always to
//! `target/console.png`, and to `host/admin/console.png` when
//! `WHARF_UPDATE_SCREENSHOT=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::StreamExt as _;
use serde_json::{Value, json};
use wharf_test_artifacts as art;

use crate::common::{ChildHost, client, run_wharf_env};

const TOKEN: &str = "test-admin-token";
const V1_BODY: &str = "hello from http_hello\n";
const V2_BODY: &str = "Hello from Wharf!\n";
const PRINTED: &str = "line from sdk_features";

/// `web` (http_hello, version v1, every path) and `features` (sdk_features,
/// which prints a line on `/print`).
fn start_host() -> (ChildHost, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\nversion = \"v1\"\n\n\
             [service.features]\ncomponent = {:?}\nroutes = [\"/print\"]\nversion = \"1.0.0\"\n",
            art::HTTP_HELLO_COMPONENT,
            art::SDK_FEATURES_COMPONENT
        ),
    )
    .unwrap();
    let host = ChildHost::start(dir.path(), &[]);
    (host, dir)
}

fn deploy_canary(host: &ChildHost, weight: &str) {
    let admin = format!("http://{}", host.admin);
    let (code, out, err) = run_wharf_env(
        &[
            "deploy",
            "web",
            art::EXAMPLE_HELLO_COMPONENT,
            "--version",
            "v2",
            "--canary",
            weight,
            "--admin",
            &admin,
        ],
        &[("WHARF_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
}

/// `n` requests to `/` in parallel batches; the bodies.
async fn burst(host: &ChildHost, n: usize) -> Vec<String> {
    let c = client();
    futures::stream::iter(0..n)
        .map(|_| {
            let c = c.clone();
            let url = host.url("/");
            async move {
                let r = c.get(url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.text().await.unwrap()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

async fn admin_get(host: &ChildHost, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = client().get(host.admin_url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_endpoint_refuses_a_missing_or_wrong_token() {
    let (host, _dir) = start_host();
    for path in [
        "/v1/host",
        "/v1/services/web/series",
        "/v1/services/web/logs",
    ] {
        for token in [None, Some("wrong-token"), Some("test-admin-toke")] {
            let r = admin_get(&host, path, token).await;
            assert_eq!(r.status(), 401, "{path} with {token:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
        }
    }
    // The right token is let in.
    let r = admin_get(&host, "/v1/host", Some(TOKEN)).await;
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    assert_eq!(
        (status["ready"].as_bool(), status["services"].as_u64()),
        (Some(true), Some(2))
    );
    let r = admin_get(&host, "/v1/services/nope/series", Some(TOKEN)).await;
    assert_eq!(r.status(), 404);
    let r = admin_get(&host, "/v1/services/nope/logs", Some(TOKEN)).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_embedded_with_a_strict_policy_and_only_on_the_admin_listener() {
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        format!(
            "[service.web]\ncomponent = {:?}\nroutes = [\"/...\"]\n",
            art::HTTP_HELLO_COMPONENT
        ),
    )
    .unwrap();
    let metrics = metrics_port.to_string();
    let host = ChildHost::start(dir.path(), &["--metrics", &metrics]);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(host.admin_url("/")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/ui/");
    for (path, content_type) in [
        ("/ui/", "text/html"),
        ("/ui/console.js", "text/javascript"),
        ("/ui/console.css", "text/css"),
    ] {
        let r = admin_get(&host, path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type)
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        let body = r.text().await.unwrap();
        if path == "/ui/" {
            // Scripts only by `src`, from this origin.
            assert_eq!(body.matches("<script").count(), 1);
            assert!(body.contains("<script src=\"/ui/console.js\""));
            assert!(!body.contains("http://") && !body.contains("https://"));
        }
    }
    assert_eq!(admin_get(&host, "/ui/nope.js", None).await.status(), 404);
    // Nothing of the console on the public or the metrics-only listener.
    let r = client().get(host.url("/ui/")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), V1_BODY);
    let r = client()
        .get(format!("http://{metrics}/ui/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_series_counts_a_burst_and_the_log_stream_carries_a_printed_line() {
    let (host, _dir) = start_host();
    burst(&host, 50).await;
    let started = Instant::now();
    loop {
        let r = admin_get(&host, "/v1/services/web/series", Some(TOKEN)).await;
        if r.status() == 200 {
            let series: Value = r.json().await.unwrap();
            let points = series["stable"].as_array().unwrap();
            assert!(points.len() <= 900);
            let total: u64 = points.iter().map(|p| p["requests"].as_u64().unwrap()).sum();
            if total >= 50 {
                assert_eq!(total, 50);
                assert_eq!(series["stable_version"], "v1");
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the series never showed the burst"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let r = admin_get(&host, "/v1/services/features/logs", Some(TOKEN)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut events = r.bytes_stream();
    let r = client().get(host.url("/print")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "printed\n");
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(PRINTED) {
        let chunk = tokio::time::timeout_at(deadline.into(), events.next())
            .await
            .expect("the printed line never reached the log stream")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let event = seen.split("\n\n").find(|e| e.contains(PRINTED)).unwrap();
    let data: Value = serde_json::from_str(
        event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data["service"], "features");
    assert_eq!(data["stream"], "stdout");
    assert_eq!(data["line"], PRINTED);
}

/// chromedriver on a loopback port, and a session with a fresh profile.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let chromedriver = which("chromedriver");
        let chromium = which("chromium");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("cannot start a Chromium session through {chromedriver:?}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Self {
            driver,
            client,
            _profile: profile,
        }
    }

    /// Evaluates `expr` in the page until it is truthy; returns its value.
    async fn until(&self, expr: &str, what: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self
                .client
                .execute(&format!("return ({expr});"), vec![])
                .await
                .unwrap();
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what} ({expr})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn eval(&self, expr: &str) -> Value {
        self.client
            .execute(&format!("return ({expr});"), vec![])
            .await
            .unwrap()
    }

    async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Clicks `id`, then the confirmation dialog's Confirm after checking it
    /// names `expect`.
    async fn click_and_confirm(&self, id: &str, expect: &str) {
        self.click(id).await;
        let text = self
            .until(
                "document.getElementById('confirm-dialog').open && document.getElementById('confirm-text').textContent",
                "the confirmation dialog",
            )
            .await;
        assert!(text.as_str().unwrap().contains(expect), "{text}");
        self.click("confirm-ok").await;
    }

    async fn assert_no_page_errors(&self) {
        let errors = self.eval("window.wharfErrors").await;
        assert_eq!(errors, json!([]), "the page reported errors");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn which(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{tool}` not found: install Debian's chromium and chromium-driver (scripts/test.sh does)")
        })
}

fn count(bodies: &[String], body: &str) -> usize {
    bodies.iter().filter(|b| b.as_str() == body).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_in_a_real_browser() {
    let (host, _dir) = start_host();
    deploy_canary(&host, "10");
    let browser = Browser::start().await;
    let b = &browser;

    // `/` leads to the console, which asks for the token.
    b.client.goto(&host.admin_url("/")).await.unwrap();
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/ui/");
    b.until(
        "!document.getElementById('sign-in-view').hidden",
        "the sign-in form",
    )
    .await;

    // A wrong token is refused and not kept.
    let token = b.client.find(Locator::Id("token")).await.unwrap();
    token.send_keys("not-the-token").await.unwrap();
    b.click("sign-in").await;
    let error = b
        .until(
            "!document.getElementById('sign-in-error').hidden && document.getElementById('sign-in-error').textContent",
            "the wrong-token message",
        )
        .await;
    assert!(error.as_str().unwrap().contains("Wrong token"), "{error}");
    assert_eq!(b.eval("sessionStorage.length").await, json!(0));
    assert_eq!(
        b.eval("document.getElementById('overview-view').hidden")
            .await,
        json!(true)
    );

    // The right one opens the overview, which lists the services.
    let token = b.client.find(Locator::Id("token")).await.unwrap();
    token.clear().await.unwrap();
    token.send_keys(TOKEN).await.unwrap();
    b.click("sign-in").await;
    let rows = b
        .until(
            "[...document.querySelectorAll('#services tbody tr')].map(r => r.textContent).join('|')",
            "the service rows",
        )
        .await;
    let rows = rows.as_str().unwrap();
    assert!(rows.contains("web") && rows.contains("features"), "{rows}");
    assert!(rows.contains("v2 at 10%"), "{rows}");
    // The token lives in sessionStorage, never in the URL.
    assert_eq!(
        b.eval("sessionStorage.getItem('wharf-admin-token')").await,
        json!(TOKEN)
    );
    assert!(
        !b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(TOKEN)
    );

    // A burst shows on the service's chart.
    let bodies = burst(&host, 200).await;
    assert_eq!(bodies.len(), 200);
    b.client
        .find(Locator::Css("#services a[href='#/service/web']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.until(
        "Number(document.getElementById('chart-requests').dataset.total || 0) >= 200",
        "the burst on the chart",
    )
    .await;
    assert!(
        b.eval("document.querySelectorAll('#chart-requests polyline.stable').length")
            .await
            .as_u64()
            .unwrap()
            >= 1
    );

    // The slider, by keyboard: Home, then ten steps of 5 %: 50 %.
    b.until("!document.getElementById('weight').disabled", "the slider")
        .await;
    let slider = b.client.find(Locator::Id("weight")).await.unwrap();
    let mut keys = String::from("\u{e011}");
    keys.push_str(&"\u{e014}".repeat(10));
    slider.send_keys(&keys).await.unwrap();
    assert_eq!(
        b.eval("document.getElementById('weight-value').textContent")
            .await,
        json!("50")
    );
    b.click_and_confirm("apply-weight", "Send 50% of web's requests to canary v2")
        .await;
    b.until(
        "document.getElementById('service-summary').textContent.includes('canary v2 at 50%')",
        "the new weight on the page",
    )
    .await;
    // Real requests split about evenly (Binomial(400, 0.5): sd 10; ±8 sd).
    let bodies = burst(&host, 400).await;
    let (v1, v2) = (count(&bodies, V1_BODY), count(&bodies, V2_BODY));
    assert_eq!(v1 + v2, 400, "{bodies:?}");
    assert!((120..=280).contains(&v2), "canary served {v2} of 400");
    // Both versions on the chart; the README's screenshot.
    b.until(
        "document.querySelectorAll('#chart-requests polyline.canary').length > 0",
        "the canary on the chart",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let png = b.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    save_screenshot(&png);

    // Rolling back from the page withdraws the canary.
    b.click_and_confirm("rollback", "Roll back web's canary v2")
        .await;
    // The summary names a live canary as `; canary <version> at <weight>%`
    // (the last event may still mention the withdrawn one).
    b.until(
        "!document.getElementById('service-summary').textContent.includes('; canary')",
        "the rollback on the page",
    )
    .await;
    let bodies = burst(&host, 100).await;
    assert_eq!(count(&bodies, V1_BODY), 100, "{bodies:?}");

    // A line the guest prints reaches the log panel.
    b.client
        .goto(&host.admin_url("/ui/#/service/features"))
        .await
        .unwrap();
    b.until(
        "document.getElementById('service-title').textContent === 'features'",
        "the features page",
    )
    .await;
    let r = client().get(host.url("/print")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "printed\n");
    b.until(
        &format!("document.getElementById('logs').textContent.includes('{PRINTED}')"),
        "the printed line in the log panel",
    )
    .await;

    // Readable at phone width: nothing wider than the screen but the table.
    b.client.set_window_size(390, 844).await.unwrap();
    b.until("window.innerWidth <= 400", "the narrow window")
        .await;
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true)
    );

    b.assert_no_page_errors().await;

    // Signing out forgets the token.
    b.click("sign-out").await;
    b.until(
        "!document.getElementById('sign-in-view').hidden",
        "the sign-in form",
    )
    .await;
    assert_eq!(b.eval("sessionStorage.length").await, json!(0));
    b.assert_no_page_errors().await;
}

fn save_screenshot(png: &[u8]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target");
    let _ = std::fs::create_dir_all(&target);
    std::fs::write(target.join("console.png"), png).unwrap();
    if std::env::var_os("WHARF_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(root.join("host/admin/console.png"), png).unwrap();
    }
}
