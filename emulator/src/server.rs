//! The emulator's HTTP side: listener and optional TLS (a generated test CA), one task per
//! connection, routing to the token endpoints, the `/_emulator/` test-control API, the request
//! log and fault injection.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::credentials;
use super::errors;
use super::fixtures;
use super::state::{Config, FaultKind, FaultSpec, LoggedRequest, State};
use super::token::{self, Endpoint, TokenRequest};
use super::{graph, management, signin};
use crate::error::{Error, Result};

type Body = BoxBody<Bytes, Infallible>;

/// Largest request body the emulator reads (token requests are a few KiB).
const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;
/// Largest `token_padding` accepted by `/_emulator/config`.
const MAX_TOKEN_PADDING: u64 = 8 * 1024 * 1024;
/// Chunk size of the `oversized` fault's streamed body.
const CHUNK: usize = 64 * 1024;
static FILLER: [u8; CHUNK] = [b'A'; CHUNK];

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// ---- TLS -----------------------------------------------------------------------------------

/// A generated test CA and a leaf certificate for `127.0.0.1`, `localhost` and `::1`.
pub struct TestTls {
    pub acceptor: TlsAcceptor,
    /// The CA certificate, PEM (what clients must trust).
    pub ca_pem: String,
}

pub fn make_tls() -> Result<TestTls> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use tokio_rustls::rustls;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::internal(format!("emulator: cannot set up TLS ({what})")).cause(e)
    };
    let ca_key = KeyPair::generate().map_err(|e| fail("CA key", &e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA", &e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(
        DnType::CommonName,
        "entra-token emulator test CA (test double, local use only)",
    );
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| fail("CA certificate", &e))?;
    let issuer = Issuer::from_params(&ca, &ca_key);

    let leaf_key = KeyPair::generate().map_err(|e| fail("server key", &e))?;
    let sans = vec!["127.0.0.1".to_string(), "localhost".to_string(), "::1".to_string()];
    let mut leaf = CertificateParams::new(sans).map_err(|e| fail("server certificate", &e))?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| fail("server certificate", &e))?;

    let key =
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
        .map_err(|e| fail("server certificate", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TestTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca_cert.pem(),
    })
}

// ---- listener ------------------------------------------------------------------------------

