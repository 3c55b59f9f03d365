//! The HTTP vocabulary the server's modules share: a request as the handlers see it (body read,
//! form parsed), the response body type and the JSON and text reply builders.

use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use http_body_util::combinators::BoxBody;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// A response body: whole (most replies) or streamed (the `oversized` fault).
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// Largest request body the emulator reads (token requests are a few KiB).
pub(crate) const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;

/// One request as the handlers see it (body already read and parsed).
pub(crate) struct Req<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a BTreeMap<String, String>,
    pub(crate) form: Option<&'a BTreeMap<String, String>>,
    pub(crate) body: &'a [u8],
    pub(crate) origin: &'a str,
}

impl Req<'_> {
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    BoxBody::new(Full::new(b.into()))
}

pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header("cache-control", "no-store")
        .body(full(v.to_string()))
        .unwrap_or_else(|_| internal_error())
}

pub(crate) fn bad_request(msg: &str) -> Response<Body> {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad_request", "message": msg}),
    )
}

pub(crate) fn text(status: StatusCode, msg: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(msg.to_string()))
        .unwrap_or_else(|_| internal_error())
}

pub(crate) fn internal_error() -> Response<Body> {
    let mut r = Response::new(full("internal error"));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
