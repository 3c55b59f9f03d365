//! The only place entra-token does network I/O as a client: one reqwest/rustls client built on
//! demand (never on a cache hit), TLS roots including `SSL_CERT_FILE`, environment proxies, a
//! deadline per logical request that includes its retries, bounded retries of 429/5xx honouring
//! `Retry-After`, a size cap on every reply (or a streamed body for `api`), and redacted
//! `-v`/`-vv` logs. `pager` follows `api --paginate`'s next links.

pub(crate) mod pager;
mod pinned;
pub(crate) mod retry;

use crate::error::{Error, Result, chain};
use crate::log;
use crate::secret::Secret;
use reqwest::header::HeaderMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use url::Url;

pub(crate) const USER_AGENT: &str = concat!("entra-token/", env!("CARGO_PKG_VERSION"));

/// Replies from token endpoints larger than this are refused (exit 4).
pub(crate) const TOKEN_REPLY_CAP: usize = 4 * 1024 * 1024;

/// At most this many redirects are followed by the `api` client (same origin keeps the token).
pub(crate) const API_MAX_REDIRECTS: usize = 5;

pub(crate) struct Http {
    client: reqwest::Client,
}

/// Extra trusted CAs, from `SSL_CERT_FILE` / `SSL_CERT_DIR` (taken from the environment snapshot
/// by settings). That they exist is checked on every run ([`TlsRoots::ensure_present`], a `stat`
/// each); the bundle is read and parsed only when a client is built, never on a cache hit.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsRoots {
    pub(crate) file: Option<PathBuf>,
    pub(crate) dir: Option<OsString>,
}

impl TlsRoots {
    /// `SSL_CERT_FILE` naming no regular file, or `SSL_CERT_DIR` naming no directory, is a local
    /// input error (exit 2) whether or not this run goes to the network: a cache hit must not
    /// hide a setting that will fail the next request.
    pub(crate) fn ensure_present(&self) -> Result<()> {
        if let Some(path) = &self.file {
            // The TLS verifier reads the file again by its path: only a regular file can be read
            // twice (a pipe would be empty the second time), so a pipe is refused too.
            if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
                return Err(Error::usage(format!(
                    "SSL_CERT_FILE points to '{}', which is not a readable file",
                    path.display()
                )));
            }
        }
        if let Some(path) = &self.dir {
            for dir in std::env::split_paths(path) {
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
}

/// A fully read reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn content_type(&self) -> Option<&str> {
        self.headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// What to send. Form values and the bearer token are secrets until the moment they are encoded.
#[derive(Clone)]
pub(crate) struct Request {
    pub(crate) method: reqwest::Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) form: Option<Vec<(String, Secret<String>)>>,
    /// A raw body (`api --input`); its `Content-Type` is one of `headers`. Cheap to clone for a retry.
    pub(crate) body: Option<bytes::Bytes>,
    /// `Authorization: Bearer ...`, marked sensitive on the wire and never logged.
    pub(crate) bearer: Option<Secret<String>>,
}

impl Request {
    pub(crate) fn new(method: reqwest::Method, url: Url) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            form: None,
            body: None,
            bearer: None,
        }
    }

    pub(crate) fn post_form(url: Url, form: Vec<(String, Secret<String>)>) -> Request {
        Request {
            form: Some(form),
            ..Request::new(reqwest::Method::POST, url)
        }
    }
}

/// A reply whose body has not been read yet: streamed chunk by chunk (`api` to stdout), or read
/// whole with a cap. A reply that was already read (one whose retries ran out) is held in memory.
pub(crate) struct Pending {
    pub(crate) status: u16,
    pub(crate) version: reqwest::Version,
    pub(crate) headers: HeaderMap,
    /// The URL that answered (after redirects, if the client follows any).
    pub(crate) url: Url,
    body: PendingBody,
}

enum PendingBody {
    Stream(reqwest::Response),
    Read(Option<Vec<u8>>),
}

impl Pending {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn read_already(reply: Reply, version: reqwest::Version, url: Url) -> Pending {
        Pending {
            status: reply.status,
            version,
            headers: reply.headers,
            url,
            body: PendingBody::Read(Some(reply.body)),
        }
    }

