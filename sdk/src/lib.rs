//! # wharf-sdk
//!
//! Write [Wharf](https://example.invalid/wharf) HTTP and messaging services
//! in plain Rust.
//!
//! A service is a function from a [`Request`](http::Request) to a
//! [`Response`](http::Response), marked with [`#[http_service]`](http_service).
//! The SDK compiles it (for `wasm32-wasip2`) into a WebAssembly component
//! that exports the standard `wasi:http/incoming-handler` interface, and
//! takes care of every WASI detail: resources, streams, out-parameters and
//! error mapping.
//!
//! ```no_run
//! use wharf_sdk::http::{Method, Request, Response};
//!
//! #[derive(serde::Deserialize)]
//! struct Greeting {
//!     name: String,
//! }
//!
//! #[wharf_sdk::http_service]
//! fn handle(req: Request) -> Result<Response, wharf_sdk::Error> {
//!     match (req.method(), req.path()) {
//!         (Method::Get, "/") => Ok(Response::text(200, "Hello from Wharf!\n")),
//!         (Method::Get, "/hello") => {
//!             let name = req.query_param("name").unwrap_or_else(|| "world".into());
//!             Ok(Response::text(200, format!("Hello, {name}!\n")))
//!         }
//!         (Method::Post, "/hello") => {
//!             let greeting: Greeting = req.json()?; // malformed JSON -> Err -> 500
//!             Ok(Response::json(200, &serde_json::json!({ "hello": greeting.name })))
//!         }
//!         _ => Ok(Response::text(404, "not found\n")),
//!     }
//! }
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2`
//! (`cargo build --release --target wasm32-wasip2`, or `wharf build`) and the
//! resulting `.wasm` is a component Wharf (or any `wasi:http` host) can run.
//!
//! ## Handlers
//!
//! The function marked `#[http_service]` takes one [`http::Request`] and
//! returns either [`http::Response`] or `Result<Response, E>` for any
//! `E: Display` (for example [`Error`], `anyhow::Error` or
//! `Box<dyn std::error::Error>`). An `Err` is written to stderr — which the
//! host logs — and the client gets a `500` with the body `internal error`;
//! error details are never sent to the client. There must be exactly one
//! `#[http_service]` per component.
//!
//! ## Bodies
//!
//! * Request bodies are read on demand: [`Request::body_bytes`],
//!   [`Request::body_text`] and [`Request::json`] buffer the whole body;
//!   [`Request::body_bytes_limited`] caps how much is buffered;
//!   [`Request::into_body_reader`] gives a streaming [`std::io::Read`].
//! * [`Response::stream`] sends a body from any [`std::io::Read`] in chunks,
//!   without a `content-length`, after the status and headers went out.
//!
//! ## Outbound HTTP
//!
//! [`http::send`] performs a request through the host's
//! `wasi:http/outgoing-handler` and returns the whole response.
//!
//! [`Request::body_bytes`]: http::Request::body_bytes
//! [`Request::body_text`]: http::Request::body_text
//! [`Request::json`]: http::Request::json
//! [`Request::body_bytes_limited`]: http::Request::body_bytes_limited
//! [`Request::into_body_reader`]: http::Request::into_body_reader
//! [`Response::stream`]: http::Response::stream
//!
//! ## Messaging
//!
//! [`messaging::publish`] and [`messaging::request`] (and their `_json`
//! forms) send messages through the host's broker; a function marked
//! [`#[message_handler]`](message_handler) receives the messages the
//! service's manifest subscribes to, as a [`messaging::Message`] that can
//! [`reply`](messaging::Message::reply). A component may have both an
//! `#[http_service]` and a `#[message_handler]`, or only one of them.
//!
//! ```no_run
//! use wharf_sdk::messaging::{self, Message};
//!
//! #[wharf_sdk::message_handler]
//! fn on_message(msg: Message) -> Result<(), wharf_sdk::Error> {
//!     let who = msg.metadata("x-request-id").unwrap_or("-");
//!     messaging::publish("audit.seen", format!("{} from {who}", msg.topic))?;
//!     if msg.reply_to.is_some() {
//!         msg.reply("ok")?;
//!     }
//!     Ok(())
//! }
//! ```
//!
//! ## Key-value storage
//!
//! [`keyvalue::Store`] opens a named store the manifest grants
//! (`key_value_stores = ["default"]`) and reads and writes bytes, JSON
//! values and atomic counters:
//!
//! ```no_run
//! use wharf_sdk::keyvalue::Store;
//!
//! # fn demo() -> Result<(), wharf_sdk::Error> {
//! let store = Store::open("default")?;
//! let hits = store.increment("hits", 1)?;
//! store.set_json("last", &serde_json::json!({ "hits": hits }))?;
//! # Ok(())
//! # }
//! ```
//!
//! ## WIT
//!
//! The component targets worlds from the Wharf repository's `wit/`
//! directory: `wharf:platform/http-service` (today exactly
//! `wasi:http/proxy@0.2.12`) for `#[http_service]` and the HTTP client,
//! `wharf:platform/message-producer` (imports
//! `wasmcloud:messaging/consumer@0.2.0`) for sending messages, and
//! `wharf:platform/message-handler` (exports
//! `wasmcloud:messaging/handler@0.2.0`, imports
//! `wharf:platform/message-context`) for `#[message_handler]`, and
//! `wharf:platform/key-value` (imports `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft`)
//! for [`keyvalue`]. Each world's
//! bindings are generated separately and a component only imports what it
//! calls, so an HTTP-only service imports no messaging interface. The SDK
//! reads those files at build time from `../wit` relative to its own
//! `Cargo.toml`, so depend on it by path from a Wharf checkout (as
//! `wharf new` does).

