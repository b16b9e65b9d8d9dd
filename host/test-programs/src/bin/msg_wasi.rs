//! `msg_wasi`: a component written against the standard
//! `wasi:messaging@0.2.0-draft` (raw `wit-bindgen` bindings generated from
//! the vendored `wit/deps/messaging`, world `messaging-request-reply`),
//! plus an HTTP front so tests can drive it. See the README's
//! "Expectations".
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(unsafe_code, reason = "wit-bindgen generates the export glue")]

use std::io::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::{path, percent_decode, query_param, respond};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/messaging",
        world: "wasi:messaging/messaging-request-reply",
        generate_all,
    });
}

use bindings::exports::wasi::messaging::incoming_handler::Guest as Handler;
use bindings::wasi::messaging::types::{Client, Error, Message};
use bindings::wasi::messaging::{producer, request_reply};

struct Component;

fn describe(error: &Error) -> String {
    match error {
        Error::Timeout => "timeout".to_owned(),
        Error::Connection(m) => format!("connection: {m}"),
        Error::PermissionDenied(m) => format!("permission-denied: {m}"),
        Error::Other(m) => format!("other: {m}"),
    }
}

fn meta(message: &Message, key: &str) -> String {
    message
        .metadata()
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| "-".to_owned(), |(_, v)| v)
}

impl Handler for Component {
    fn handle(message: Message) -> Result<(), Error> {
        let topic = message.topic().unwrap_or_default();
        if topic.ends_with(".fail") {
            return Err(Error::Other("failing on purpose".to_owned()));
        }
        if topic.ends_with(".trap") {
            panic!("trapping on purpose");
        }
        if topic.ends_with(".slow") {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let body = String::from_utf8_lossy(&message.data()).into_owned();
        let reply = Message::new(format!("reply:{body}").as_bytes());
        reply.set_content_type("text/plain");
        reply.add_metadata("x-replied-by", "msg_wasi");
        // Only a request has somewhere to reply to; the error for the rest
        // is expected.
        let _ = request_reply::reply(&message, reply);
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open("/data/received.log")
        {
            let line = format!(
                "{topic} {body} {} {} {}\n",
                meta(&message, "x-test"),
                message.content_type().unwrap_or_else(|| "-".to_owned()),
                meta(&message, "wharf-error"),
            );
            let _ = log.write_all(line.as_bytes());
        }
        Ok(())
    }
}

bindings::export!(Component with_types_in bindings);

impl wasi::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let param = |name: &str| query_param(&request, name).map(|v| percent_decode(&v));
        let topic = param("topic").unwrap_or_default();
        let body = param("body").unwrap_or_default();
        let client = match Client::connect(&param("connection").unwrap_or_else(|| "default".into()))
        {
            Ok(client) => client,
            Err(e) => return respond(out, 502, &format!("error: {}\n", describe(&e))),
        };
        let message = Message::new(body.as_bytes());
        if let Some(content_type) = param("ct") {
            message.set_content_type(&content_type);
        }
        if let Some(value) = param("meta") {
            message.add_metadata("x-test", &value);
        }
        match path(&request).as_str() {
            "/connect" => respond(out, 200, "connected\n"),
            "/publish" => match producer::send(&client, &topic, message) {
                Ok(()) => respond(out, 200, "published\n"),
                Err(e) => respond(out, 502, &format!("error: {}\n", describe(&e))),
            },
            "/request" => {
                let options = request_reply::RequestOptions::new();
                if let Some(ms) = param("timeout").and_then(|t| t.parse().ok()) {
                    options.set_timeout_ms(ms);
                }
                if let Some(n) = param("expect").and_then(|t| t.parse().ok()) {
                    options.set_expected_replies(n);
                }
                match request_reply::request(&client, &topic, &message, Some(options)) {
                    Ok(replies) => {
                        let text: Vec<String> = replies
                            .iter()
                            .map(|r| {
                                format!(
                                    "{} {} {}",
                                    String::from_utf8_lossy(&r.data()),
                                    r.content_type().unwrap_or_else(|| "-".to_owned()),
                                    meta(r, "x-replied-by")
                                )
                            })
                            .collect();
                        respond(out, 200, &format!("{}\n", text.join("\n")))
                    }
                    Err(e) => respond(out, 502, &format!("error: {}\n", describe(&e))),
                }
            }
            "/burst" => {
                let n: u32 = param("n").and_then(|n| n.parse().ok()).unwrap_or(0);
                for i in 0..n {
                    let m = Message::new(i.to_string().as_bytes());
                    if let Err(e) = producer::send(&client, &topic, m) {
                        return respond(out, 502, &format!("error after {i}: {}\n", describe(&e)));
                    }
                }
                respond(out, 200, &format!("published {n}\n"))
            }
            _ => respond(out, 404, "not found\n"),
        }
    }
}

wasi::http::proxy::export!(Component);