    /// The next piece of the body (`None` at its end). No size cap: the caller streams it on.
    pub(crate) async fn chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        match &mut self.body {
            PendingBody::Read(body) => Ok(body.take().filter(|b| !b.is_empty()).map(bytes::Bytes::from)),
            PendingBody::Stream(resp) => resp.chunk().await.map_err(|e| {
                Error::network(format!(
                    "the reply from {} was cut off",
                    self.url.host_str().unwrap_or("the server")
                ))
                .cause(chain(&e))
            }),
        }
    }

    /// The whole body, refusing more than `cap` bytes (exit 4).
    pub(crate) async fn read(self, cap: usize) -> Result<Reply> {
        let body = match self.body {
            PendingBody::Read(body) => body.unwrap_or_default(),
            PendingBody::Stream(resp) => read_capped(resp, cap, &self.url).await?,
        };
        let reply = Reply {
            status: self.status,
            headers: self.headers,
            body,
        };
        log_body(&reply.body);
        Ok(reply)
    }

    /// [`Pending::read`] bounded by the deadline.
    pub(crate) async fn read_by(self, cap: usize, deadline: Deadline) -> Result<Reply> {
        let url = self.url.clone();
        match tokio::time::timeout(deadline.remaining(), self.read(cap)).await {
            Ok(r) => r,
            Err(_) => Err(deadline.expired_error(&url)),
        }
    }
}

/// A request being built (e.g. signing a fresh client assertion).
pub(crate) type BuiltRequest<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Request>> + 'a>>;
/// Builds the request for one attempt.
pub(crate) type BuildRequest<'a> = dyn Fn() -> BuiltRequest<'a> + 'a;