/// Accepts connections until `shutdown` completes; each connection runs in its own task.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let (stream, _peer) = match accepted {
            Ok(s) => s,
            Err(_) => {
                // Out of file descriptors or similar: back off briefly and keep serving.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(TokioIo::new(stream), state).await,
                Some(acceptor) => {
                    let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    if let Ok(Ok(s)) = hs.await {
                        serve_connection(TokioIo::new(s), state).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(io: I, state: Arc<State>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(route(state, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc)
        .await;
}

/// Binds `addr` (already checked to be loopback).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::network(format!("emulator: cannot listen on {addr}")).cause(e))
}

// ---- routing -------------------------------------------------------------------------------

async fn route(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path == "/_emulator" || path.starts_with("/_emulator/") {
        return control(&state, req).await;
    }
    let (parts, body) = req.into_parts();
    let (bytes, read_error) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(c) => (c.to_bytes(), None),
        Err(e) => (Bytes::new(), Some(e.to_string())),
    };
    let headers = header_map(&parts.headers);
    let is_form = headers
        .get("content-type")
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let form = is_form.then(|| parse_form(&bytes));
    let seq = state.log_request(LoggedRequest {
        seq: 0,
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: headers.clone(),
        form: form.clone(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        status: None,
    });
    let origin = request_origin(&state.base_url, &headers);
    let resp = if let Some(err) = read_error {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body rejected: {err}\n"),
        )
    } else {
        let req = Req {
            method: &parts.method,
            path: &path,
            query: parts.uri.query(),
            headers: &headers,
            form: form.as_ref(),
            body: &bytes,
            origin: &origin,
        };
        respond(&state, &req).await
    };
    state.set_status(seq, resp.status().as_u16());
    resp
}

/// Lower-case header names; repeated headers joined with ", ".
fn header_map(h: &hyper::HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in h {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_ascii_lowercase())
            .and_modify(|cur| {
                cur.push_str(", ");
                cur.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

/// `scheme://host[:port]` as the client addressed the emulator: the `Host` header when it is a
/// plausible authority, else the base URL.
fn request_origin(base_url: &str, headers: &BTreeMap<String, String>) -> String {
    let scheme = base_url.split_once("://").map_or("http", |(s, _)| s);
    match headers.get("host") {
        Some(h)
            if !h.is_empty()
                && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
                && url::Url::parse(&format!("{scheme}://{h}/")).is_ok() =>
        {
            format!("{scheme}://{h}")
        }
        _ => base_url.to_string(),
    }
}

/// One request as the handlers see it (body already read and parsed).
pub struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a BTreeMap<String, String>,
    pub form: Option<&'a BTreeMap<String, String>>,
    pub body: &'a [u8],
    pub origin: &'a str,
}

impl Req<'_> {
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Parses a form body; the first value of a repeated name wins.
fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

async fn respond(state: &State, req: &Req<'_>) -> Response<Body> {
    let (method, path, headers) = (req.method, req.path, req.headers);
    if let Some(fault) = state.take_fault(path) {
        match fault {
            FaultKind::Delay { delay_ms } => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            other => return fault_response(state, other),
        }
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get = *method == Method::GET || *method == Method::HEAD;
    let (tenant, endpoint, device) = match segments.as_slice() {
        [t, "oauth2", "token"] => (*t, Endpoint::V1, false),
        [t, "oauth2", "v2.0", "token"] => (*t, Endpoint::V2, false),
        [t, "oauth2", "devicecode"] => (*t, Endpoint::V1, true),
        [t, "oauth2", "v2.0", "devicecode"] => (*t, Endpoint::V2, true),
        [t, "oauth2", "authorize"] if get => {
            return web(signin::authorize(&mut state.rt(), t, Endpoint::V1, req.query, now()));
        }
        [t, "oauth2", "v2.0", "authorize"] if get => {
            return web(signin::authorize(&mut state.rt(), t, Endpoint::V2, req.query, now()));
        }
        [t, "adminconsent"] if get => return web(signin::admin_consent(&mut state.rt(), t, false, req.query)),
        [t, "v2.0", "adminconsent"] if get => return web(signin::admin_consent(&mut state.rt(), t, true, req.query)),
        ["devicelogin"] if get => return web(signin::device_login_page()),
        ["_actions", "idtoken"] => return actions_idtoken(state, req),
        [t, "v2.0", ".well-known", "openid-configuration"] if get => return discovery(state, req, t, true),
        [t, ".well-known", "openid-configuration"] if get => return discovery(state, req, t, false),
        [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] if get => {
            return json_response(StatusCode::OK, &super::discovery::keys(state));
        }
        ["v1.0" | "beta", ..] => return api(state, req, Api::Graph),
        ["api", "v1.0" | "v1", ..] => return api(state, req, Api::Management),
        _ => return not_found(method, path),
    };
    let empty = BTreeMap::new();
    token_endpoint(
        state,
        req,
        tenant,
        endpoint,
        device,
        headers,
        req.form.unwrap_or(&empty),
    )
}

fn discovery(state: &State, req: &Req<'_>, tenant: &str, v2: bool) -> Response<Body> {
    match super::discovery::openid_configuration(state, req.origin, tenant, v2) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => {
            let now = now();
            let id = uuid::Uuid::new_v4().to_string();
            let e = errors::tenant_not_found(tenant);
            json_response(
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                &e.body(&id, &id, now),
            )
        }
    }
}

fn web(r: signin::WebReply) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST))
        .header(CONTENT_TYPE, r.content_type);
    for (k, v) in &r.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            b = b.header(name, value);
        }
    }
    b.body(full(r.body)).unwrap_or_else(|_| internal_error())
}

