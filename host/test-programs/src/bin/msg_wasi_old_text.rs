//! `msg_wasi_old_text`: a component built against an *older* text of
//! `wasi:messaging@0.2.0-draft` (the Oct–Nov 2024 one, `8f63bd5`:
//! `request` takes no topic, `message.topic()` returns a plain `topic`),
//! declared inline with the same version label. **The host must refuse it
//! at load**, saying it was built against an older text. It calls the old
//! `request` on every HTTP request so the import is kept.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(unsafe_code, reason = "wit-bindgen generates the export glue")]

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::respond;

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package wasi:messaging@0.2.0-draft;

            interface types {
                type topic = string;
                resource client {
                    connect: static func(name: string) -> result<client, error>;
                }
                variant error {
                    timeout,
                    connection(string),
                    permission-denied(string),
                    other(string),
                }
                resource message {
                    constructor(data: list<u8>);
                    topic: func() -> topic;
                    data: func() -> list<u8>;
                }
            }

            interface request-reply {
                use types.{client, message, error};
                resource request-options {
                    constructor();
                }
                request: func(c: borrow<client>, msg: borrow<message>, options: option<request-options>) -> result<list<message>, error>;
            }

            interface incoming-handler {
                use types.{message, error};
                handle: func(message: message) -> result<_, error>;
            }

            world old-text {
                import request-reply;
                export incoming-handler;
            }
        ",
        world: "wasi:messaging/old-text",
        generate_all,
    });
}

use bindings::exports::wasi::messaging::incoming_handler::Guest as Handler;
use bindings::wasi::messaging::request_reply;
use bindings::wasi::messaging::types::{Client, Error, Message};

struct Component;

impl Handler for Component {
    fn handle(message: Message) -> Result<(), Error> {
        let _ = message.topic();
        Ok(())
    }
}

bindings::export!(Component with_types_in bindings);

impl wasi::exports::http::incoming_handler::Guest for Component {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let outcome = Client::connect("default").and_then(|client| {
            request_reply::request(&client, &Message::new(b"x"), None).map(|r| r.len())
        });
        respond(out, 200, &format!("{}\n", outcome.is_ok()));
    }
}

wasi::http::proxy::export!(Component);
