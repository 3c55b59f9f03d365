//! The only place entra-token does network I/O as a client: one reqwest/rustls client built on
//! demand (never on a cache hit), TLS roots including `SSL_CERT_FILE`, environment proxies, a
//! deadline per logical request that includes its retries, bounded retries of 429/5xx honouring
//! `Retry-After`, a size cap on every reply, and redacted `-v`/`-vv` logs.

pub mod retry;

use crate::error::{Error, Result, chain};
use crate::log;
use crate::secret::Secret;
use reqwest::header::HeaderMap;
use std::time::{Duration, Instant};
use url::Url;

pub const USER_AGENT: &str = concat!("entra-token/", env!("CARGO_PKG_VERSION"));

/// Replies from token endpoints larger than this are refused (exit 4).
pub const TOKEN_REPLY_CAP: usize = 4 * 1024 * 1024;

pub struct Http {
    client: reqwest::Client,
}

/// A fully read reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// What to send. Form values are secrets until the moment the body is encoded.
pub struct Request {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub form: Option<Vec<(String, Secret<String>)>>,
}

impl Request {
    pub fn post_form(url: Url, form: Vec<(String, Secret<String>)>) -> Request {
        Request {
            method: reqwest::Method::POST,
            url,
            headers: Vec::new(),
            form: Some(form),
        }
    }
}

/// When a logical request must be done, retries included (`--timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + total,
            total,
        }
    }
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
    pub fn expired_error(&self, url: &Url) -> Error {
        Error::network(format!(
            "no complete reply from {} within the {} s timeout",
            url.host_str().unwrap_or("the server"),
            fmt_secs(self.total)
        ))
        .hint("raise --timeout, or check the network path (proxy, firewall) to that host")
    }
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s:.1}")
    }
}