enum Api {
    Graph,
    Management,
}

/// Microsoft Graph / Intune and the Office 365 Management Activity API.
fn api(state: &State, req: &Req<'_>, which: Api) -> Response<Body> {
    let header = |name: &str| req.headers.get(name).cloned();
    let areq = graph::ApiRequest {
        method: req.method.as_str(),
        path: req.path,
        query: req.query,
        header: &header,
        body: req.body,
        origin: req.origin,
        now: now(),
    };
    let (reply, content_type) = {
        let mut rt = state.rt();
        let rt = &mut *rt;
        match which {
            Api::Graph => (
                graph::handle(
                    &areq,
                    &state.signer,
                    &rt.config,
                    graph::GraphCounters {
                        requests: &mut rt.graph_requests,
                    },
                ),
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            ),
            Api::Management => (
                management::handle(&areq, &state.signer, &rt.config, &mut rt.subscriptions),
                "application/json; charset=utf-8",
            ),
        }
    };
    let body = if reply.body.is_null() {
        String::new()
    } else {
        reply.body.to_string()
    };
    let mut b = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(CONTENT_TYPE, content_type)
        .header("cache-control", "no-cache")
        .header("date", httpdate::fmt_http_date(SystemTime::now()));
    for (k, v) in &reply.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            b = b.header(name, value);
        }
    }
    b.body(full(body)).unwrap_or_else(|_| internal_error())
}

/// The GitHub Actions OIDC token endpoint stand-in (`ACTIONS_ID_TOKEN_REQUEST_URL`).
fn actions_idtoken(state: &State, req: &Req<'_>) -> Response<Body> {
    if *req.method != Method::GET {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"message": format!("{} is not supported; use GET", req.method)}),
        );
    }
    let authorized = req
        .headers
        .get("authorization")
        .and_then(|h| h.trim().split_once(' '))
        .is_some_and(|(scheme, tok)| {
            scheme.eq_ignore_ascii_case("bearer") && tok.trim() == fixtures::ACTIONS_REQUEST_TOKEN
        });
    if !authorized {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Bad credentials: a valid ACTIONS_ID_TOKEN_REQUEST_TOKEN bearer token is required"}),
        );
    }
    let audience = req
        .query_param("audience")
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "https://github.com/contoso".to_string());
    let now = now();
    let claims = json!({
        "iss": format!("{}/_actions", state.base_url),
        "sub": fixtures::ACTIONS_SUBJECT,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + fixtures::ACTIONS_TOKEN_LIFETIME,
        "jti": uuid::Uuid::new_v4().to_string(),
        "repository": "contoso/app",
        "repository_owner": "contoso",
        "ref": "refs/heads/main",
        "ref_type": "branch",
        "event_name": "push",
        "runner_environment": "github-hosted",
    });
    match state.signer.sign(&claims) {
        Ok(token) => json_response(StatusCode::OK, &json!({"count": 1, "value": token})),
        Err(_) => internal_error(),
    }
}

