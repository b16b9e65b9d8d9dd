//! `sdk_messaging`: the SDK's messaging API end to end (`wharf_sdk::messaging`
//! and `#[wharf_sdk::message_handler]`), beside an `#[http_service]` in the
//! same component.
//!
//! HTTP:
//! - `GET /publish?topic=T&body=B` → `messaging::publish`; 200 `published\n`
//!   or 502 `error: <error>\n`.
//! - `GET /publish-json?topic=T&n=N` → `messaging::publish_json` of
//!   `{"n":N}`; answers like `/publish`.
//! - `GET /request?topic=T&body=B&timeout=MS` → `messaging::request`
//!   (timeout default 1000 ms); 200 with the reply's body, or 502
//!   `error: <error>\n`.
//! - `GET /request-json?topic=T&n=N` → `messaging::request_json` with
//!   `{"n":N}`; 200 with the reply's JSON re-serialised, or 502.
//!
//! Message handler, for every message:
//! - a topic ending in `.fail` returns `Err("failing on purpose")`;
//! - a topic ending in `.json` with a reply subject answers with
//!   `reply_json` `{"n": <n + 1>, "request_id": <metadata x-request-id>}`;
//! - any other message with a reply subject is answered `reply:<body>`;
//! - then appends `<topic> <body> <metadata x-request-id or ->` to
//!   `/data/received.log` (when `/data` is granted), followed by
//!   ` error=<metadata wharf-error>` on a dead letter.
#![no_main]

use std::io::Write as _;
use std::time::Duration;

use wharf_sdk::http::{Request, Response};
use wharf_sdk::messaging::{self, Message};

#[wharf_sdk::http_service]
fn handle(req: Request) -> Response {
    let param = |name: &str| req.query_param(name).unwrap_or_default();
    let n = || param("n").parse::<i64>().unwrap_or(0);
    let sent = |result: Result<(), wharf_sdk::Error>| match result {
        Ok(()) => Response::text(200, "published\n"),
        Err(e) => Response::text(502, format!("error: {e}\n")),
    };
    match req.path() {
        "/publish" => sent(messaging::publish(&param("topic"), param("body"))),
        "/publish-json" => sent(messaging::publish_json(
            &param("topic"),
            &serde_json::json!({ "n": n() }),
        )),
        "/request" => {
            let timeout = param("timeout").parse().unwrap_or(1000);
            match messaging::request(
                &param("topic"),
                param("body"),
                Duration::from_millis(timeout),
            ) {
                Ok(reply) => Response::new(200).with_body(reply.body),
                Err(e) => Response::text(502, format!("error: {e}\n")),
            }
        }
        "/request-json" => match messaging::request_json::<_, serde_json::Value>(
            &param("topic"),
            &serde_json::json!({ "n": n() }),
            Duration::from_secs(2),
        ) {
            Ok(reply) => Response::json(200, &reply),
            Err(e) => Response::text(502, format!("error: {e}\n")),
        },
        _ => Response::text(404, "not found\n"),
    }
}

#[wharf_sdk::message_handler]
fn on_message(msg: Message) -> Result<(), wharf_sdk::Error> {
    if msg.topic.ends_with(".fail") {
        return Err(wharf_sdk::Error::Messaging("failing on purpose".into()));
    }
    let request_id = msg.metadata("x-request-id").unwrap_or("-");
    if msg.reply_to.is_some() {
        if msg.topic.ends_with(".json") {
            let request: serde_json::Value = msg.json()?;
            let n = request["n"].as_i64().unwrap_or(0);
            msg.reply_json(&serde_json::json!({ "n": n + 1, "request_id": request_id }))?;
        } else {
            msg.reply(format!("reply:{}", String::from_utf8_lossy(&msg.body)))?;
        }
    }
    let mut line = format!(
        "{} {} {request_id}",
        msg.topic,
        String::from_utf8_lossy(&msg.body)
    );
    if let Some(error) = msg.metadata("wharf-error") {
        line.push_str(&format!(" error={error}"));
    }
    line.push('\n');
    if let Ok(mut log) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open("/data/received.log")
    {
        let _ = log.write_all(line.as_bytes());
    }
    Ok(())
}
