// The `p3_service*` programs: one WASI 0.3 `wasi:http` service, compiled
// against each `wasip3` release the tests cover. The including binary names
// the crate (`use <crate> as wasip3;`) and a `WASI` label; see README.md,
// "Expectations".

use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response, Scheme};
use wasip3::{wit_future, wit_stream};

wasip3::http::service::export!(Service);

struct Service;

/// Pattern byte `i` of a download: `(i % 251) as u8`.
fn pattern(from: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| ((from + i) % 251) as u8).collect()
}

const CHUNK: usize = 64 * 1024;

/// Requests this instance has served.
static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn query<'a>(path: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then_some(v)
    })
}

fn header(fields: &Fields, name: &str) -> Option<String> {
    let values = fields.get(name);
    let value = values.first()?;
    Some(String::from_utf8_lossy(value).into_owned())
}

/// A response with `headers` and a body the returned writer streams.
fn streamed(
    status: u16,
    headers: &[(&str, &str)],
) -> (Response, wasip3::wit_bindgen::StreamWriter<u8>) {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&list).unwrap_or_else(|_| Fields::new());
    let (body_tx, body_rx) = wit_stream::new();
    let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    drop(trailers_tx);
    let (response, _sent) = Response::new(fields, Some(body_rx), trailers_rx);
    let _ = response.set_status_code(status);
    (response, body_tx)
}

/// A complete `text/plain` response.
fn text(status: u16, body: String) -> Response {
    let (response, mut tx) = streamed(status, &[("content-type", "text/plain")]);
    wasip3::spawn_local(async move {
        let _ = tx.write_all(body.into_bytes()).await;
    });
    response
}

