//! The loopback redirect listener of `login` and `consent-url --listen`: tokio `TcpListener`s on
//! loopback addresses only (127.0.0.1 and/or [::1], never a wildcard), hyper http1, every
//! connection in its own task with a timeout (browsers pre-connect idle sockets and ask for
//! /favicon.ico). It answers the browser with a short HTML page and hands the first real redirect
//! (checked `state`) to the command. It never redeems anything itself.

use crate::error::{Error, Result};
use crate::log;
use crate::protocol::redirect::{LoopbackHost, LoopbackUri, RedirectParams};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use url::Url;

/// How long one browser connection may stay open (idle pre-connects are dropped after this).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Extra checks on a redirect whose `state` matched and that carries no `error=` (for example
/// "a consent redirect must name the tenant"); `Err` is shown on the page and returned.
pub(crate) type Check = fn(&RedirectParams) -> Result<()>;

pub(crate) struct Listener {
    listeners: Vec<TcpListener>,
    redirect_uri: Url,
}

impl Listener {
    /// Binds the loopback address(es) of `uri`; port 0 picks a free port (the same one on both
    /// 127.0.0.1 and [::1] for `localhost`).
    pub(crate) async fn bind(uri: &LoopbackUri) -> Result<Listener> {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let busy = |port: u16, e: std::io::Error| {
            Error::usage(format!("cannot listen on loopback port {port} for the redirect"))
                .cause(e)
                .hint("use another port in --redirect-uri, or port 0 for any free one (http://localhost:0/)")
        };
        let listeners = match uri.host {
            LoopbackHost::V4 | LoopbackHost::V6 => {
                let ip = if uri.host == LoopbackHost::V4 { v4 } else { v6 };
                vec![
                    TcpListener::bind(SocketAddr::new(ip, uri.port))
                        .await
                        .map_err(|e| busy(uri.port, e))?,
                ]
            }
            LoopbackHost::Localhost => {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let first = TcpListener::bind(SocketAddr::new(v4, uri.port))
                        .await
                        .map_err(|e| busy(uri.port, e))?;
                    let port = first.local_addr().map_err(|e| busy(uri.port, e))?.port();
                    match TcpListener::bind(SocketAddr::new(v6, port)).await {
                        Ok(second) => break vec![first, second],
                        // the ephemeral port is taken on [::1]: try another one
                        Err(_) if uri.port == 0 && attempt < 5 => continue,
                        Err(e) => {
                            log::info(format!("not listening on [::1]:{port} ({e}): 127.0.0.1 only"));
                            break vec![first];
                        }
                    }
                }
            }
        };
        let port = listeners[0]
            .local_addr()
            .map_err(|e| Error::internal("listener without an address").cause(e))?
            .port();
        for l in &listeners {
            if let Ok(a) = l.local_addr() {
                log::info(format!("listening for the redirect on {a}"));
            }
        }
        Ok(Listener {
            listeners,
            redirect_uri: uri.with_port(port),
        })
    }

    /// The redirect URI with the bound port.
    pub(crate) fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Waits up to `wait` for the redirect. A request whose `state` is not `expected_state` (any
    /// local process can connect to a loopback port) is answered with an error page and ignored:
    /// the real redirect may still come. An `error=` redirect is exit 3; `check` can refuse
    /// more. Requests that are not a redirect (favicon, a bare reload) are answered and ignored.
    pub(crate) async fn wait(
        self,
        expected_state: &str,
        wait: Duration,
        what: &'static str,
        check: Check,
    ) -> Result<RedirectParams> {
        let shared = Arc::new(Shared {
            path: self.redirect_uri.path().to_string(),
            expected_state: expected_state.to_string(),
            what,
            check,
        });
        let (tx, mut rx) = mpsc::channel::<Result<RedirectParams>>(4);
        for l in self.listeners {
            tokio::spawn(accept_loop(l, shared.clone(), tx.clone()));
        }
        drop(tx);
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => Err(Error::network("the redirect listener stopped unexpectedly")),
            Err(_) => Err(Error::network(format!(
                "no redirect reached {} within {} s",
                self.redirect_uri,
                wait.as_secs()
            ))
            .hint(
                "complete the sign-in in the browser, or raise --wait; a redirect URI that is not registered on the app shows an error page (AADSTS50011) instead of redirecting",
            )),
        }
    }
}

struct Shared {
    path: String,
    expected_state: String,
    what: &'static str,
    check: Check,
}

