//! The operator console: a web page served by the admin listener at
//! `/ui/`, and the data behind it.
//!
//! - **Page**: `ui/index.html`, `ui/console.js`, `ui/console.css`, embedded
//!   in the binary with `include_str!` (no CDN, no build step, works with no
//!   network), served with a strict Content-Security-Policy (scripts and
//!   styles only from the page's own origin, no inline script, no frames).
//!   The page is vanilla JavaScript with hand-drawn SVG charts: the console
//!   needs a table, a slider, a few buttons and line charts, which is less
//!   code than wiring a framework or a charting library in, and keeps the
//!   build free of npm. The page holds the bearer token in `sessionStorage`
//!   only and sends it as a header on every call; it reads only the
//!   documented admin API, so everything it shows is scriptable.
//! - **Time series** ([`crate::series`]): sampled once a second from the
//!   counters each version keeps, 15 minutes per service.
//! - **Guest log lines**: the last [`BACKLOG_LINES`] lines of each service
//!   and a live stream (`GET /v1/services/{name}/logs`, server-sent events),
//!   fed by [`wharf_core::guest_log::tap`]. Lines are capped at
//!   [`MAX_LOG_LINE`] bytes and secrets (the admin token, and the values of
//!   the host's environment variables whose names say they are secret) are
//!   replaced by `[redacted]` before they are kept.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt as _, Full, StreamBody};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use wharf_core::guest_log::{TappedLine, tap};
use wharf_http::HttpApp;

use crate::AdminBody;
use crate::series::{SeriesStore, ServiceReading, VersionReading};

/// Lines kept per service for a log panel that opens late.
pub const BACKLOG_LINES: usize = 100;

/// Longest log line kept and streamed, in bytes (guest lines may be 16 KiB).
pub const MAX_LOG_LINE: usize = 2048;

/// How often an idle log stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

const INDEX_HTML: &str = include_str!("../ui/index.html");
const CONSOLE_JS: &str = include_str!("../ui/console.js");
const CONSOLE_CSS: &str = include_str!("../ui/console.css");

/// The page's Content-Security-Policy: nothing but its own script, style
/// and API calls.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One guest line as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Service name.
    pub service: String,
    /// Version label.
    pub version: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The line, capped and with secrets redacted.
    pub line: String,
    /// Unix time in milliseconds when the host read it.
    pub unix_ms: u64,
}

/// The console's state: time series, log backlog, start time.
pub struct Console {
    started: Instant,
    series: Mutex<SeriesStore>,
    backlog: Mutex<HashMap<Arc<str>, VecDeque<Arc<LogLine>>>>,
    secrets: Vec<String>,
    running: std::sync::atomic::AtomicBool,
}

