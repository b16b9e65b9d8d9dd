//! `http_unknown_import`: a wasi:http component that also imports
//! `acme:secret/vault`, an interface no host provides, and calls it on every
//! request so the import is kept. The host must refuse it at load time with
//! an error naming `acme:secret/vault`; it never serves a request.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wasi::http::types::{IncomingRequest, ResponseOutparam};

mod vault {
    wit_bindgen::generate!({
        inline: "
            package acme:secret;

            interface vault {
                get: func(key: string) -> option<string>;
            }

            world vault-user {
                import vault;
            }
        ",
        world: "vault-user",
    });
}

struct UnknownImport;

wasi::http::proxy::export!(UnknownImport);

impl wasi::exports::http::incoming_handler::Guest for UnknownImport {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let secret = vault::acme::secret::vault::get("api-key");
        let text = format!("secret present: {}\n", secret.is_some());
        wharf_test_programs::respond(out, 200, &text);
    }
}
