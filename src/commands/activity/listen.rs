//! `activity listen`'s HTTP server around the receiver's decisions (`crate::activity::webhook`):
//! one listener on `--bind`; every connection bounded in time (its head within
//! [`HEAD_TIMEOUT`], its body within [`BODY_TIMEOUT`], the whole exchange within
//! [`CONNECTION_TIMEOUT`]) and in number ([`MAX_CONNECTIONS`]); the head (method,
//! `Webhook-AuthId`, announced length) judged before any of the body is read, the body read up to
//! `webhook::MAX_BODY`. Notified blobs are delivered by one worker, one notification at a time in
//! arrival order, so the state file and stdout have one writer and a blob notified twice is
//! fetched once; a notification is answered 200 once its events are written (500 when the
//! delivery failed, 503 when the receiver is busy or stopping, so that the service sends it
//! again). SIGTERM/SIGINT: stop accepting, finish the delivery in progress (its events written,
//! the state saved), answer what is still queued with 503.

use super::client::Client;
use crate::activity::Progress;
use crate::activity::feed::UrlRule;
use crate::activity::pull::Engine;
use crate::activity::state::StateFile;
use crate::activity::webhook::{self, AuthId, Notifications, Verdict};
use crate::error::{Error, Result};
use crate::{log, rt};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};

/// How long a connection may take to send its request line and headers.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's body may take to arrive once its head was accepted.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a connection stays open, delivery of its notification included (the service
/// sends a notification it had no answer to again; the dedupe makes that harmless).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(300);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 128;
/// Notifications waiting for the worker; one more is answered 503.
const QUEUE: usize = 64;
/// After a stop and the delivery in progress, how long the answers still being written may take.
const DRAIN: Duration = Duration::from_secs(5);
/// Content is kept for 7 days: what this process delivered (without `--state`) is forgotten after.
const RETENTION: i64 = 7 * 86_400;