/// When a logical request must be done, retries included (`--timeout`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    pub(crate) fn after(total: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + total,
            total,
        }
    }
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
    pub(crate) fn expired_error(&self, url: &Url) -> Error {
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
    /// A token request is never sent on to another host: redirects are not followed.
    pub(crate) fn new(timeout: Duration, roots: &TlsRoots) -> Result<Http> {
        Self::build(timeout, roots, reqwest::redirect::Policy::none())
    }

    /// The `api` client. It follows up to [`API_MAX_REDIRECTS`] redirects (Graph answers some
    /// downloads with a 302 to pre-authenticated storage) but never to plain `http://` off
    /// loopback, and reqwest drops `Authorization` (and cookies) whenever a redirect changes the
    /// scheme, host or port — so the token stays with its origin.
    pub(crate) fn for_api(timeout: Duration, roots: &TlsRoots) -> Result<Http> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > API_MAX_REDIRECTS {
                return attempt.stop();
            }
            if crate::protocol::authority::check_transport(attempt.url(), "redirect").is_err() {
                return attempt.stop();
            }
            attempt.follow()
        });
        Self::build(timeout, roots, policy)
    }

    /// The client of Service Fabric's managed identity endpoint: its self-signed certificate is
    /// trusted only when its SHA-1 thumbprint is `pin` (see `pinned`). No redirects.
    pub(crate) fn pinned(timeout: Duration, pin: crate::protocol::managed_identity::Thumbprint) -> Result<Http> {
        let tls = pinned::config(pin)
            .map_err(|e| Error::internal("could not set up TLS for the Service Fabric endpoint").cause(e))?;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| Error::network("could not set up the HTTPS client").cause(chain(&e)))?;
        Ok(Http { client })
    }

    fn build(timeout: Duration, roots: &TlsRoots, redirect: reqwest::redirect::Policy) -> Result<Http> {
        let ca_bundle = check_roots(roots, timeout)?;
        let builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(redirect)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30));
        let builder = merge_ssl_cert_file(builder, ca_bundle)?;
        let client = builder
            .build()
            .map_err(|e| Error::network("could not set up the HTTPS client").cause(chain(&e)))?;
        Ok(Http { client })
    }

    /// Sends `req`, retrying per `policy` until `deadline`; reads at most `cap` bytes of reply.
    pub(crate) async fn send(
        &self,
        req: &Request,
        policy: &retry::Policy,
        deadline: Deadline,
        cap: usize,
    ) -> Result<Reply> {
        let pending = self.send_streaming(req, policy, deadline, cap, &|_, _| {}).await?;
        pending.read_by(cap, deadline).await
    }

    /// Like [`Http::send`], but the final reply's body is left unread for the caller to stream or
    /// read with its own cap. The bodies of replies that get retried are read (at most `cap`
    /// bytes) and dropped. `on_wait(status, wait)` hears about every retry wait (status 0: a
    /// connection failure), for progress lines.
    pub(crate) async fn send_streaming(
        &self,
        req: &Request,
        policy: &retry::Policy,
        deadline: Deadline,
        cap: usize,
        on_wait: &dyn Fn(u16, Duration),
    ) -> Result<Pending> {
        let same = || -> BuiltRequest<'_> { Box::pin(std::future::ready(Ok(req.clone()))) };
        self.send_built(&same, policy, deadline, cap, on_wait).await
    }

    /// [`Http::send`] for a request built anew for every attempt: a token request authenticated
    /// by a client assertion must carry a fresh one (new `jti`) each time it is sent.
    pub(crate) async fn send_rebuilt(
        &self,
        build: &BuildRequest<'_>,
        policy: &retry::Policy,
        deadline: Deadline,
        cap: usize,
    ) -> Result<Reply> {
        let pending = self.send_built(build, policy, deadline, cap, &|_, _| {}).await?;
        pending.read_by(cap, deadline).await
    }

    async fn send_built(
        &self,
        build: &BuildRequest<'_>,
        policy: &retry::Policy,
        deadline: Deadline,
        cap: usize,
        on_wait: &dyn Fn(u16, Duration),
    ) -> Result<Pending> {
        let mut attempt = 1u32;
        loop {
            let req = &build().await?;
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Err(deadline.expired_error(&req.url));
            }
            let started = Instant::now();
            let outcome = tokio::time::timeout(remaining, self.send_once(req)).await;
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
                            on_wait(0, wait);
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
                Ok(pending) => {
                    log::info(format!(
                        "{} {} → {} ({elapsed} ms)",
                        req.method, req.url, pending.status
                    ));
                    log_head(&pending);
                    if !policy.retries_status(pending.status) {
                        return Ok(pending);
                    }
                    let (version, url) = (pending.version, pending.url.clone());
                    let reply = pending.read_by(cap, deadline).await?;
                    let advised = reply.header("retry-after").and_then(retry::parse_retry_after);
                    if attempt >= policy.max_attempts {
                        return policy
                            .exhausted(reply, attempt)
                            .map(|r| Pending::read_already(r, version, url));
                    }
                    let wait = advised.unwrap_or_else(|| retry::backoff(attempt)).min(retry::MAX_WAIT);
                    if wait >= deadline.remaining() {
                        log::info(format!(
                            "not retrying: waiting {} s would pass the deadline",
                            fmt_secs(wait)
                        ));
                        return policy
                            .exhausted(reply, attempt)
                            .map(|r| Pending::read_already(r, version, url));
                    }
                    log::info(format!(
                        "HTTP {}: retrying in {} ms{} (attempt {} of {})",
                        reply.status,
                        wait.as_millis(),
                        if advised.is_some() { " as Retry-After asks" } else { "" },
                        attempt + 1,
                        policy.max_attempts
                    ));
                    on_wait(reply.status, wait);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn send_once(&self, req: &Request) -> Result<Pending, SendError> {
        let mut rb = self.client.request(req.method.clone(), req.url.clone());
        let request_id = uuid::Uuid::new_v4().to_string();
        rb = rb
            .header("client-request-id", &request_id)
            .header("return-client-request-id", "true");
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(token) = &req.bearer {
            // reqwest marks it sensitive (kept out of its Debug output).
            rb = rb.bearer_auth(token.expose());
        }
        if log::verbosity() >= 2 {
            log::debug(format!("> {} {}", req.method, req.url));
            log::debug(format!("> user-agent: {USER_AGENT}"));
            log::debug(format!("> client-request-id: {request_id}"));
            for (k, v) in &req.headers {
                let sensitive = log::is_sensitive(k) || k.eq_ignore_ascii_case("cookie");
                log::debug(format!("> {k}: {}", if sensitive { log::REDACTED } else { v.as_str() }));
            }
            if req.bearer.is_some() {
                log::debug(format!("> authorization: Bearer {}", log::REDACTED));
            }
        }
        if let Some(form) = &req.form {
            let pairs: Vec<(String, String)> = form.iter().map(|(k, v)| (k.clone(), v.expose().clone())).collect();
            log::debug("> content-type: application/x-www-form-urlencoded");
            log::debug(format!("> body (form): {}", log::redact_form(&pairs)));
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        } else if let Some(body) = &req.body {
            log::debug(format!("> body: {} bytes", body.len()));
            rb = rb.body(body.clone());
        }
        let resp = rb.send().await.map_err(|e| classify_send_error(&e, &req.url))?;
        Ok(Pending {
            status: resp.status().as_u16(),
            version: resp.version(),
            headers: resp.headers().clone(),
            url: resp.url().clone(),
            body: PendingBody::Stream(resp),
        })
    }
}

const COULD_NOT_CONNECT: &str = "could not connect to";

/// Whether `e` is a failure to connect (nothing listens there; nothing was sent), as opposed to
/// a request that was sent and got no complete answer.
pub(crate) fn is_connect_failure(e: &Error) -> bool {
    e.message.starts_with(COULD_NOT_CONNECT)
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
        return SendError::Connect(Error::network(format!("{COULD_NOT_CONNECT} {host}")).cause(detail));
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

fn log_head(reply: &Pending) {
    if log::verbosity() < 2 {
        return;
    }
    for (k, v) in &reply.headers {
        log::debug(format!(
            "< {k}: {}",
            log::header_value_for_display(k.as_str(), v.as_bytes())
        ));
    }
}

fn log_body(body: &[u8]) {
    if log::verbosity() < 2 {
        return;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    log::debug(format!("< body: {}", log::redact_json_text(&text)));
}

/// `SSL_CERT_FILE` / `SSL_CERT_DIR` that point nowhere are a local input error (exit 2), not a
/// mysterious TLS failure later. Returns the content of `SSL_CERT_FILE` (read once, capped).
fn check_roots(roots: &TlsRoots, timeout: Duration) -> Result<Option<Vec<u8>>> {
    roots.ensure_present()?;
    let mut bundle = None;
    if let Some(path) = &roots.file {
        let shown = path.display().to_string();
        let bytes = crate::input::read(path, "SSL_CERT_FILE", crate::input::CA_BUNDLE_CAP, timeout)?;
        // A file that holds no certificate would silently leave no trusted root at all.
        let has_cert = pem::parse_many(&bytes).ok().is_some_and(|blocks| {
            blocks
                .iter()
                .any(|b| b.tag() == "CERTIFICATE" || b.tag() == "TRUSTED CERTIFICATE")
        });
        if !has_cert {
            return Err(Error::usage(format!(
                "SSL_CERT_FILE points to '{shown}', which holds no PEM certificate"
            ))
            .hint("SSL_CERT_FILE must be a PEM bundle of CA certificates (-----BEGIN CERTIFICATE-----)"));
        }
        bundle = Some(bytes);
    }
    Ok(bundle)
}

/// On Linux the platform verifier reads `SSL_CERT_FILE`/`SSL_CERT_DIR` itself (and then uses them
/// instead of the system store). Elsewhere the OS verifier ignores them, so merge the file in.
#[cfg(target_os = "linux")]
fn merge_ssl_cert_file(builder: reqwest::ClientBuilder, _bundle: Option<Vec<u8>>) -> Result<reqwest::ClientBuilder> {
    Ok(builder)
}

#[cfg(not(target_os = "linux"))]
fn merge_ssl_cert_file(builder: reqwest::ClientBuilder, bundle: Option<Vec<u8>>) -> Result<reqwest::ClientBuilder> {
    let Some(pem) = bundle else {
        return Ok(builder);
    };
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::usage("SSL_CERT_FILE is not a PEM certificate bundle").cause(chain(&e)))?;
    Ok(builder.tls_certs_merge(certs))
}