fn token_endpoint(
    state: &State,
    incoming: &Req<'_>,
    tenant: &str,
    endpoint: Endpoint,
    device: bool,
    headers: &BTreeMap<String, String>,
    form: &BTreeMap<String, String>,
) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = headers
        .get("client-request-id")
        .filter(|v| !v.is_empty() && HeaderValue::from_str(v).is_ok())
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let now = now();
    let method = incoming.method;
    let result = if *method == Method::POST && device {
        signin::device_code(&mut state.rt(), tenant, endpoint, form, incoming.origin, now)
    } else if *method == Method::POST {
        let req = TokenRequest {
            endpoint,
            tenant,
            form,
            authorization: headers.get("authorization").map(String::as_str),
            origin: incoming.origin,
        };
        token::handle(&mut state.rt(), &state.signer, &state.base_url, &req, now)
    } else if *method == Method::OPTIONS {
        Ok(Value::Null)
    } else {
        Err(errors::post_only(method.as_str()))
    };
    let (status, body) = match result {
        Ok(Value::Null) => (200, String::new()),
        Ok(v) => (200, v.to_string()),
        Err(e) => (e.status, e.body(&request_id, &client_request_id, now).to_string()),
    };
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header("cache-control", "no-store, no-cache")
        .header("pragma", "no-cache")
        .header("x-ms-request-id", request_id.as_str())
        .header("client-request-id", client_request_id.as_str())
        .header("date", httpdate::fmt_http_date(SystemTime::now()))
        .body(full(body))
        .unwrap_or_else(|_| internal_error());
    if *method == Method::OPTIONS {
        resp.headers_mut()
            .insert("allow", HeaderValue::from_static("POST, OPTIONS"));
    }
    resp
}

fn not_found(method: &Method, path: &str) -> Response<Body> {
    let body = json!({
        "error": "not_found",
        "error_description": format!("entra-token emulator (a test double of Microsoft Entra ID) has no endpoint for {method} {path}"),
    });
    json_response(StatusCode::NOT_FOUND, &body)
}

// ---- faults --------------------------------------------------------------------------------

const PROXY_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>\n<body>\n<h1>Network sign-in required</h1>\n<p>Your organization's web proxy requires you to sign in before you can reach this site.</p>\n<form method=\"post\" action=\"/proxy-login\"><input name=\"user\"><input name=\"password\" type=\"password\"><button>Sign in</button></form>\n<!-- served by the entra-token emulator's html fault -->\n</body></html>\n";

fn fault_response(state: &State, fault: FaultKind) -> Response<Body> {
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
            let reply = token::sample_reply(&mut state.rt(), &state.signer, &state.base_url, now()).to_string();
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
        FaultKind::Delay { .. } => Response::builder().status(500).body(full("")),
    };
    built.unwrap_or_else(|_| internal_error())
}

/// Validates a fault before it is queued (so applying it cannot fail later).
fn check_fault(f: &FaultSpec) -> std::result::Result<(), String> {
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

// ---- control API ---------------------------------------------------------------------------

async fn control(state: &State, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return bad_request(&format!("cannot read the request body: {e}")),
    };
    let ok = || json_response(StatusCode::OK, &json!({"ok": true}));
    if let Some(rest) = path.strip_prefix("/_emulator/apps/") {
        return control_app(state, &method, rest, &body);
    }
    match (&method, path.as_str()) {
        (&Method::POST, "/_emulator/federated-token") => federated_token(state, &body),
        (&Method::POST, "/_emulator/device/approve") => {
            let v: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return bad_request(&format!("invalid JSON: {e}")),
            };
            let result = signin::approve_device(&mut state.rt(), &v);
            match result {
                Ok(v) => json_response(StatusCode::OK, &v),
                Err(msg) if msg.starts_with("no pending") => control_not_found(&msg),
                Err(msg) => bad_request(&msg),
            }
        }
        (&Method::GET, "/_emulator/requests") => {
            let log = state.rt().log.clone();
            json_response(StatusCode::OK, &serde_json::to_value(log).unwrap_or(Value::Null))
        }
        (&Method::DELETE, "/_emulator/requests") => {
            state.rt().log.clear();
            ok()
        }
        (&Method::POST, "/_emulator/faults") => {
            let spec: FaultSpec = match serde_json::from_slice(&body) {
                Ok(s) => s,
                Err(e) => return bad_request(&format!("invalid fault: {e}")),
            };
            if let Err(msg) = check_fault(&spec) {
                return bad_request(&format!("invalid fault: {msg}"));
            }
            let queued = {
                let mut rt = state.rt();
                rt.faults.push_back(spec);
                rt.faults.len()
            };
            json_response(StatusCode::OK, &json!({"ok": true, "queued": queued}))
        }
        (&Method::GET, "/_emulator/faults") => {
            let list: Vec<Value> = state
                .rt()
                .faults
                .iter()
                .map(|f| {
                    let mut v = serde_json::to_value(&f.kind).unwrap_or(Value::Null);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("count".into(), json!(f.count));
                        o.insert("path".into(), json!(f.path));
                    }
                    v
                })
                .collect();
            json_response(StatusCode::OK, &Value::Array(list))
        }
        (&Method::DELETE, "/_emulator/faults") => {
            state.rt().faults.clear();
            ok()
        }
        (&Method::GET, "/_emulator/config") => json_response(
            StatusCode::OK,
            &serde_json::to_value(state.config()).unwrap_or(Value::Null),
        ),
        (&Method::POST, "/_emulator/config") => match merge_config(state, &body) {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(msg) => bad_request(&msg),
        },
        (&Method::POST, "/_emulator/reset") => {
            state.reset();
            ok()
        }
        (_, "/_emulator/requests" | "/_emulator/faults" | "/_emulator/config" | "/_emulator/reset") => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method_not_allowed", "message": format!("{method} is not supported on {path}")}),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "message": format!("no control endpoint {path}")}),
        ),
    }
}

