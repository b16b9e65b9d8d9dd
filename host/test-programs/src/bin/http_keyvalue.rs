//! `http_keyvalue`: drives `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`,
//! `batch`) with raw `wit-bindgen` bindings generated from the vendored
//! `wit/deps/keyvalue`, the same files the host is built from.
//!
//! Every request opens the store `?store=S` (default `default`) first; see
//! the README's "Expectations" for the paths. Errors answer `500` with
//! `error: access-denied\n`, `error: no-such-store\n` or
//! `error: other: <message>\n`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::{percent_decode, respond};

mod kv {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue",
        world: "wasi:keyvalue/imports",
    });
}

use kv::wasi::keyvalue::{atomics, batch, store};

struct KeyValue;

wasi::http::proxy::export!(KeyValue);

/// Most `list-keys` pages `/list-all` follows.
const MAX_PAGES: usize = 1000;

fn error_text(error: &store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "error: no-such-store\n".to_owned(),
        store::Error::AccessDenied => "error: access-denied\n".to_owned(),
        store::Error::Other(message) => format!("error: other: {message}\n"),
    }
}

/// A query parameter, percent-decoded.
fn param(request: &IncomingRequest, name: &str) -> Option<String> {
    wharf_test_programs::query_param(request, name).map(|v| percent_decode(&v))
}

fn number(request: &IncomingRequest, name: &str) -> Option<u64> {
    param(request, name)?.parse().ok()
}

/// Answers `text`, or the store error.
fn answer(out: ResponseOutparam, result: Result<String, store::Error>) {
    match result {
        Ok(text) => respond(out, 200, &text),
        Err(e) => respond(out, 500, &error_text(&e)),
    }
}

impl wasi::exports::http::incoming_handler::Guest for KeyValue {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let name = param(&request, "store").unwrap_or_else(|| "default".to_owned());
        let bucket = match store::open(&name) {
            Ok(bucket) => bucket,
            Err(e) => return respond(out, 500, &error_text(&e)),
        };
        let key = param(&request, "key");
        // Only the last segment counts, so the program can be routed
        // under any prefix (`/svc/get` is `/get`).
        let full = wharf_test_programs::path(&request);
        let path = format!("/{}", full.rsplit('/').next().unwrap_or_default());
        let needs_key = matches!(
            path.as_str(),
            "/get" | "/set" | "/delete" | "/exists" | "/increment"
        );
        if needs_key && key.is_none() {
            return respond(out, 400, "expected ?key=<key>\n");
        }
        let key = key.unwrap_or_default();
        let result = match path.as_str() {
            "/open" => Ok("opened\n".to_owned()),
            "/get" => bucket.get(&key).map(|value| match value {
                Some(value) => format!("value={}\n", String::from_utf8_lossy(&value)),
                None => "absent\n".to_owned(),
            }),
            "/set" => {
                // `size=N` writes N bytes of `x`, for the limit tests.
                let value = match number(&request, "size") {
                    Some(size) => vec![b'x'; usize::try_from(size).unwrap()],
                    None => param(&request, "value").unwrap_or_default().into_bytes(),
                };
                bucket.set(&key, &value).map(|()| "ok\n".to_owned())
            }
            "/delete" => bucket.delete(&key).map(|()| "ok\n".to_owned()),
            "/exists" => bucket.exists(&key).map(|found| format!("{found}\n")),
            "/list" => bucket.list_keys(number(&request, "cursor")).map(|page| {
                let mut text = match page.cursor {
                    Some(cursor) => format!("cursor={cursor}\n"),
                    None => "cursor=none\n".to_owned(),
                };
                for key in page.keys {
                    let _ = writeln!(text, "{key}");
                }
                text
            }),
            "/list-all" => list_all(&bucket),
            "/increment" => {
                let delta = number(&request, "delta").unwrap_or(1);
                atomics::increment(&bucket, &key, delta).map(|n| format!("{n}\n"))
            }
            "/set-many" => {
                // Keys `<prefix><i>` = `v<i>` for i in from..from+n.
                let prefix = param(&request, "prefix").unwrap_or_default();
                let from = number(&request, "from").unwrap_or(0);
                let n = number(&request, "n").unwrap_or(0);
                let pairs: Vec<(String, Vec<u8>)> = (from..from + n)
                    .map(|i| (format!("{prefix}{i}"), format!("v{i}").into_bytes()))
                    .collect();
                batch::set_many(&bucket, &pairs).map(|()| "ok\n".to_owned())
            }
            "/get-many" => {
                let keys = split_keys(&request);
                batch::get_many(&bucket, &keys).map(|values| {
                    let mut text = String::new();
                    for (key, value) in keys.iter().zip(values) {
                        match value {
                            Some((got, value)) => {
                                let _ = writeln!(
                                    text,
                                    "{key}={}{}",
                                    String::from_utf8_lossy(&value),
                                    if &got == key { "" } else { " (wrong key!)" }
                                );
                            }
                            None => {
                                let _ = writeln!(text, "{key} absent");
                            }
                        }
                    }
                    text
                })
            }
            "/delete-many" => {
                let keys = split_keys(&request);
                batch::delete_many(&bucket, &keys).map(|()| "ok\n".to_owned())
            }
            _ => return respond(out, 404, "not found\n"),
        };
        answer(out, result);
    }
}

/// `?keys=a,b,c`.
fn split_keys(request: &IncomingRequest) -> Vec<String> {
    param(request, "keys")
        .map(|keys| keys.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Every key of the store, following the cursor: `pages=<n>\n` then the
/// keys sorted, one per line.
fn list_all(bucket: &store::Bucket) -> Result<String, store::Error> {
    let mut keys = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = bucket.list_keys(cursor)?;
        pages += 1;
        keys.extend(page.keys);
        cursor = page.cursor;
        if cursor.is_none() || pages >= MAX_PAGES {
            break;
        }
    }
    keys.sort();
    let mut text = format!("pages={pages}\n");
    for key in keys {
        let _ = writeln!(text, "{key}");
    }
    Ok(text)
}