/// SIGTERM and SIGINT (Ctrl-C elsewhere), registered before the listener is bound.
pub(super) struct Stop {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Stop {
    /// Must run inside the runtime.
    pub(super) fn install() -> Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let failed = |e| Error::internal("could not handle SIGTERM/SIGINT").cause(e);
            Ok(Stop {
                term: signal(SignalKind::terminate()).map_err(failed)?,
                int: signal(SignalKind::interrupt()).map_err(failed)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Stop {})
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// One notification's content, and where to say whether it was delivered.
struct Job {
    notifications: Notifications,
    delivered: oneshot::Sender<bool>,
}

/// What every request is judged against.
pub(super) struct Receiver<'a> {
    pub(super) auth: AuthId,
    /// The token's tenant: notifications for other tenants are not fetched here.
    pub(super) tenant: &'a str,
    pub(super) rule: &'a UrlRule,
    /// Where warnings go (they clear the progress line first).
    pub(super) progress: &'a dyn Progress,
}

/// The one writer of stdout and of the state file.
pub(super) struct Worker<'a> {
    pub(super) client: &'a Client<'a>,
    pub(super) rule: &'a UrlRule,
    pub(super) concurrency: usize,
    pub(super) progress: &'a dyn Progress,
    pub(super) state: Option<StateFile>,
}

/// Serves until SIGTERM/SIGINT, or until the reader of stdout goes away.
pub(super) async fn serve<W: Write>(
    listener: TcpListener,
    mut stop: Stop,
    receiver: Receiver<'_>,
    worker: Worker<'_>,
    out: &mut W,
) -> Result<()> {
    let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
    let halt = Notify::new();
    let mut work = std::pin::pin!(worker.run(queue, &halt, out));
    let (receiver, jobs) = (&receiver, &jobs);
    let mut connections = FuturesUnordered::new();
    let stopped_by_signal = loop {
        tokio::select! {
            r = &mut work => break r.map(|()| false),
            () = stop.wait() => break Ok(true),
            accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => match accepted {
                Ok((stream, peer)) => connections.push(connection(stream, peer, receiver, jobs)),
                Err(e) => {
                    // out of file descriptors and the like: let connections finish first
                    receiver.progress.warning(&format!("could not accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(()) = connections.next(), if !connections.is_empty() => {}
        }
    };
    drop(listener);
    let result = match stopped_by_signal {
        Ok(true) => {
            log::info("stopping: finishing the delivery in progress");
            halt.notify_one();
            loop {
                tokio::select! {
                    r = &mut work => break r,
                    Some(()) = connections.next(), if !connections.is_empty() => {}
                }
            }
        }
        other => other.map(|_| ()),
    };
    let _ = tokio::time::timeout(DRAIN, async { while connections.next().await.is_some() {} }).await;
    result
}

async fn connection(stream: TcpStream, peer: SocketAddr, receiver: &Receiver<'_>, jobs: &mpsc::Sender<Job>) {
    let service = service_fn(move |req| answer(req, peer, receiver, jobs));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::info(format!("webhook connection from {peer}: {e}")),
        Err(_) => log::info(format!(
            "webhook connection from {peer} closed after {} s",
            CONNECTION_TIMEOUT.as_secs()
        )),
    }
}

fn status(code: StatusCode) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    Ok(r)
}

/// Answers one request (the head judged before the body is read).
async fn answer(
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    receiver: &Receiver<'_>,
    jobs: &mpsc::Sender<Job>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| req.headers().get(name).map(|v| v.as_bytes());
    let length = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(verdict) = webhook::judge_head(
        req.method().as_str(),
        header(webhook::AUTH_ID_HEADER),
        length,
        &receiver.auth,
    ) {
        return refuse(&verdict, peer, receiver.progress);
    }
    let validation = header(webhook::VALIDATION_HEADER).map(<[u8]>::to_vec);
    let read = Limited::new(req.into_body(), webhook::MAX_BODY).collect();
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return refuse(&Verdict::TooLarge, peer, receiver.progress);
        }
        Ok(Err(e)) => {
            log::info(format!("webhook request from {peer}: the body was cut off ({e})"));
            return status(StatusCode::BAD_REQUEST);
        }
        Err(_) => {
            log::info(format!(
                "webhook request from {peer}: no complete body within {} s",
                BODY_TIMEOUT.as_secs()
            ));
            return status(StatusCode::REQUEST_TIMEOUT);
        }
    };
    let verdict = webhook::judge_body(validation.as_deref(), &body, receiver.tenant, receiver.rule, rt::now());
    let notifications = match verdict {
        Verdict::Notify(n) => n,
        Verdict::Validated => {
            log::info("answered the service's validation request (a subscription with this webhook was started)");
            return status(StatusCode::OK);
        }
        other => return refuse(&other, peer, receiver.progress),
    };
    if notifications.other_tenant > 0 {
        log::info(format!(
            "{} notified blob(s) for other tenants ignored (this listener reads {})",
            notifications.other_tenant, receiver.tenant
        ));
    }
    if notifications.expired > 0 {
        log::info(format!("{} notified blob(s) already expired", notifications.expired));
    }
    if notifications.content.is_empty() {
        return status(StatusCode::OK);
    }
    let (delivered, outcome) = oneshot::channel();
    if jobs
        .try_send(Job {
            notifications,
            delivered,
        })
        .is_err()
    {
        receiver
            .progress
            .warning("a notification was answered 503: the receiver is busy or stopping (the service sends it again)");
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    match outcome.await {
        Ok(true) => status(StatusCode::OK),
        Ok(false) => status(StatusCode::INTERNAL_SERVER_ERROR),
        Err(_) => status(StatusCode::SERVICE_UNAVAILABLE),
    }
}

/// A request refused before anything was fetched.
fn refuse(verdict: &Verdict, peer: SocketAddr, progress: &dyn Progress) -> Result<Response<Full<Bytes>>, Infallible> {
    let why = match verdict {
        Verdict::Unauthorized => "no or the wrong Webhook-AuthId".to_string(),
        Verdict::MethodNotAllowed => "only POST is served".to_string(),
        Verdict::TooLarge => format!("the body is over {} bytes", webhook::MAX_BODY),
        Verdict::BadRequest(why) => why.clone(),
        Verdict::Validated | Verdict::Notify(_) => String::new(),
    };
    progress.warning(&format!(
        "refused a webhook request from {peer} ({}): {why}",
        verdict.status()
    ));
    let code = StatusCode::from_u16(verdict.status()).unwrap_or(StatusCode::BAD_REQUEST);
    status(code)
}

/// How one delivery ended.
enum Outcome {
    Delivered,
    Failed,
    StdoutClosed,
}

impl Worker<'_> {
    /// Takes notifications in arrival order until `halt` (the one in progress is finished) or
    /// until stdout is closed.
    async fn run<W: Write>(mut self, mut queue: mpsc::Receiver<Job>, halt: &Notify, out: &mut W) -> Result<()> {
        // Without a state file: what this process delivered, (content type, id) → contentCreated.
        let mut delivered: HashMap<(String, String), i64> = HashMap::new();
        loop {
            let job = tokio::select! {
                biased;
                () = halt.notified() => break,
                job = queue.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let outcome = self.deliver(job.notifications, &mut delivered, out).await;
            let _ = job.delivered.send(matches!(outcome, Outcome::Delivered));
            if let Outcome::StdoutClosed = outcome {
                log::info("stdout was closed: stopping");
                break;
            }
        }
        // what is still queued is answered 503 (its senders are dropped with the queue)
        queue.close();
        Ok(())
    }

    async fn deliver<W: Write>(
        &mut self,
        notifications: Notifications,
        delivered: &mut HashMap<(String, String), i64>,
        out: &mut W,
    ) -> Outcome {
        let now = rt::now();
        let refs = match &self.state {
            Some(s) => notifications.undelivered(|ct, id| s.is_delivered(ct, id)),
            None => notifications.undelivered(|ct, id| delivered.contains_key(&(ct.to_string(), id.to_string()))),
        };
        if refs.is_empty() {
            log::info("every notified blob was delivered before");
            return Outcome::Delivered;
        }
        let keys: Vec<((String, String), i64)> = refs
            .iter()
            .map(|r| ((r.content_type.clone(), r.content_id.clone()), r.created))
            .collect();
        let engine = match Engine::new(self.client, self.rule.clone(), self.concurrency, now, self.progress) {
            Ok(e) => e,
            Err(e) => return failed(&e, self.progress),
        };
        match engine.deliver_notified(refs, self.state.as_mut(), out).await {
            Ok(summary) if summary.stdout_closed => Outcome::StdoutClosed,
            Ok(summary) => {
                if self.state.is_none() {
                    delivered.retain(|_, created| *created > now - RETENTION);
                    delivered.extend(keys);
                }
                log::info(format!(
                    "notification delivered: {} blob(s), {} event(s)",
                    summary.blobs, summary.events
                ));
                Outcome::Delivered
            }
            Err(e) => failed(&e, self.progress),
        }
    }
}

fn failed(e: &Error, progress: &dyn Progress) -> Outcome {
    let mut text = e.message.clone();
    for c in &e.causes {
        text.push_str(": ");
        text.push_str(c);
    }
    progress.warning(&format!(
        "a notification could not be delivered (answered 500, the service sends it again): {text}"
    ));
    Outcome::Failed
}
