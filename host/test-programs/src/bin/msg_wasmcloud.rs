//! `msg_wasmcloud`: a component written against `wasmcloud:messaging@0.2.0`
//! exactly as a wasmCloud component would be (bindings generated from the
//! vendored WIT), plus a small HTTP front so tests can drive it.
//!
//! Exports `wasmcloud:messaging/handler.handle-message`:
//! - a subject ending in `.fail` returns `Err("failing on purpose")`;
//! - a subject ending in `.trap` panics (a trap);
//! - otherwise, when the message has a `reply-to`, publishes
//!   `reply:<body>` to it; then appends `<subject> <body>\n` to
//!   `/data/received.log` when the service has a `/data` grant; `Ok`.
//!
//! HTTP (`wasi:http/incoming-handler`):
//! - `GET /publish?topic=T&body=B[&reply_to=R]` → `consumer.publish`
//!   (with reply-to `R` when given); 200 `published\n` or 502 `error: <e>\n`.
//! - `GET /request?topic=T&body=B&timeout=MS` → `consumer.request`; 200
//!   with the reply's body, or 502 `error: <e>\n`.
//! - `GET /burst?topic=T&n=N` → publishes N messages (bodies `0`..`N-1`)
//!   in one request, for throughput measurements; 200 `published N\n`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(unsafe_code, reason = "wit-bindgen generates the export glue")]

use std::io::Write as _;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::{path, query_param, respond};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package wharf:test-msg;
            world guest {
                import wasmcloud:messaging/consumer@0.2.0;
                export wasmcloud:messaging/handler@0.2.0;
            }
        ",
        path: "../../wit/deps/wasmcloud-messaging",
        world: "wharf:test-msg/guest",
        generate_all,
    });
}

use bindings::exports::wasmcloud::messaging::handler::Guest as Handler;
use bindings::wasmcloud::messaging::consumer;
use bindings::wasmcloud::messaging::types::BrokerMessage;

struct Component;

impl Handler for Component {
    fn handle_message(msg: BrokerMessage) -> Result<(), String> {
        if msg.subject.ends_with(".fail") {
            return Err("failing on purpose".to_string());
        }
        if msg.subject.ends_with(".trap") {
            panic!("trapping on purpose");
        }
        let body = String::from_utf8_lossy(&msg.body).into_owned();
        if let Some(reply_to) = &msg.reply_to {
            consumer::publish(&BrokerMessage {
                subject: reply_to.clone(),
                body: format!("reply:{body}").into_bytes(),
                reply_to: None,
            })?;
        }
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open("/data/received.log")
        {
            let _ = log.write_all(format!("{} {body}\n", msg.subject).as_bytes());
        }
        Ok(())
    }
}

bindings::export!(Component with_types_in bindings);

impl wasi::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let topic = query_param(&request, "topic").unwrap_or_default();
        let body = query_param(&request, "body").unwrap_or_default();
        match path(&request).as_str() {
            "/publish" => match consumer::publish(&BrokerMessage {
                subject: topic,
                body: body.into_bytes(),
                reply_to: query_param(&request, "reply_to"),
            }) {
                Ok(()) => respond(out, 200, "published\n"),
                Err(e) => respond(out, 502, &format!("error: {e}\n")),
            },
            "/request" => {
                let timeout = query_param(&request, "timeout")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(1000);
                match consumer::request(&topic, body.as_bytes(), timeout) {
                    Ok(reply) => respond(out, 200, &String::from_utf8_lossy(&reply.body)),
                    Err(e) => respond(out, 502, &format!("error: {e}\n")),
                }
            }
            "/burst" => {
                let n: u32 = query_param(&request, "n")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                for i in 0..n {
                    if let Err(e) = consumer::publish(&BrokerMessage {
                        subject: topic.clone(),
                        body: i.to_string().into_bytes(),
                        reply_to: None,
                    }) {
                        return respond(out, 502, &format!("error after {i}: {e}\n"));
                    }
                }
                respond(out, 200, &format!("published {n}\n"))
            }
            _ => respond(out, 404, "not found\n"),
        }
    }
}

wasi::http::proxy::export!(Component);
