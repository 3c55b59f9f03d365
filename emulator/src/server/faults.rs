//! The fault queue's replies (`POST /_emulator/faults`): an arbitrary status, a throttle, a proxy's
//! HTML page, a truncated or non-token JSON body, an oversized body streamed without being held
//! in memory; and the checks a fault passes before it is queued.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::{Frame, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use crate::endpoints::token;
use crate::server::http::{Body, full, internal_error};
use crate::state::{FaultKind, FaultSpec, MAX_TOKEN_LIFETIME, State};

/// Chunk size of the `oversized` fault's streamed body.
const CHUNK: usize = 64 * 1024;
static FILLER: [u8; CHUNK] = [b'A'; CHUNK];

/// What a captive web proxy answers instead of the token endpoint (the `html` fault).
const PROXY_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>\n<body>\n<h1>Network sign-in required</h1>\n<p>Your organization's web proxy requires you to sign in before you can reach this site.</p>\n<form method=\"post\" action=\"/proxy-login\"><input name=\"user\"><input name=\"password\" type=\"password\"><button>Sign in</button></form>\n<!-- served by the entra-token emulator's html fault -->\n</body></html>\n";

/// The reply a queued fault puts in place of the real one.
pub(crate) fn fault_response(state: &State, fault: FaultKind) -> Response<Body> {
    let built = match fault {
        FaultKind::Status {
            status,
            headers,
            body,
            content_type,
        } => {
            let body = body.unwrap_or_default();
            let ct = content_type.unwrap_or_else(|| {
                if body.trim_start().starts_with(['{', '[']) {
                    "application/json; charset=utf-8".into()
                } else {
                    "text/plain; charset=utf-8".into()
                }
            });
            let mut b = Response::builder().status(status).header(CONTENT_TYPE, ct);
            for (k, v) in &headers {
                b = b.header(k.as_str(), v.as_str());
            }
            b.body(full(body))
        }
        FaultKind::Throttle { retry_after } => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", retry_after.unwrap_or_else(|| "1".into()))
            .header(CONTENT_TYPE, "text/plain")
            .body(full("Too Many Requests")),
        FaultKind::Html { status } => Response::builder()
            .status(status.unwrap_or(200))
            .header(CONTENT_TYPE, "text/html; charset=utf-8")
            .body(full(PROXY_PAGE)),
        FaultKind::Truncated {} => {
            let reply = token::sample_reply(&mut state.lock(), &state.signer, &state.base_url, state.now()).to_string();
            let half = reply.as_bytes()[..reply.len() / 2].to_vec();
            Response::builder()
                .status(200)
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .body(full(half))
        }
        FaultKind::NotToken {} => Response::builder()
            .status(200)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(full(r#"{"status":"ok","message":"this is not a token"}"#)),
        FaultKind::Oversized { bytes, content_length } => {
            let mut b = Response::builder()
                .status(200)
                .header(CONTENT_TYPE, "application/json; charset=utf-8");
            if content_length {
                b = b.header(CONTENT_LENGTH, bytes);
            }
            b.body(BoxBody::new(Oversized {
                remaining: bytes,
                first: true,
                exact: content_length,
            }))
        }
        // Handled before dispatch; never reaches here.
        FaultKind::Delay { .. } | FaultKind::AdvanceClock { .. } => Response::builder().status(500).body(full("")),
    };
    built.unwrap_or_else(|_| internal_error())
}

/// Validates a fault before it is queued (so applying it cannot fail later).
pub(crate) fn check_fault(f: &FaultSpec) -> std::result::Result<(), String> {
    if f.count == 0 {
        return Err("count must be at least 1".into());
    }
    let status_ok = |s: u16| (100..=999).contains(&s) && StatusCode::from_u16(s).is_ok();
    match &f.kind {
        FaultKind::Status {
            status,
            headers,
            content_type,
            ..
        } => {
            if !status_ok(*status) {
                return Err(format!("invalid status {status}"));
            }
            for (k, v) in headers {
                HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name {k:?}"))?;
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
            }
            if let Some(ct) = content_type {
                HeaderValue::from_str(ct).map_err(|_| "invalid content_type".to_string())?;
            }
        }
        FaultKind::Throttle { retry_after: Some(r) } => {
            HeaderValue::from_str(r).map_err(|_| "invalid retry_after".to_string())?;
        }
        FaultKind::Html { status: Some(s) } if !status_ok(*s) => {
            return Err(format!("invalid status {s}"));
        }
        FaultKind::AdvanceClock { seconds } if *seconds > MAX_TOKEN_LIFETIME => {
            return Err(format!("seconds must be at most {MAX_TOKEN_LIFETIME}"));
        }
        _ => {}
    }
    Ok(())
}

/// The `oversized` fault's body: `bytes` bytes of `{"access_token":"AAAA…` generated in 64 KiB
/// chunks as the client reads, never held in memory.
struct Oversized {
    remaining: u64,
    first: bool,
    exact: bool,
}

impl hyper::body::Body for Oversized {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.remaining).unwrap_or(CHUNK).min(CHUNK);
        let chunk = if self.first {
            self.first = false;
            let mut v = Vec::with_capacity(n);
            v.extend_from_slice(br#"{"access_token":""#);
            v.truncate(n);
            v.resize(n, b'A');
            Bytes::from(v)
        } else {
            Bytes::from_static(&FILLER[..n])
        };
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.remaining)
        } else {
            SizeHint::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_the_clock_is_bounded() {
        let check = |json: &str| check_fault(&serde_json::from_str(json).unwrap());
        assert!(check(r#"{"kind":"advance_clock","seconds":3600,"path":"/v1.0/users"}"#).is_ok());
        assert!(check(r#"{"kind":"advance_clock","seconds":315360001}"#).is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"advance_clock"}"#).is_err());
    }
}