fn method_not_allowed(method: &Method, path: &str) -> Response<Body> {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": "method_not_allowed", "message": format!("{method} is not supported on {path}")}),
    )
}

fn control_not_found(what: &str) -> Response<Body> {
    json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found", "message": what}))
}

/// `/_emulator/apps/{client_id}/certificates[/{keyId}]` and `.../federated[/{id}]`.
fn control_app(state: &State, method: &Method, rest: &str, body: &[u8]) -> Response<Body> {
    let parts: Vec<&str> = rest.split('/').collect();
    let (client_id, kind, item) = match parts.as_slice() {
        [c, k] => (*c, *k, None),
        [c, k, i] => (*c, *k, Some(*i)),
        _ => return control_not_found(&format!("no control endpoint /_emulator/apps/{rest}")),
    };
    if kind != "certificates" && kind != "federated" {
        return control_not_found(&format!("no control endpoint /_emulator/apps/{rest}"));
    }
    let mut rt = state.rt();
    let Some(app) = rt.directory.app_mut(client_id) else {
        return control_not_found(&format!("no app with client id {client_id:?}"));
    };
    let certs = kind == "certificates";
    let list = |app: &super::state::App| -> Value {
        if certs {
            Value::Array(app.certificates.iter().map(credentials::cert_view).collect())
        } else {
            Value::Array(app.federated.iter().map(credentials::federated_view).collect())
        }
    };
    match (method, item) {
        (&Method::GET, None) => json_response(StatusCode::OK, &list(app)),
        (&Method::DELETE, None) => {
            if certs {
                app.certificates.clear();
            } else {
                app.federated.clear();
            }
            json_response(StatusCode::OK, &json!({"ok": true}))
        }
        (&Method::DELETE, Some(id)) => {
            let before = app.certificates.len() + app.federated.len();
            if certs {
                app.certificates.retain(|c| !c.key_id.eq_ignore_ascii_case(id));
            } else {
                app.federated.retain(|f| !f.id.eq_ignore_ascii_case(id) && f.name != id);
            }
            if app.certificates.len() + app.federated.len() == before {
                return control_not_found(&format!("no {kind} entry {id:?} on app {client_id}"));
            }
            json_response(StatusCode::OK, &json!({"ok": true}))
        }
        (&Method::POST, None) => {
            let v: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return bad_request(&format!("invalid JSON: {e}")),
            };
            let view = if certs {
                let c = match credentials::cert_from_json(&v) {
                    Ok(c) => c,
                    Err(msg) => return bad_request(&format!("invalid certificate registration: {msg}")),
                };
                if app.certificates.iter().any(|x| x.key_id == c.key_id) {
                    return bad_request(&format!("keyId {} is already registered", c.key_id));
                }
                let view = credentials::cert_view(&c);
                app.certificates.push(c);
                view
            } else {
                let f = match credentials::federated_from_json(&v) {
                    Ok(f) => f,
                    Err(msg) => return bad_request(&format!("invalid federated credential: {msg}")),
                };
                let view = credentials::federated_view(&f);
                app.federated.push(f);
                view
            };
            json_response(StatusCode::CREATED, &view)
        }
        _ => method_not_allowed(method, &format!("/_emulator/apps/{rest}")),
    }
}

