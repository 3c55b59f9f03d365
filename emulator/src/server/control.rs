//! The test-control API under `/_emulator/`: the request log, the fault queue, the runtime
//! config, reset, app credentials (certificates, federated credentials), federated test tokens,
//! device-code approval and the Management Activity API's content (`/_emulator/activity`). It is how tests arrange and inspect what the emulator does.

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::credentials;
use crate::directory::App;
use crate::endpoints::device;
use crate::fixtures;
use crate::server::faults::check_fault;
use crate::server::http::{Body, MAX_REQUEST_BODY, bad_request, internal_error, json_response};
use crate::state::{Config, FaultSpec, State};

/// Answers a request under `/_emulator/` (never logged, never faulted).
pub(crate) async fn control(state: &State, req: Request<Incoming>) -> Response<Body> {
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
    if let Some(rest) = path.strip_prefix("/_emulator/activity")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        let now = state.now();
        let (status, v) =
            state
                .lock()
                .activity
                .control(method.as_str(), rest, &body, fixtures::TENANT_ID, &state.base_url, now);
        return json_response(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), &v);
    }
    match (&method, path.as_str()) {
        (&Method::POST, "/_emulator/federated-token") => federated_token(state, &body),
        (&Method::POST, "/_emulator/device/approve") => {
            let v: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return bad_request(&format!("invalid JSON: {e}")),
            };
            let result = device::approve_device(&mut state.lock(), &v);
            match result {
                Ok(v) => json_response(StatusCode::OK, &v),
                Err(msg) if msg.starts_with("no pending") => control_not_found(&msg),
                Err(msg) => bad_request(&msg),
            }
        }
        (&Method::GET, "/_emulator/webhook-deliveries") => {
            let deliveries = state.lock().webhook_deliveries.clone();
            json_response(StatusCode::OK, &Value::Array(deliveries))
        }
        (&Method::GET, "/_emulator/requests") => {
            let log = state.lock().log.clone();
            json_response(StatusCode::OK, &serde_json::to_value(log).unwrap_or(Value::Null))
        }
        (&Method::DELETE, "/_emulator/requests") => {
            state.lock().log.clear();
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
                let mut mutable = state.lock();
                mutable.faults.push_back(spec);
                mutable.faults.len()
            };
            json_response(StatusCode::OK, &json!({"ok": true, "queued": queued}))
        }
        (&Method::GET, "/_emulator/faults") => {
            let list: Vec<Value> = state
                .lock()
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
            state.lock().faults.clear();
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
    let mut mutable = state.lock();
    let Some(app) = mutable.directory.app_mut(client_id) else {
        return control_not_found(&format!("no app with client id {client_id:?}"));
    };
    let certs = kind == "certificates";
    let list = |app: &App| -> Value {
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
    let now = state.now() as i64;
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
    let mut mutable = state.lock();
    let mut merged = serde_json::to_value(&mutable.config).map_err(|e| e.to_string())?;
    let fields = merged.as_object_mut().ok_or("internal: config is not an object")?;
    for (k, val) in obj {
        if !fields.contains_key(k) {
            return Err(format!("unknown config field {k:?}"));
        }
        fields.insert(k.clone(), val.clone());
    }
    let next: Config = serde_json::from_value(merged).map_err(|e| format!("invalid config: {e}"))?;
    next.validate()?;
    if obj.contains_key("graph_throttle_every") {
        // "Every Nth request" counts from the moment throttling is configured.
        mutable.graph_requests = 0;
    }
    mutable.config = next.clone();
    serde_json::to_value(next).map_err(|e| e.to_string())
}
