//! A URL shortener on Wharf, keeping its data in the key-value store
//! `links` (granted in `wharf.toml`).
//!
//! - `POST /links` with `{"url": "https://example.com/…"}` → `201`
//!   `{"id": "<id>", "url": "…", "short": "/l/<id>"}`. Ids come from an
//!   atomic counter (`next-id`), written in base 36.
//! - `GET /l/<id>` → `302` to the URL, counting the hit (`hits:<id>`);
//!   `404` for an unknown id.
//! - `GET /links/<id>` → `{"id", "url", "hits"}`; `DELETE /links/<id>` →
//!   `204`.
//! - `GET /links` → `{"ids": [...]}`, sorted.
//!
//! Errors are JSON `{"error": "<message>"}`: 400 for a body that is not
//! `{"url": "http(s)://…"}`, 404, 405, and 500 when the store fails.

use serde::{Deserialize, Serialize};
use serde_json::json;
use wharf_sdk::http::{Method, Request, Response};
use wharf_sdk::keyvalue::Store;

/// The store this service is granted.
const STORE: &str = "links";

/// Longest URL accepted (well under the host's 512 KiB value limit).
const MAX_URL_LEN: usize = 4096;

/// A stored link: the value of `link:<id>`, as JSON.
#[derive(Serialize, Deserialize)]
struct Link {
    url: String,
}

#[derive(Deserialize)]
struct NewLink {
    url: String,
}

#[wharf_sdk::http_service]
fn handle(req: Request) -> Response {
    let store = match Store::open(STORE) {
        Ok(store) => store,
        Err(e) => return error(500, &e.to_string()),
    };
    match route(&store, &req) {
        Ok(response) => response,
        Err(e) => error(500, &e.to_string()),
    }
}

fn route(store: &Store, req: &Request) -> Result<Response, wharf_sdk::Error> {
    let path = req.path();
    if let Some(id) = path.strip_prefix("/l/") {
        return match req.method() {
            Method::Get | Method::Head => follow(store, id),
            _ => Ok(method_not_allowed("GET")),
        };
    }
    match (path, req.method()) {
        ("/links", Method::Post) => create(store, req),
        ("/links", Method::Get) => list(store),
        ("/links", _) => Ok(method_not_allowed("GET, POST")),
        _ => match path.strip_prefix("/links/") {
            Some(id) => match req.method() {
                Method::Get => show(store, id),
                Method::Delete => remove(store, id),
                _ => Ok(method_not_allowed("GET, DELETE")),
            },
            None => Ok(error(404, "not found")),
        },
    }
}

fn link_key(id: &str) -> String {
    format!("link:{id}")
}

fn hits_key(id: &str) -> String {
    format!("hits:{id}")
}

/// `POST /links`.
fn create(store: &Store, req: &Request) -> Result<Response, wharf_sdk::Error> {
    let new: NewLink = match req.json() {
        Ok(new) => new,
        Err(e) => return Ok(error(400, &format!("expected {{\"url\": \"…\"}}: {e}"))),
    };
    let valid = (new.url.starts_with("http://") || new.url.starts_with("https://"))
        && new.url.len() <= MAX_URL_LEN;
    if !valid {
        return Ok(error(
            400,
            &format!("url must start with http:// or https:// and be at most {MAX_URL_LEN} bytes"),
        ));
    }
    let id = base36(store.increment("next-id", 1)?);
    store.set_json(
        &link_key(&id),
        &Link {
            url: new.url.clone(),
        },
    )?;
    Ok(Response::json(
        201,
        &json!({ "id": id, "url": new.url, "short": format!("/l/{id}") }),
    ))
}

/// `GET /l/<id>`.
fn follow(store: &Store, id: &str) -> Result<Response, wharf_sdk::Error> {
    let Some(link) = store.get_json::<Link>(&link_key(id))? else {
        return Ok(error(404, "no such link"));
    };
    store.increment(&hits_key(id), 1)?;
    Ok(Response::new(302).with_header("location", link.url))
}

/// `GET /links/<id>`.
fn show(store: &Store, id: &str) -> Result<Response, wharf_sdk::Error> {
    let Some(link) = store.get_json::<Link>(&link_key(id))? else {
        return Ok(error(404, "no such link"));
    };
    let hits = match store.get(&hits_key(id))? {
        Some(bytes) => String::from_utf8_lossy(&bytes).parse::<u64>().unwrap_or(0),
        None => 0,
    };
    Ok(Response::json(
        200,
        &json!({ "id": id, "url": link.url, "hits": hits }),
    ))
}

/// `DELETE /links/<id>`.
fn remove(store: &Store, id: &str) -> Result<Response, wharf_sdk::Error> {
    if !store.exists(&link_key(id))? {
        return Ok(error(404, "no such link"));
    }
    store.delete_many(&[&link_key(id), &hits_key(id)])?;
    Ok(Response::new(204))
}

/// `GET /links`.
fn list(store: &Store) -> Result<Response, wharf_sdk::Error> {
    let mut ids: Vec<String> = store
        .list_keys()?
        .into_iter()
        .filter_map(|key| key.strip_prefix("link:").map(str::to_owned))
        .collect();
    ids.sort();
    Ok(Response::json(200, &json!({ "ids": ids })))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "error": message }))
}

fn method_not_allowed(allow: &str) -> Response {
    error(405, "method not allowed").with_header("allow", allow)
}
