//! The `work` benchmark's request handling, shared by the guest component
//! (`bench/work-guest`, served by Wharf and by `wasmtime serve`) and the
//! native hyper server (`bench/native-server`), so all three do exactly the
//! same computation.
//!
//! [`handle`] takes the raw body of a `POST` carrying a JSON document like
//! `bench/work.json` (~1 KB), parses it, hashes the raw body with SHA-256,
//! sorts its list of numbers and answers a ~250 B JSON summary.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The body of the `hello` workload (the same text as the `http_hello` test
/// program), for the native server.
pub const HELLO: &str = "hello from http_hello\n";

/// The request document.
#[derive(Deserialize)]
struct Document {
    id: String,
    user: User,
    tags: Vec<String>,
    #[allow(dead_code, reason = "parsed (that is part of the work) but not echoed")]
    note: String,
    numbers: Vec<i64>,
}

#[derive(Deserialize)]
struct User {
    name: String,
    #[allow(dead_code, reason = "parsed (that is part of the work) but not echoed")]
    email: String,
}

/// The response document.
#[derive(Serialize)]
struct Summary<'a> {
    id: &'a str,
    user: &'a str,
    sha256: String,
    tags: usize,
    count: usize,
    min: i64,
    max: i64,
    median: i64,
    sum: i64,
    smallest: &'a [i64],
    largest: &'a [i64],
}

/// Handles one `work` request body: `Ok` with the JSON response bytes, or
/// `Err` with a one-line reason (the caller answers 400) when the body is not
/// a valid document or its list of numbers is empty.
pub fn handle(body: &[u8]) -> Result<Vec<u8>, String> {
    let doc: Document = serde_json::from_slice(body).map_err(|e| format!("bad document: {e}"))?;
    let digest = Sha256::digest(body);
    let mut numbers = doc.numbers;
    numbers.sort_unstable();
    let (Some(&min), Some(&max)) = (numbers.first(), numbers.last()) else {
        return Err("bad document: `numbers` is empty".to_string());
    };
    let median = numbers.get(numbers.len() / 2).copied().unwrap_or(min);
    let head = numbers.len().min(3);
    let summary = Summary {
        id: &doc.id,
        user: &doc.user.name,
        sha256: hex(&digest),
        tags: doc.tags.len(),
        count: numbers.len(),
        min,
        max,
        median,
        sum: numbers.iter().fold(0i64, |acc, n| acc.wrapping_add(*n)),
        smallest: numbers.get(..head).unwrap_or_default(),
        largest: numbers.get(numbers.len() - head..).unwrap_or_default(),
    };
    serde_json::to_vec(&summary).map_err(|e| format!("serialize: {e}"))
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const BODY: &str = include_str!("../../work.json");

    #[test]
    fn the_bench_document_gives_a_quarter_kilobyte_summary() {
        assert!((900..=1100).contains(&BODY.len()), "{}", BODY.len());
        let out = handle(BODY.as_bytes()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            (200..=300).contains(&text.len()),
            "{} bytes: {text}",
            text.len()
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["id"], "order-2026-000042");
        assert_eq!(value["count"], 118);
        let sha = value["sha256"].as_str().unwrap();
        assert_eq!(sha, hex(&Sha256::digest(BODY.as_bytes())));
        assert_eq!(sha.len(), 64);
    }

    #[test]
    fn numbers_come_out_sorted() {
        let out = handle(
            br#"{"id":"x","user":{"name":"n","email":"e"},"tags":[],"note":"","numbers":[5,-1,3,9,0]}"#,
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["min"], -1);
        assert_eq!(value["max"], 9);
        assert_eq!(value["median"], 3);
        assert_eq!(value["sum"], 16);
        assert_eq!(value["smallest"], serde_json::json!([-1, 0, 3]));
        assert_eq!(value["largest"], serde_json::json!([3, 5, 9]));
    }

    #[test]
    fn bad_documents_are_errors() {
        assert!(handle(b"not json").is_err());
        assert!(handle(br#"{"id":"x"}"#).is_err());
        assert!(
            handle(
                br#"{"id":"x","user":{"name":"n","email":"e"},"tags":[],"note":"","numbers":[]}"#
            )
            .is_err()
        );
    }
}
