//! The emulator's HTTP server: a loopback listener (HTTP, or HTTPS with a generated test CA, where
//! plain HTTP is kept for the intercepting proxy's `CONNECT`), one task per connection, each
//! request read, logged and handed to the routes or the control API; proxy tunnels served like
//! connections; run in the foreground or on a background thread for `emulator exec`.

pub(crate) mod control;
pub(crate) mod faults;
pub(crate) mod http;
pub(crate) mod proxy;
pub(crate) mod redact;
pub(crate) mod routes;
pub(crate) mod tls;
mod webhook;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::state::{Config, LoggedRequest, State};
use http::{Body, MAX_REQUEST_BODY, Req, full, text};
use proxy::Connect;
use tls::{CaFile, TestCa, TestTls};

/// A current-thread async runtime for the emulator.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("emulator: cannot start the async runtime").cause(e))
}

/// A bound, not yet serving emulator.
pub(crate) struct Bound {
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<TestTls>,
    /// `http://127.0.0.1:PORT` (or `https://`, `[::1]`).
    pub(crate) base_url: String,
    /// The test CA with `tls`.
    pub(crate) ca_file: Option<CaFile>,
}

impl Bound {
    /// Binds `ip:port` (already checked to be loopback), sets up TLS and writes its CA file when
    /// asked, and creates the emulator's state with `config`.
    pub(crate) async fn new(
        ip: IpAddr,
        port: u16,
        tls: bool,
        ca_file: Option<PathBuf>,
        config: Config,
    ) -> Result<Bound> {
        let addr = SocketAddr::new(ip, port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::network(format!("emulator: cannot listen on {addr}")).cause(e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::network("emulator: cannot read the listening address").cause(e))?;
        let (acceptor, ca_file) = if tls {
            let t = tls::make_tls()?;
            let written = CaFile::write(ca_file, t.ca.pem())?;
            (Some(t), Some(written))
        } else {
            (None, None)
        };
        let scheme = if tls { "https" } else { "http" };
        let base_url = match local {
            SocketAddr::V4(a) => format!("{scheme}://{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("{scheme}://[{}]:{}", a.ip(), a.port()),
        };
        let state = Arc::new(State::new(config, &base_url)?);
        Ok(Bound {
            listener,
            state,
            tls: acceptor,
            base_url,
            ca_file,
        })
    }

    /// Serves until `shutdown` completes.
    pub(crate) async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        serve_connections(self.listener, self.state, self.tls, shutdown).await;
    }
}

/// An emulator serving on a background thread with its own runtime; dropping it stops the
/// emulator and removes its CA file.
pub(crate) struct Background {
    pub(crate) base_url: String,
    pub(crate) ca_file: Option<CaFile>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts an emulator on `127.0.0.1` and a free port; returns once it listens.
    pub(crate) fn start(tls: bool, config: Config) -> Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, Option<CaFile>)>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("entra-token-emulator".into())
            .spawn(move || {
                let runtime = match runtime() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Bound::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, tls, None, config).await {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                        Ok(bound) => {
                            // Ctrl-C reaches the child too (same process group); keep running so
                            // the child's own exit status (130) is what `exec` reports.
                            tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
                            let _ = ready_tx.send(Ok((bound.base_url.clone(), bound.ca_file.clone())));
                            let stop = async {
                                let _ = stop_rx.await;
                            };
                            bound.serve(stop).await;
                        }
                    }
                });
            })
            .map_err(|e| Error::internal("emulator: cannot start its thread").cause(e))?;
        let (base_url, ca_file) = ready_rx
            .recv()
            .map_err(|_| Error::internal("emulator: its thread ended before it was ready"))??;
        Ok(Background {
            base_url,
            ca_file,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(ca) = &self.ca_file {
            ca.remove_if_ours();
        }
    }
}

/// What kind of connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// To the emulator's own address (HTTP, or HTTPS on a TLS listener).
    Direct,
    /// Plain HTTP on a TLS listener: only for `CONNECT` (the proxy).
    PlainOnTlsPort,
    /// Inside a proxy tunnel to this intercepted host.
    Tunnel(&'static str),
}

/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// Accepts connections until `shutdown` completes; each connection runs in its own task.
async fn serve_connections(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<TestTls>,
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
            let Some(tls) = tls else {
                serve_connection(TokioIo::new(stream), state, None, Conn::Direct).await;
                return;
            };
            // One port, two protocols: TLS for the emulator itself, and plain HTTP for CONNECT
            // only, so that `HTTPS_PROXY=http://127.0.0.1:PORT` works for clients that cannot
            // be told to trust a CA for the proxy itself.
            let mut first = [0u8; 1];
            let peek = tokio::time::timeout(Duration::from_secs(10), stream.peek(&mut first));
            match peek.await {
                Ok(Ok(1..)) if first[0] != TLS_HANDSHAKE => {
                    serve_connection(TokioIo::new(stream), state, Some(tls.ca), Conn::PlainOnTlsPort).await;
                }
                Ok(Ok(1..)) => {
                    let hs = tokio::time::timeout(Duration::from_secs(10), tls.acceptor.accept(stream));
                    if let Ok(Ok(s)) = hs.await {
                        serve_connection(TokioIo::new(s), state, Some(tls.ca), Conn::Direct).await;
                    }
                }
                _ => {}
            }
        });
    }
}

