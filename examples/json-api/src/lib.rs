//! A small JSON API on Wharf.
//!
//! - `POST /api/stats` with `{"label": "optional", "numbers": [1, 2, 3.5]}`
//!   returns summary statistics (count, sum, mean, median, min, max,
//!   population standard deviation, and the sorted numbers).
//! - `GET /api/health` returns `{"status":"ok"}`.
//!
//! Every error is a JSON body `{"error": "<message>"}`: 400 for a body that
//! is not JSON, 422 for unusable input, 413 for more than 10 000 numbers (or
//! an oversized body), 405 for a wrong method, 404 for unknown paths.

mod stats;

use serde_json::json;
use wharf_sdk::Error;
use wharf_sdk::http::{Method, Request, Response};

use stats::{InputError, MAX_NUMBERS};

/// Largest request body accepted by `POST /api/stats`: room for
/// [`MAX_NUMBERS`] numbers in any reasonable notation.
const MAX_BODY_BYTES: usize = 64 * MAX_NUMBERS + 4096;

#[wharf_sdk::http_service]
fn handle(req: Request) -> Response {
    route(&req)
}

/// Dispatches on path, then method.
fn route(req: &Request) -> Response {
    match req.path() {
        "/api/stats" => match req.method() {
            Method::Post => stats(req),
            _ => method_not_allowed("POST"),
        },
        "/api/health" => match req.method() {
            Method::Get | Method::Head => Response::json(200, &json!({ "status": "ok" })),
            _ => method_not_allowed("GET, HEAD"),
        },
        _ => error(404, "not found"),
    }
}

/// `POST /api/stats`.
fn stats(req: &Request) -> Response {
    let body = match req.body_bytes_limited(MAX_BODY_BYTES) {
        Ok(body) => body,
        Err(Error::BodyTooLarge { limit }) => {
            return error(
                413,
                &format!("request body too large (limit {limit} bytes)"),
            );
        }
        Err(e) => return error(400, &format!("could not read request body: {e}")),
    };
    let doc: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(doc) => doc,
        Err(e) => return error(400, &format!("invalid JSON: {e}")),
    };
    match stats::parse_input(&doc) {
        Ok(input) => Response::json(200, &stats::compute(input.label, &input.numbers)),
        Err(e @ InputError::TooMany(_)) => error(413, &e.to_string()),
        Err(e @ InputError::Invalid(_)) => error(422, &e.to_string()),
    }
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "error": message }))
}

fn method_not_allowed(allow: &str) -> Response {
    error(405, "method not allowed").with_header("allow", allow)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn call(method: Method, path: &str, body: &str) -> (u16, Value, Response) {
        let resp = route(&Request::new(method, path).with_body(body));
        let json = serde_json::from_slice(resp.body().unwrap()).unwrap();
        (resp.status(), json, resp)
    }

    #[test]
    fn stats_ok() {
        let (status, v, resp) = call(
            Method::Post,
            "/api/stats",
            r#"{"label":"t","numbers":[3,1,2]}"#,
        );
        assert_eq!(status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(v["label"], "t");
        assert_eq!(v["count"], 3);
        assert_eq!(v["median"], 2.0);
        assert_eq!(v["sorted"], serde_json::json!([1.0, 2.0, 3.0]));
    }

    #[test]
    fn errors() {
        let (s, v, _) = call(Method::Post, "/api/stats", "{nope");
        assert_eq!(s, 400);
        assert!(v["error"].as_str().unwrap().starts_with("invalid JSON"));

        for body in [r#"{}"#, r#"{"numbers":[]}"#, r#"{"numbers":[1,"x"]}"#] {
            assert_eq!(call(Method::Post, "/api/stats", body).0, 422, "{body}");
        }

        let many = format!(
            r#"{{"numbers":[{}]}}"#,
            vec!["1"; MAX_NUMBERS + 1].join(",")
        );
        assert_eq!(call(Method::Post, "/api/stats", &many).0, 413);

        let (s, _, resp) = call(Method::Get, "/api/stats", "");
        assert_eq!(s, 405);
        assert_eq!(resp.header("allow"), Some("POST"));

        let (s, v, _) = call(Method::Get, "/api/nope", "");
        assert_eq!(s, 404);
        assert_eq!(v, serde_json::json!({"error": "not found"}));

        let (s, v, _) = call(Method::Get, "/api/health", "");
        assert_eq!(s, 200);
        assert_eq!(v, serde_json::json!({"status": "ok"}));
    }
}