/// `POST /_emulator/federated-token`: a JWT signed by the emulator's key, for federated token
/// files. `{"issuer","subject","audience"?,"lifetime"? (seconds, may be negative),"claims"?}`.
fn federated_token(state: &State, body: &[u8]) -> Response<Body> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("invalid JSON: {e}")),
    };
    let Some(obj) = v.as_object() else {
        return bad_request("expected a JSON object");
    };
    let text = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (Some(issuer), Some(subject)) = (text("issuer"), text("subject")) else {
        return bad_request("\"issuer\" and \"subject\" must be non-empty strings");
    };
    let audience = match obj.get("audience") {
        None | Some(Value::Null) => Value::from(credentials::TOKEN_EXCHANGE_AUDIENCE),
        Some(a @ Value::String(_)) => a.clone(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Value::Array(a.clone()),
        Some(_) => return bad_request("\"audience\" must be a string or an array of strings"),
    };
    let lifetime = match obj.get("lifetime") {
        None | Some(Value::Null) => 600,
        Some(l) => match l.as_i64() {
            Some(n) if n.abs() <= 10 * 365 * 86_400 => n,
            _ => return bad_request("\"lifetime\" must be an integer number of seconds (at most 10 years)"),
        },
    };
    let now = now() as i64;
    let mut claims = json!({
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now.min(now + lifetime),
        "exp": (now + lifetime).max(0),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    match obj.get("claims") {
        None | Some(Value::Null) => {}
        Some(Value::Object(extra)) => {
            for (k, val) in extra {
                claims[k.as_str()] = val.clone();
            }
        }
        Some(_) => return bad_request("\"claims\" must be an object"),
    }
    match state.signer.sign(&claims) {
        Ok(token) => json_response(StatusCode::OK, &json!({"token": token})),
        Err(_) => internal_error(),
    }
}

fn merge_config(state: &State, body: &[u8]) -> std::result::Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let mut rt = state.rt();
    let mut merged = serde_json::to_value(&rt.config).map_err(|e| e.to_string())?;
    let fields = merged.as_object_mut().ok_or("internal: config is not an object")?;
    for (k, val) in obj {
        if !fields.contains_key(k) {
            return Err(format!("unknown config field {k:?}"));
        }
        fields.insert(k.clone(), val.clone());
    }
    let next: Config = serde_json::from_value(merged).map_err(|e| format!("invalid config: {e}"))?;
    next.validate(MAX_TOKEN_PADDING as usize)?;
    if obj.contains_key("graph_throttle_every") {
        // "Every Nth request" counts from the moment throttling is configured.
        rt.graph_requests = 0;
    }
    rt.config = next.clone();
    serde_json::to_value(next).map_err(|e| e.to_string())
}

// ---- response helpers ----------------------------------------------------------------------

fn full(b: impl Into<Bytes>) -> Body {
    BoxBody::new(Full::new(b.into()))
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header("cache-control", "no-store")
        .body(full(v.to_string()))
        .unwrap_or_else(|_| internal_error())
}

fn bad_request(msg: &str) -> Response<Body> {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad_request", "message": msg}),
    )
}

fn text(status: StatusCode, msg: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(msg.to_string()))
        .unwrap_or_else(|_| internal_error())
}

fn internal_error() -> Response<Body> {
    let mut r = Response::new(full("internal error"));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
