//! `http_wstd`: an async server written with `wstd` (`#[wstd::http_server]`).
//! Answers every request with `200 text/plain` `hello from wstd: <path>\n`,
//! where `<path>` is the request path without its query.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let text = format!("hello from wstd: {}\n", request.uri().path());
    let response = Response::builder()
        .header("content-type", "text/plain")
        .body(Body::from(text))?;
    Ok(response)
}
