//! The HTTP side: a hyper 1.x server with hand-written routing and pre/post layers.

pub mod access;
mod body;
pub mod client_ip;
pub mod error;
mod guard;
mod handlers;
pub mod hangup;
pub mod headers;
pub mod query;
pub mod redirect;
mod router;
mod server;
mod service;

use std::convert::Infallible;

use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;

pub use error::ApiError;
pub use server::{listen, Server};

/// Every response body: boxed so that later streaming bodies share the type with full ones.
pub type Body = BoxBody<Bytes, Infallible>;
pub type Request = hyper::Request<hyper::body::Incoming>;
pub type Response = hyper::Response<Body>;

/// Marks a request that came over this server's own TLS (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn empty() -> Body {
    Empty::new().boxed()
}

/// A JSON response. Serialising our own plain structs cannot fail; if it ever did, the
/// client still gets valid JSON rather than a panic.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value)
        .unwrap_or_else(|_| br#"{"error":"could not encode the response"}"#.to_vec());
    let mut response = hyper::Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
}