impl wasip3::exports::http::handler::Guest for Service {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        let route = path.split('?').next().unwrap_or("").to_string();
        let headers = request.get_headers();
        match route.as_str() {
            // How many requests this instance has served, this one included.
            "/count" => {
                let served = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                Ok(text(200, format!("served={served}\n")))
            }
            "/" | "/hello" => Ok(text(200, format!("hello from wasi {WASI}\n"))),
            "/headers" => {
                let value = header(&headers, "x-test").unwrap_or_default();
                let (response, mut tx) = streamed(
                    200,
                    &[("content-type", "text/plain"), ("x-echo", &value)],
                );
                wasip3::spawn_local(async move {
                    let _ = tx.write_all(format!("x-test={value}\n").into_bytes()).await;
                });
                Ok(response)
            }
            "/status" => {
                let code = query(&path, "code").and_then(|c| c.parse().ok()).unwrap_or(200);
                Ok(text(code, format!("status {code}\n")))
            }
            // Streams the request body back as it arrives, with the request's
            // content-type.
            "/echo" => {
                let content_type = header(&headers, "content-type")
                    .unwrap_or_else(|| "application/octet-stream".to_string());
                let (done_tx, done_rx) = wit_future::new(|| Ok(()));
                let (mut body, _trailers) = Request::consume_body(request, done_rx);
                let (response, mut tx) = streamed(200, &[("content-type", &content_type)]);
                wasip3::spawn_local(async move {
                    loop {
                        let (result, chunk) = body.read(Vec::with_capacity(CHUNK)).await;
                        if chunk.is_empty() {
                            if matches!(result, wasip3::wit_bindgen::StreamResult::Complete(_)) {
                                continue;
                            }
                            break;
                        }
                        if !tx.write_all(chunk).await.is_empty() {
                            break;
                        }
                    }
                    drop(done_tx);
                });
                Ok(response)
            }
            // Counts the request body without keeping it.
            "/upload" => {
                let (done_tx, done_rx) = wit_future::new(|| Ok(()));
                let (mut body, _trailers) = Request::consume_body(request, done_rx);
                let mut total = 0u64;
                let mut sum = 0u64;
                loop {
                    let (result, chunk) = body.read(Vec::with_capacity(CHUNK)).await;
                    total += chunk.len() as u64;
                    sum = chunk.iter().fold(sum, |s, b| s.wrapping_add(u64::from(*b)));
                    if chunk.is_empty()
                        && !matches!(result, wasip3::wit_bindgen::StreamResult::Complete(_))
                    {
                        break;
                    }
                }
                drop(done_tx);
                Ok(text(200, format!("bytes={total} sum={sum}\n")))
            }
            "/download" => {
                let Some(size) = query(&path, "size").and_then(|s| s.parse::<u64>().ok()) else {
                    return Ok(text(400, "size?\n".to_string()));
                };
                let (response, mut tx) =
                    streamed(200, &[("content-type", "application/octet-stream")]);
                wasip3::spawn_local(async move {
                    let mut sent = 0u64;
                    while sent < size {
                        let len = (size - sent).min(CHUNK as u64) as usize;
                        if !tx.write_all(pattern(sent, len)).await.is_empty() {
                            return;
                        }
                        sent += len as u64;
                    }
                });
                Ok(response)
            }
            "/sleep" => {
                let ms: u64 = query(&path, "ms").and_then(|m| m.parse().ok()).unwrap_or(0);
                wasip3::clocks::monotonic_clock::wait_for(ms * 1_000_000).await;
                Ok(text(200, format!("slept {ms}\n")))
            }
            // Awaits a future nobody will ever resolve: only the host's
            // timeout ends it.
            "/forever" => {
                let (_never_tx, never_rx) =
                    wit_future::new::<Result<(), ErrorCode>>(|| Ok(()));
                let _ = never_rx.await;
                Ok(text(200, "woke up\n".to_string()))
            }
            "/trap" => panic!("guest panic on purpose"),
            "/loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/alloc" => {
                let mut kept = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 1024 * 1024];
                    for page in chunk.iter_mut().step_by(4096) {
                        *page = 1;
                    }
                    kept.push(std::hint::black_box(chunk));
                }
            }
            "/read" => {
                let target = query(&path, "path").unwrap_or("/etc/passwd").to_string();
                let line = match std::fs::read(&target) {
                    Ok(bytes) => format!(
                        "{target}: LEAKED {}\n",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(20)])
                    ),
                    Err(e) => format!("{target}: denied: {e}\n"),
                };
                Ok(text(200, line))
            }
            "/env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                Ok(text(200, format!("vars={}\n{}", vars.len(), vars.join("\n"))))
            }
            "/tcp" => {
                let addr = query(&path, "addr").unwrap_or("127.0.0.1:1");
                let line = match addr.parse::<std::net::SocketAddr>() {
                    Ok(a) => match std::net::TcpStream::connect_timeout(
                        &a,
                        std::time::Duration::from_secs(2),
                    ) {
                        Ok(_) => format!("connect {addr}: CONNECTED\n"),
                        Err(e) => format!("connect {addr}: denied: {e}\n"),
                    },
                    Err(_) => return Ok(text(400, "addr?\n".to_string())),
                };
                Ok(text(200, line))
            }
            // An outbound GET through wasi:http/client: `http://<authority><path>`.
            "/fetch" => {
                let authority = query(&path, "authority").unwrap_or("127.0.0.1:1").to_string();
                let target = query(&path, "path").unwrap_or("/").to_string();
                let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
                drop(trailers_tx);
                let (outgoing, _sent) = Request::new(Fields::new(), None, trailers_rx, None);
                let _ = outgoing.set_method(&Method::Get);
                let _ = outgoing.set_scheme(Some(&Scheme::Http));
                let _ = outgoing.set_authority(Some(&authority));
                let _ = outgoing.set_path_with_query(Some(&target));
                match wasip3::http::client::send(outgoing).await {
                    Ok(response) => {
                        let status = response.get_status_code();
                        let (done_tx, done_rx) = wit_future::new(|| Ok(()));
                        let (body, _trailers) = Response::consume_body(response, done_rx);
                        let bytes = body.collect().await;
                        drop(done_tx);
                        Ok(text(
                            200,
                            format!("status={status}\n{}", String::from_utf8_lossy(&bytes)),
                        ))
                    }
                    Err(code) => Ok(text(502, format!("error: {code:?}\n"))),
                }
            }
            _ => Ok(text(404, "not found\n".to_string())),
        }
    }
}