/// Serves one connection (or one proxy tunnel). A named, boxed future: a `CONNECT` on it starts
/// a tunnel served by this function again.
fn serve_connection<I>(
    io: I,
    state: Arc<State>,
    ca: Option<Arc<TestCa>>,
    conn: Conn,
) -> Pin<Box<dyn std::future::Future<Output = ()> + Send>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    Box::pin(async move {
        let svc = hyper::service::service_fn(move |req| {
            let state = state.clone();
            let ca = ca.clone();
            async move { Ok::<_, Infallible>(handle(state, ca, req, conn).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(io, svc)
            .with_upgrades()
            .await;
    })
}

/// `CONNECT host:port`: a tunnel to an intercepted host, or a 403 that says why not. Logged like
/// any request (the target as its path).
fn proxy_connect(state: Arc<State>, ca: Option<Arc<TestCa>>, req: Request<Incoming>) -> Response<Body> {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let headers = header_map(req.headers());
    let seq = state.log_request(LoggedRequest {
        seq: 0,
        method: "CONNECT".into(),
        path: authority.clone(),
        query: None,
        headers: redact::headers(&headers),
        form: None,
        body: String::new(),
        status: None,
    });
    let resp = match (proxy::decide(&authority), ca) {
        (Connect::Refuse(why), _) => text(StatusCode::FORBIDDEN, &why),
        (Connect::Intercept(host), None) => text(StatusCode::FORBIDDEN, &proxy::no_ca(host)),
        (Connect::Intercept(host), Some(ca)) => match ca.acceptor_for_host(host) {
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("entra-token emulator: cannot make a certificate for {host}: {e}\n"),
            ),
            Ok(acceptor) => {
                let st = state.clone();
                tokio::spawn(async move {
                    let Ok(upgraded) = hyper::upgrade::on(req).await else {
                        return;
                    };
                    let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(TokioIo::new(upgraded)));
                    if let Ok(Ok(tls)) = hs.await {
                        serve_connection(TokioIo::new(tls), st, Some(ca), Conn::Tunnel(host)).await;
                    }
                });
                Response::new(full(""))
            }
        },
    };
    state.set_status(seq, resp.status().as_u16());
    resp
}

/// Reads, logs and answers one request: `CONNECT` goes to the proxy, control requests to
/// `control` unlogged, the rest to the routes.
async fn handle(state: Arc<State>, ca: Option<Arc<TestCa>>, req: Request<Incoming>, conn: Conn) -> Response<Body> {
    if req.method() == Method::CONNECT {
        return proxy_connect(state, ca, req);
    }
    // `GET http://host/...` (plain-HTTP proxying): only for the emulator's own address
    if let Some(authority) = req.uri().authority()
        && !state
            .base_url
            .split_once("://")
            .is_some_and(|(_, own)| own.eq_ignore_ascii_case(authority.as_str()))
    {
        return text(StatusCode::FORBIDDEN, &proxy::refusal(authority.as_str()));
    }
    if conn == Conn::PlainOnTlsPort {
        return text(
            StatusCode::BAD_REQUEST,
            &format!(
                "entra-token emulator: this port speaks HTTPS ({}); plain HTTP is accepted only for CONNECT (the HTTPS proxy).\n",
                state.base_url
            ),
        );
    }
    let via = match conn {
        Conn::Tunnel(host) => Some(host),
        Conn::Direct | Conn::PlainOnTlsPort => None,
    };
    let path = req.uri().path().to_string();
    if via.is_none() && (path == "/_emulator" || path.starts_with("/_emulator/")) {
        let resp = control::control(&state, req).await;
        webhook::deliver_pending(&state).await;
        return resp;
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
    // The log is served to anyone on the machine: secrets are redacted before it keeps them.
    let logged_body = String::from_utf8_lossy(&bytes);
    let seq = state.log_request(LoggedRequest {
        seq: 0,
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(redact::urlencoded),
        headers: redact::headers(&headers),
        form: form.as_ref().map(redact::form),
        body: if is_form {
            redact::urlencoded(&logged_body)
        } else {
            redact::json_body(&logged_body)
        },
        status: None,
    });
    // through the proxy, the client addressed the real host over HTTPS
    let origin = match via {
        Some(host) => format!("https://{host}"),
        None => request_origin(&state.base_url, &headers),
    };
    let resp = if via.is_some_and(|host| !proxy::serves(host, &path)) {
        routes::not_found(&parts.method, &path)
    } else if let Some(err) = read_error {
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
        routes::respond(&state, &req).await
    };
    state.set_status(seq, resp.status().as_u16());
    webhook::deliver_pending(&state).await;
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

/// Parses a form body; the first value of a repeated name wins.
fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}