#![deny(missing_docs)]

// Lets the generated bindings and the export macro name this crate as
// `wharf_sdk` both from inside it and from downstream crates.
extern crate self as wharf_sdk;

mod error;
mod io;

pub mod http;
pub mod keyvalue;
pub mod messaging;

pub use error::Error;

/// Marks the function that handles every HTTP request of this component.
///
/// The function must take exactly one [`http::Request`] and return
/// [`http::Response`] or `Result<Response, E>` where `E: Display`. It must
/// not be `async` or generic. The macro keeps the function as written and
/// additionally generates the `wasi:http/incoming-handler` export that calls
/// it, so there may be only one `#[http_service]` per component.
///
/// ```no_run
/// use wharf_sdk::http::{Request, Response};
///
/// #[wharf_sdk::http_service]
/// fn handle(_req: Request) -> Response {
///     Response::text(200, "Hello from Wharf!\n")
/// }
/// ```
pub use wharf_sdk_macro::http_service;

/// Marks the function that handles every message this component receives
/// through its manifest's `subscriptions`.
///
/// The function must take exactly one [`messaging::Message`] and return
/// `Result<(), E>` where `E: Display` (or `()`). It must not be `async` or
/// generic. The macro keeps the function as written and additionally
/// generates the `wasmcloud:messaging/handler@0.2.0` export that calls it,
/// with the message's metadata (from `wharf:platform/message-context`)
/// filled in; so there may be only one `#[message_handler]` per component.
/// It can sit beside an `#[http_service]` in the same component.
///
/// An `Err` (or a panic) tells the host the message failed: it retries
/// with backoff up to the subscription's `retries`, then publishes the
/// message to the subscription's dead-letter subject with the error text in
/// the `wharf-error` header.
///
/// ```no_run
/// use wharf_sdk::messaging::Message;
///
/// #[wharf_sdk::message_handler]
/// fn on_message(msg: Message) -> Result<(), String> {
///     println!("{}: {}", msg.topic, msg.text().map_err(|e| e.to_string())?);
///     Ok(())
/// }
/// ```
pub use wharf_sdk_macro::message_handler;

/// Raw bindings generated by `wit-bindgen` for the `wharf:platform/http-service`
/// world. Not a stable API.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wharf:platform/http-service",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "wharf_sdk::bindings",
        runtime_path: "wharf_sdk::__private::wit_bindgen::rt",
    });
}

/// Raw bindings for the `wharf:platform/message-producer` world (the
/// `wasmcloud:messaging/consumer` import). Kept apart from [`bindings`] so a
/// component that never sends messages does not import messaging (unused
/// imports are dropped when the component is made). Not a stable API.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod producer_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wharf:platform/message-producer",
        generate_all,
        runtime_path: "wharf_sdk::__private::wit_bindgen::rt",
    });
}

/// Raw bindings for the `wharf:platform/message-handler` world (the
/// `wasmcloud:messaging/handler` export and the
/// `wharf:platform/message-context` import). Its exports are only declared
/// by the export macro `#[message_handler]` expands to, so a component
/// without one does not export a message handler. Not a stable API.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod handler_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wharf:platform/message-handler",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "wharf_sdk::handler_bindings",
        runtime_path: "wharf_sdk::__private::wit_bindgen::rt",
    });
}

/// Raw bindings for the `wharf:platform/key-value` world (the
/// `wasi:keyvalue@0.2.0-draft` imports). Kept apart from [`bindings`] so a
/// component that never uses [`keyvalue`] does not import them. Not a
/// stable API.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod keyvalue_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wharf:platform/key-value",
        generate_all,
        runtime_path: "wharf_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
