//! `sdk_features`: exercises the Wharf SDK end to end through the host (the
//! `http_*` programs deliberately avoid the SDK; this one is all SDK).
//!
//! - `GET /fetch?url=U`: outbound `GET U` via `wharf_sdk::http::send`;
//!   200 `status=<n>\n<body>` on success, 502 `error: <error>\n` on failure.
//! - `GET /fail`: the handler returns `Err`; the SDK answers 500
//!   `internal error\n` and writes the error to stderr.
//! - `GET /stream?size=N`: a streamed body of N bytes, byte i = i % 251.
//! - `POST /echo-json`: 200 JSON `{"method": "POST", "received": <body>}`,
//!   400 on invalid JSON.
//! - `GET /query?a=..&b=..`: 200 `a=<a> b=<b>\n`, percent-decoded.
//! - `GET /header?name=N`: 200 with the value of request header `N`
//!   (default `x-test`), or `none`.
//! - `GET /print`: prints a line to stdout and an unterminated one to
//!   stderr, then 200 `printed\n`.
#![no_main]

use std::io::Read;

use wharf_sdk::http::{OutgoingRequest, Request, Response, send};

#[wharf_sdk::http_service]
fn handle(req: Request) -> Result<Response, String> {
    match req.path() {
        "/fetch" => {
            let url = req.query_param("url").ok_or("missing url")?;
            Ok(match send(OutgoingRequest::get(url)) {
                Ok(res) => Response::text(
                    200,
                    format!(
                        "status={}\n{}",
                        res.status(),
                        String::from_utf8_lossy(res.body())
                    ),
                ),
                Err(e) => Response::text(502, format!("error: {e}\n")),
            })
        }
        "/fail" => Err("deliberate failure from sdk_features".to_string()),
        "/stream" => {
            let size: u64 = req
                .query_param("size")
                .and_then(|s| s.parse().ok())
                .ok_or("bad size")?;
            Ok(Response::stream(200, Pattern { pos: 0, size }))
        }
        "/echo-json" => match req.json::<serde_json::Value>() {
            Ok(value) => Ok(Response::json(
                200,
                &serde_json::json!({ "method": req.method().as_str(), "received": value }),
            )),
            Err(e) => Ok(Response::text(400, format!("{e}\n"))),
        },
        "/query" => Ok(Response::text(
            200,
            format!(
                "a={} b={}\n",
                req.query_param("a").unwrap_or_default(),
                req.query_param("b").unwrap_or_default()
            ),
        )),
        "/header" => {
            let name = req
                .query_param("name")
                .unwrap_or_else(|| "x-test".to_string());
            Ok(Response::text(
                200,
                req.header(&name).unwrap_or("none").to_string(),
            ))
        }
        "/print" => {
            println!("line from sdk_features");
            eprint!("unterminated stderr line");
            Ok(Response::text(200, "printed\n"))
        }
        _ => Ok(Response::text(404, "not found\n")),
    }
}

/// Generates the test pattern lazily, so the guest never holds the body.
struct Pattern {
    pos: u64,
    size: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.size - self.pos) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = ((self.pos + i as u64) % 251) as u8;
        }
        self.pos += n as u64;
        Ok(n)
    }
}
