//! Retry policy: which statuses are retried, how long to wait (`Retry-After` as integer or
//! decimal seconds or an HTTP date; exponential backoff with jitter otherwise), and what an
//! exhausted retry budget means for the caller.

use super::Reply;
use crate::error::{Error, Result};
use crate::protocol::entra_error::EntraError;
use std::time::{Duration, SystemTime};

/// The longest single wait, whatever `Retry-After` says.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) max_attempts: u32,
    pub(crate) retry_connect: bool,
    /// Retry 500/502/503/504 as well as 429 (token endpoints) or only 429/503/504 (`api`).
    pub(crate) retry_500: bool,
    /// Retry 504. A gateway timeout may come after the service acted, so `api` retries it only
    /// for idempotent methods; 429 and 503 mean the request was not processed.
    pub(crate) retry_504: bool,
    /// After the last attempt: an error (token endpoints, exit 4) or the reply itself (`api`).
    pub(crate) exhausted_is_error: bool,
}

impl Policy {
    /// Token requests: bounded retries of 429 and 5xx, connection failures retried.
    pub(crate) fn token() -> Policy {
        Policy {
            max_attempts: 4,
            retry_connect: true,
            retry_500: true,
            retry_504: true,
            exhausted_is_error: true,
        }
    }
    /// `api` calls: up to `max_retries` retries of 429 and 503 (and 504 for idempotent methods)
    /// and of connection failures (nothing was sent); when they run out the last reply is the
    /// answer (exit 5 with its summary), not an error of its own.
    pub(crate) fn api(max_retries: u32, method: &reqwest::Method) -> Policy {
        Policy {
            max_attempts: max_retries.saturating_add(1),
            retry_connect: true,
            retry_500: false,
            retry_504: method.is_idempotent(),
            exhausted_is_error: false,
        }
    }
    /// Authorization-code redemption: a code is single-use, so never retried.
    pub(crate) fn never() -> Policy {
        Policy {
            max_attempts: 1,
            retry_connect: false,
            retry_500: false,
            retry_504: false,
            exhausted_is_error: false,
        }
    }

    pub(crate) fn retries_status(&self, status: u16) -> bool {
        if self.max_attempts <= 1 {
            return false;
        }
        match status {
            429 | 503 => true,
            504 => self.retry_504 || self.retry_500,
            500 | 502 => self.retry_500,
            _ => false,
        }
    }

    pub(crate) fn exhausted(&self, reply: Reply, attempts: u32) -> Result<Reply> {
        if !self.exhausted_is_error {
            return Ok(reply);
        }
        let mut err = Error::network(format!(
            "the server answered HTTP {} {}; gave up after {attempts} attempt{}",
            reply.status,
            reason(reply.status),
            if attempts == 1 { "" } else { "s" }
        ));
        if let Some(e) = serde_json::from_slice(&reply.body)
            .ok()
            .as_ref()
            .and_then(EntraError::from_json)
        {
            let codes = e.codes_label();
            err = err.cause(format!("{} {}", e.error, codes).trim().to_string());
        }
        Err(err.hint("the service is busy or failing: try again later, or raise --timeout to wait longer"))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// `Retry-After`: delta seconds (integer or decimal) or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(MAX_WAIT.as_secs_f64())));
        }
        return None;
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s, ... capped at 8 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base_ms = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(4)).min(8000);
    let mut b = [0u8; 2];
    let jitter = if getrandom::fill(&mut b).is_ok() {
        u16::from_le_bytes(b) as u64
    } else {
        32768
    };
    // between half and all of the base
    Duration::from_millis(base_ms / 2 + (base_ms / 2) * jitter / 65535)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("99999"), Some(MAX_WAIT));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn api_policy_statuses() {
        let get = Policy::api(3, &reqwest::Method::GET);
        assert_eq!(get.max_attempts, 4);
        assert!(get.retries_status(429) && get.retries_status(503) && get.retries_status(504));
        assert!(!get.retries_status(500) && !get.retries_status(502) && !get.retries_status(401));
        let post = Policy::api(3, &reqwest::Method::POST);
        assert!(post.retries_status(429) && post.retries_status(503) && !post.retries_status(504));
        assert!(!Policy::api(0, &reqwest::Method::GET).retries_status(429));
        assert!(Policy::token().retries_status(504) && Policy::token().retries_status(500));
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for a in 1..10 {
            let b = backoff(a);
            assert!(b <= Duration::from_secs(8));
            assert!(b >= Duration::from_millis(250));
        }
    }
}