impl Http {
    /// Builds the client: loads TLS roots (incl. `SSL_CERT_FILE`/`SSL_CERT_DIR`) and proxies.
    pub fn new(timeout: Duration) -> Result<Http> {
        check_ssl_env()?;
        let builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // A token request is never sent on to another host: redirects are not followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30));
        let builder = merge_ssl_cert_file(builder)?;
        let client = builder
            .build()
            .map_err(|e| Error::network("could not set up the HTTPS client").cause(chain(&e)))?;
        Ok(Http { client })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `req`, retrying per `policy` until `deadline`; reads at most `cap` bytes of reply.
    pub async fn send(&self, req: &Request, policy: &retry::Policy, deadline: Deadline, cap: usize) -> Result<Reply> {
        let mut attempt = 1u32;
        loop {
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Err(deadline.expired_error(&req.url));
            }
            let started = Instant::now();
            let outcome = tokio::time::timeout(remaining, self.send_once(req, cap)).await;
            let outcome = match outcome {
                Err(_) => {
                    log::info(format!("{} {} → no reply before the deadline", req.method, req.url));
                    return Err(deadline.expired_error(&req.url));
                }
                Ok(o) => o,
            };
            let elapsed = started.elapsed().as_millis();
            match outcome {
                Err(SendError::Connect(e)) => {
                    log::info(format!("{} {} → {} ({elapsed} ms)", req.method, req.url, e.message));
                    if attempt < policy.max_attempts && policy.retry_connect {
                        let wait = retry::backoff(attempt);
                        if wait < deadline.remaining() {
                            log::info(format!(
                                "retrying in {} ms (attempt {} of {})",
                                wait.as_millis(),
                                attempt + 1,
                                policy.max_attempts
                            ));
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                            continue;
                        }
                    }
                    return Err(e);
                }
                Err(SendError::Other(e)) => {
                    log::info(format!("{} {} → {} ({elapsed} ms)", req.method, req.url, e.message));
                    return Err(e);
                }
                Ok(reply) => {
                    log::info(format!("{} {} → {} ({elapsed} ms)", req.method, req.url, reply.status));
                    log_reply(&reply);
                    if !policy.retries_status(reply.status) {
                        return Ok(reply);
                    }
                    let advised = reply.header("retry-after").and_then(retry::parse_retry_after);
                    if attempt >= policy.max_attempts {
                        return policy.exhausted(reply, attempt);
                    }
                    let wait = advised.unwrap_or_else(|| retry::backoff(attempt)).min(retry::MAX_WAIT);
                    if wait >= deadline.remaining() {
                        log::info(format!(
                            "not retrying: waiting {} s would pass the deadline",
                            fmt_secs(wait)
                        ));
                        return policy.exhausted(reply, attempt);
                    }
                    log::info(format!(
                        "HTTP {}: retrying in {} ms{} (attempt {} of {})",
                        reply.status,
                        wait.as_millis(),
                        if advised.is_some() { " as Retry-After asks" } else { "" },
                        attempt + 1,
                        policy.max_attempts
                    ));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn send_once(&self, req: &Request, cap: usize) -> Result<Reply, SendError> {
        let mut rb = self.client.request(req.method.clone(), req.url.clone());
        let request_id = uuid::Uuid::new_v4().to_string();
        rb = rb
            .header("client-request-id", &request_id)
            .header("return-client-request-id", "true");
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(form) = &req.form {
            let pairs: Vec<(String, String)> = form.iter().map(|(k, v)| (k.clone(), v.expose().clone())).collect();
            log::debug(format!("> body (form): {}", log::redact_form(&pairs)));
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        log::debug(format!("> {} {} client-request-id={request_id}", req.method, req.url));
        let resp = rb.send().await.map_err(|e| classify_send_error(&e, &req.url))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = read_capped(resp, cap, &req.url).await.map_err(SendError::Other)?;
        Ok(Reply { status, headers, body })
    }
}

enum SendError {
    Connect(Error),
    Other(Error),
}

fn classify_send_error(e: &reqwest::Error, url: &Url) -> SendError {
    let host = url.host_str().unwrap_or("the server").to_string();
    let detail = chain(e);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("tls") && lower.contains("handshake")
    {
        return SendError::Other(
            Error::network(format!("the TLS certificate of {host} could not be verified"))
                .cause(detail)
                .hint("behind a TLS-inspecting proxy, set SSL_CERT_FILE to a PEM file with its CA certificate"),
        );
    }
    if e.is_connect() {
        return SendError::Connect(Error::network(format!("could not connect to {host}")).cause(detail));
    }
    SendError::Other(Error::network(format!("the request to {host} failed")).cause(detail))
}

async fn read_capped(mut resp: reqwest::Response, cap: usize, url: &Url) -> Result<Vec<u8>> {
    let host = url.host_str().unwrap_or("the server");
    if let Some(len) = resp.content_length()
        && len as usize > cap
    {
        return Err(too_large(host, cap, Some(len)));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(too_large(host, cap, None));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(
                    Error::network(format!("the reply from {host} was cut off after {} bytes", body.len()))
                        .cause(chain(&e)),
                );
            }
        }
    }
}

fn too_large(host: &str, cap: usize, announced: Option<u64>) -> Error {
    let what = match announced {
        Some(n) => format!("announced {n} bytes"),
        None => "kept sending".to_string(),
    };
    Error::network(format!(
        "the reply from {host} is too large ({what}; the limit is {} MiB)",
        cap / (1024 * 1024)
    ))
}

fn log_reply(reply: &Reply) {
    if log::verbosity() < 2 {
        return;
    }
    for (k, v) in &reply.headers {
        let value = v.to_str().unwrap_or("<binary>");
        let shown = if log::is_sensitive(k.as_str()) || k.as_str().eq_ignore_ascii_case("set-cookie") {
            log::REDACTED
        } else {
            value
        };
        log::debug(format!("< {k}: {shown}"));
    }
    let text = String::from_utf8_lossy(&reply.body[..reply.body.len().min(4096)]);
    log::debug(format!("< body: {}", log::redact_json_text(&text)));
}

/// `SSL_CERT_FILE` / `SSL_CERT_DIR` that point nowhere are a local input error (exit 2), not a
/// mysterious TLS failure later.
fn check_ssl_env() -> Result<()> {
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let meta = std::fs::metadata(&path);
        if !meta.as_ref().is_ok_and(|m| m.is_file()) {
            return Err(Error::usage(format!(
                "SSL_CERT_FILE points to '{}', which is not a readable file",
                std::path::Path::new(&path).display()
            )));
        }
    }
    if let Some(path) = std::env::var_os("SSL_CERT_DIR").filter(|p| !p.is_empty()) {
        for dir in std::env::split_paths(&path) {
            if !dir.is_dir() {
                return Err(Error::usage(format!(
                    "SSL_CERT_DIR names '{}', which is not a directory",
                    dir.display()
                )));
            }
        }
    }
    Ok(())
}

/// On Linux the platform verifier reads `SSL_CERT_FILE`/`SSL_CERT_DIR` itself (and then uses them
/// instead of the system store). Elsewhere the OS verifier ignores them, so merge the file in.
#[cfg(target_os = "linux")]
fn merge_ssl_cert_file(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
    Ok(builder)
}

#[cfg(not(target_os = "linux"))]
fn merge_ssl_cert_file(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Ok(builder);
    };
    let pem = std::fs::read(&path).map_err(|e| Error::usage("SSL_CERT_FILE could not be read").cause(e))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::usage("SSL_CERT_FILE is not a PEM certificate bundle").cause(chain(&e)))?;
    Ok(builder.tls_certs_merge(certs))
}