/// How long the accept loop pauses after a failed `accept()`: out of file descriptors
/// (`EMFILE`/`ENFILE`) the pending connection stays queued and `accept()` fails again at once,
/// so without a pause the loop would spin at full CPU until `--wait` runs out.
fn accept_backoff(e: &std::io::Error, failures: u32) -> Duration {
    let base = match e.raw_os_error() {
        #[cfg(unix)]
        Some(code)
            if code == rustix::io::Errno::MFILE.raw_os_error() || code == rustix::io::Errno::NFILE.raw_os_error() =>
        {
            100
        }
        _ => 10,
    };
    Duration::from_millis((base << failures.min(4)).min(1000))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tx: mpsc::Sender<Result<RedirectParams>>) {
    let mut failures = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                let pause = accept_backoff(&e, failures);
                if failures == 0 {
                    log::info(format!("redirect listener: accept failed ({e}); retrying"));
                }
                failures = failures.saturating_add(1);
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        failures = 0;
        log::debug(format!("redirect listener: connection from {peer}"));
        tokio::spawn(serve(stream, shared.clone(), tx.clone()));
    }
}

async fn serve(stream: tokio::net::TcpStream, shared: Arc<Shared>, tx: mpsc::Sender<Result<RedirectParams>>) {
    let slot: Arc<Mutex<Option<Result<RedirectParams>>>> = Arc::new(Mutex::new(None));
    let svc_slot = slot.clone();
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let (resp, outcome) = handle(&req, &shared);
        if let Some(o) = outcome {
            let mut s = svc_slot.lock().expect("slot");
            if s.is_none() {
                *s = Some(o);
            }
        }
        async move { Ok::<_, Infallible>(resp) }
    });
    // keep_alive(false): the connection closes once the page is written, so the outcome is only
    // handed over (and the process may exit) after the browser has its answer.
    let conn = http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), svc);
    let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
    let outcome = slot.lock().expect("slot").take();
    if let Some(o) = outcome {
        let _ = tx.send(o).await;
    }
}

/// The page for one request and, for a redirect, the outcome.
fn handle(
    req: &Request<hyper::body::Incoming>,
    shared: &Shared,
) -> (Response<Full<Bytes>>, Option<Result<RedirectParams>>) {
    if req.method() != Method::GET || req.uri().path() != shared.path {
        return (
            page(
                StatusCode::NOT_FOUND,
                "Not found",
                "entra-token is waiting for a sign-in redirect elsewhere.",
            ),
            None,
        );
    }
    let params = RedirectParams::from_query(req.uri().query().unwrap_or(""));
    if !params.is_redirect() {
        return (
            page(
                StatusCode::BAD_REQUEST,
                "Waiting for sign-in",
                "This address receives the sign-in redirect; nothing to do here yet.",
            ),
            None,
        );
    }
    if !params.state_matches(&shared.expected_state) {
        log::warn(format!(
            "refused a redirect to the {} listener whose state does not match; still waiting for the real one",
            shared.what
        ));
        return (
            page(
                StatusCode::BAD_REQUEST,
                "entra-token: request refused",
                "The state parameter does not match the request this command started, so the response was refused and nothing was redeemed. entra-token keeps waiting for the sign-in it started.",
            ),
            None,
        );
    }
    let checked = match params.error(shared.what) {
        Some(e) => Err(e),
        None => (shared.check)(&params),
    };
    match checked {
        Ok(()) => (
            page(
                StatusCode::OK,
                &format!("entra-token: {} complete", shared.what),
                "entra-token received the response. You can close this window and return to the terminal.",
            ),
            Some(Ok(params)),
        ),
        Err(e) => {
            let mut detail = e.message.clone();
            for c in &e.causes {
                detail.push_str(" — ");
                detail.push_str(c);
            }
            (
                page(StatusCode::OK, &format!("entra-token: {} failed", shared.what), &detail),
                Some(Err(e)),
            )
        }
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body><h1 id=\"result\">{t}</h1>\n<p>{b}</p>\n</body></html>\n",
        t = escape(title),
        b = escape(body)
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header("connection", "close")
        .body(Full::new(Bytes::from(html)))
        .expect("static response")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Opens `url` in the system browser (best effort: the URL is always printed as well).
pub(crate) fn open_browser(url: &Url) {
    match webbrowser::open(url.as_str()) {
        Ok(()) => log::info("opened the system browser"),
        Err(e) => eprintln!("Could not open a browser ({e}); open the URL above yourself."),
    }
}

#[cfg(test)]
mod tests {
    use super::{accept_backoff, escape};
    use std::time::Duration;

    #[cfg(unix)]
    #[test]
    fn accept_backs_off_when_out_of_file_descriptors() {
        let emfile = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        let other = std::io::Error::other("x");
        assert_eq!(accept_backoff(&emfile, 0), Duration::from_millis(100));
        assert_eq!(accept_backoff(&emfile, 9), Duration::from_secs(1));
        assert!(accept_backoff(&other, 0) >= Duration::from_millis(10));
        assert!(accept_backoff(&other, 30) <= Duration::from_secs(1));
    }

    #[test]
    fn pages_escape_text() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
