//! Webhook delivery of the Management Activity API stand-in: what the feed queued (the validation
//! request of a subscription started with a webhook, and a notification for each new blob of a
//! subscription with a webhook) is POSTed to the registered address as the service does —
//! `Webhook-AuthID` with the subscription's `authId`, `Webhook-ValidationCode` and
//! `{"validationCode": ...}` for the validation, the array of content entries for a
//! notification — right after the request that queued it was answered and before its reply is
//! sent, so a test that started a subscription or added content sees the delivery done. Each
//! outcome (the receiver's status, or why nothing could be sent) is recorded for
//! `GET /_emulator/webhook-deliveries`. Only plain-HTTP addresses (a local receiver) are
//! delivered to; the emulator has no TLS client.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::activity_feed::Notification;
use crate::state::State;

/// Connecting, sending and waiting for the receiver's status, each.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Delivers what is queued, oldest first, and records each outcome.
pub(crate) async fn deliver_pending(state: &State) {
    let pending = state.lock().activity.take_notifications();
    for n in pending {
        let (kind, tenant, content_type, webhook, body, code) = match n {
            Notification::Validation {
                tenant,
                content_type,
                webhook,
            } => {
                let code = uuid::Uuid::new_v4().to_string();
                let body = json!({"validationCode": code});
                ("validation", tenant, content_type, webhook, body, Some(code))
            }
            Notification::Content {
                tenant,
                content_type,
                webhook,
                blobs,
            } => ("notification", tenant, content_type, webhook, Value::Array(blobs), None),
        };
        let outcome = post(
            &webhook.address,
            webhook.auth_id.as_deref(),
            code.as_deref(),
            body.to_string(),
        )
        .await;
        let record = match outcome {
            Ok(status) => json!({"kind": kind, "tenant": tenant, "contentType": content_type,
                                 "address": webhook.address, "status": status}),
            Err(why) => json!({"kind": kind, "tenant": tenant, "contentType": content_type,
                               "address": webhook.address, "status": null, "error": why}),
        };
        state.lock().webhook_deliveries.push(record);
    }
}

async fn post(address: &str, auth_id: Option<&str>, code: Option<&str>, body: String) -> Result<u16, String> {
    let url = url::Url::parse(address).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err("the emulator delivers to plain-HTTP (local) receivers only".into());
    }
    let host = url
        .host_str()
        .ok_or("no host")?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(80);
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or(host)),
        None => url.host_str().unwrap_or(host).to_string(),
    };
    let mut req = Request::post(&url[url::Position::BeforePath..])
        .header("host", authority)
        .header("content-type", "application/json; charset=utf-8");
    if let Some(a) = auth_id {
        req = req.header("Webhook-AuthID", a);
    }
    if let Some(c) = code {
        req = req.header("Webhook-ValidationCode", c);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))?;
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| "no answer in time".to_string())?
        .map_err(|e| format!("send: {e}"))?;
    Ok(resp.status().as_u16())
}