impl Console {
    /// A console that redacts `admin_token` (and secret-named environment
    /// variables' values) from log lines.
    pub fn new(admin_token: &str) -> Self {
        let mut secrets: Vec<String> = std::env::vars()
            .filter(|(name, value)| secret_name(name) && value.len() >= 8)
            .map(|(_, value)| value)
            .collect();
        if !admin_token.is_empty() {
            secrets.push(admin_token.to_string());
        }
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self {
            started: Instant::now(),
            series: Mutex::new(SeriesStore::default()),
            backlog: Mutex::new(HashMap::new()),
            secrets,
            running: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Seconds since the admin listener started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Starts sampling `http`'s services and collecting their log lines
    /// (once; later calls do nothing). The tasks end when the console is
    /// dropped.
    pub fn start(self: &Arc<Self>, http: Arc<HttpApp>) {
        if self.running.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        tokio::spawn(sample(Arc::downgrade(self), http));
        tokio::spawn(collect(Arc::downgrade(self), tap()));
    }

    /// The series of `service` as JSON, if it has one yet.
    pub fn series(&self, service: &str) -> Option<crate::series::Series> {
        self.series.lock().ok()?.series(service)
    }

    /// Records one tick (the sampler calls this every second).
    pub fn record(&self, now: u64, readings: &[ServiceReading]) {
        if let Ok(mut store) = self.series.lock() {
            store.record(now, readings);
            if let Ok(mut backlog) = self.backlog.lock() {
                backlog.retain(|name, _| readings.iter().any(|r| r.name == *name));
            }
        }
    }

    fn redact(&self, line: &str) -> String {
        let mut line = line.to_string();
        for secret in &self.secrets {
            if line.contains(secret.as_str()) {
                line = line.replace(secret.as_str(), "[redacted]");
            }
        }
        if line.len() > MAX_LOG_LINE {
            let mut end = MAX_LOG_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push('…');
        }
        line
    }

    fn keep(&self, tapped: &TappedLine) -> Arc<LogLine> {
        let line = Arc::new(self.as_line(tapped));
        if let Ok(mut backlog) = self.backlog.lock() {
            let lines = backlog
                .entry(tapped.service.clone())
                .or_insert_with(|| VecDeque::with_capacity(BACKLOG_LINES));
            if lines.len() == BACKLOG_LINES {
                lines.pop_front();
            }
            lines.push_back(line.clone());
        }
        line
    }

    /// `GET /v1/services/{name}/logs`: the service's recent lines, then new
    /// ones as they come, as server-sent events (`event: log`, JSON data).
    pub fn log_stream(self: &Arc<Self>, service: &str) -> Response<AdminBody> {
        // Subscribe before reading the backlog, so no line falls between.
        let live = tap();
        let backlog: VecDeque<Arc<LogLine>> = self
            .backlog
            .lock()
            .ok()
            .and_then(|b| b.get(service).cloned())
            .unwrap_or_default();
        let state = LogStream {
            console: Arc::downgrade(self),
            service: service.into(),
            backlog,
            live,
        };
        let events = futures::stream::unfold(state, |mut state| async move {
            let event = state.next().await?;
            Some((Ok::<_, Infallible>(Frame::data(event)), state))
        });
        let mut r = Response::new(StreamBody::new(events).boxed_unsync());
        let headers = r.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

struct LogStream {
    console: Weak<Console>,
    service: Arc<str>,
    backlog: VecDeque<Arc<LogLine>>,
    live: tokio::sync::broadcast::Receiver<Arc<TappedLine>>,
}

impl LogStream {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(line) = self.backlog.pop_front() {
            return Some(event(&line));
        }
        loop {
            let received = tokio::time::timeout(KEEP_ALIVE, self.live.recv()).await;
            match received {
                Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
                Ok(Ok(tapped)) if tapped.service == self.service => {
                    let console = self.console.upgrade()?;
                    return Some(event(&console.as_line(&tapped)));
                }
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(lost))) => {
                    return Some(Bytes::from(format!("event: lagged\ndata: {lost}\n\n")));
                }
                Ok(Err(RecvError::Closed)) => return None,
            }
        }
    }
}

impl Console {
    /// A tapped line as the console shows it, without keeping it (the
    /// collector keeps each line once).
    fn as_line(&self, tapped: &TappedLine) -> LogLine {
        LogLine {
            service: tapped.service.to_string(),
            version: tapped.version.to_string(),
            stream: tapped.stream,
            line: self.redact(&tapped.line),
            unix_ms: unix_ms(),
        }
    }
}

fn event(line: &LogLine) -> Bytes {
    // serde_json never writes a raw newline, so one `data:` line suffices.
    let json = serde_json::to_string(line).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: log\ndata: {json}\n\n"))
}

fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"]
        .iter()
        .any(|word| upper.contains(word))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Once a second: every service's counters into the rings.
async fn sample(console: Weak<Console>, http: Arc<HttpApp>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(console) = console.upgrade() else {
            return;
        };
        let table = http.table();
        let readings: Vec<ServiceReading> = table
            .services()
            .iter()
            .map(|target| {
                let read = |serving: &wharf_http::Serving| {
                    let metrics = serving.template.service_metrics();
                    VersionReading {
                        version: serving.template.identity().version.clone(),
                        health: metrics.requests.health.snapshot(),
                        live_instances: u32::try_from(metrics.instances_live.get()).unwrap_or(0),
                    }
                };
                ServiceReading {
                    name: target.stable.template.identity().name.clone(),
                    stable: read(&target.stable),
                    canary: target.canary.as_ref().map(|c| read(&c.serving)),
                }
            })
            .collect();
        console.record(unix_now(), &readings);
    }
}

/// Keeps the last lines of each service for log panels opened later.
async fn collect(
    console: Weak<Console>,
    mut live: tokio::sync::broadcast::Receiver<Arc<TappedLine>>,
) {
    loop {
        match live.recv().await {
            Ok(tapped) => {
                let Some(console) = console.upgrade() else {
                    return;
                };
                console.keep(&tapped);
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// `GET /`: to the console.
pub fn redirect() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/ui/"));
    r
}

/// `GET /ui/` and `GET /ui/{asset}`.
pub fn asset(name: &str) -> Response<Full<Bytes>> {
    let (status, body, content_type) = match name {
        "" | "index.html" => (StatusCode::OK, INDEX_HTML, "text/html; charset=utf-8"),
        "console.js" => (StatusCode::OK, CONSOLE_JS, "text/javascript; charset=utf-8"),
        "console.css" => (StatusCode::OK, CONSOLE_CSS, "text/css; charset=utf-8"),
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n",
            "text/plain; charset=utf-8",
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Bytes the embedded page adds to the binary.
pub const ASSET_BYTES: usize = INDEX_HTML.len() + CONSOLE_JS.len() + CONSOLE_CSS.len();

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_are_redacted_and_lines_capped() {
        let console = Console::new("the-admin-token-123");
        assert_eq!(
            console.redact("token=the-admin-token-123 ok"),
            "token=[redacted] ok"
        );
        let long = "é".repeat(MAX_LOG_LINE);
        let capped = console.redact(&long);
        assert!(capped.len() <= MAX_LOG_LINE + '…'.len_utf8());
        assert!(secret_name("WHARF_ADMIN_TOKEN") && secret_name("aws_secret_access_key"));
        assert!(!secret_name("HOME"));
    }

    #[test]
    fn the_backlog_is_bounded_per_service() {
        let console = Console::new("t");
        for i in 0..(3 * BACKLOG_LINES) {
            console.keep(&TappedLine {
                service: "web".into(),
                version: "v1".into(),
                stream: "stdout",
                line: format!("line {i}").into(),
                truncated: false,
            });
        }
        let backlog = console.backlog.lock().unwrap();
        let lines = &backlog["web"];
        assert_eq!(lines.len(), BACKLOG_LINES);
        assert_eq!(
            lines.back().unwrap().line,
            format!("line {}", 3 * BACKLOG_LINES - 1)
        );
    }
}
