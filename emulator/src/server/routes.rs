//! Routing of Entra's endpoints and the API stand-ins: which path is which endpoint, and the
//! HTTP shape of their replies (status, content type, Entra's and Graph's headers). The logic
//! lives in `endpoints` and `apis`.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::aadsts;
use crate::apis::{ApiRequest, graph, managed_desktop, management};
use crate::clock;
use crate::endpoints::managed_identity::{self, ImdsReply};
use crate::endpoints::pipelines::{self, OidcReply};
use crate::endpoints::token::{self, TokenRequest};
use crate::endpoints::web::WebReply;
use crate::endpoints::{authorize, consent, device, discovery};
use crate::fixtures;
use crate::server::faults;
use crate::server::http::{Body, Req, full, internal_error, json_response};
use crate::state::{Endpoint, FaultKind, State};

/// Answers one (already logged) request: a queued fault, or the endpoint its path names.
pub(crate) async fn respond(state: &State, req: &Req<'_>) -> Response<Body> {
    let (method, path, headers) = (req.method, req.path, req.headers);
    if let Some(fault) = state.take_fault(path) {
        match fault {
            FaultKind::Delay { delay_ms } => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            FaultKind::AdvanceClock { seconds } => state.advance_clock(seconds),
            other => return faults::fault_response(state, other),
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
            return web(authorize::authorize(
                &mut state.lock(),
                t,
                Endpoint::V1,
                req.query,
                state.now(),
            ));
        }
        [t, "oauth2", "v2.0", "authorize"] if get => {
            return web(authorize::authorize(
                &mut state.lock(),
                t,
                Endpoint::V2,
                req.query,
                state.now(),
            ));
        }
        [t, "adminconsent"] if get => return web(consent::admin_consent(&mut state.lock(), t, false, req.query)),
        [t, "v2.0", "adminconsent"] if get => {
            return web(consent::admin_consent(&mut state.lock(), t, true, req.query));
        }
        ["devicelogin"] if get => return web(device::device_login_page()),
        ["_actions", "idtoken"] => return actions_idtoken(state, req),
        ["metadata", "identity", "oauth2", "token"] if get => return managed_identity(state, req, MiEndpoint::Imds),
        ["msi", "token"] if get => return managed_identity(state, req, MiEndpoint::AppService),
        ["arc", "metadata", "identity", "oauth2", "token"] if get => {
            return managed_identity(state, req, MiEndpoint::Arc);
        }
        ["cloudshell", "token"] if *method == Method::POST => {
            return managed_identity(state, req, MiEndpoint::CloudShell);
        }
        ["servicefabric", "token"] if get => return managed_identity(state, req, MiEndpoint::ServiceFabric),
        ["_pipelines", org, "oidctoken"] => return pipelines_oidc(state, req, org),
        [_, "discovery", "instance"] if get => {
            let authorize = req.query_param("authorization_endpoint");
            return json_response(
                StatusCode::OK,
                &discovery::instance_discovery(req.origin, authorize.as_deref()),
            );
        }
        [t, "v2.0", ".well-known", "openid-configuration"] if get => return discovery(state, req, t, true),
        [t, ".well-known", "openid-configuration"] if get => return discovery(state, req, t, false),
        [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] if get => {
            return json_response(StatusCode::OK, &discovery::keys(state));
        }
        ["v1.0" | "beta", ..] => return api(state, req, Api::Graph),
        ["api", "v1.0" | "v1", ..] => return api(state, req, Api::Management),
        ["support", "odata", "v1", ..] => return api(state, req, Api::ManagedDesktop),
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
    match discovery::openid_configuration(state, req.origin, tenant, v2) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => {
            let now = state.now();
            let id = uuid::Uuid::new_v4().to_string();
            let e = aadsts::tenant_not_found(tenant);
            json_response(
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                &e.body(&id, &id, now),
            )
        }
    }
}

fn web(r: WebReply) -> Response<Body> {
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

/// Which API stand-in a path belongs to.
enum Api {
    Graph,
    Management,
    ManagedDesktop,
}

/// Microsoft Graph / Intune, the Office 365 Management Activity API and the Managed Desktop API.
fn api(state: &State, req: &Req<'_>, which: Api) -> Response<Body> {
    let header = |name: &str| req.headers.get(name).cloned();
    let areq = ApiRequest {
        method: req.method.as_str(),
        path: req.path,
        query: req.query,
        header: &header,
        body: req.body,
        origin: req.origin,
        now: state.now(),
    };
    let (reply, content_type) = {
        let mut mutable = state.lock();
        let mutable = &mut *mutable;
        match which {
            Api::Graph => (
                graph::handle(
                    &areq,
                    &state.signer,
                    &mutable.config,
                    graph::GraphCounters {
                        requests: &mut mutable.graph_requests,
                    },
                ),
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            ),
            Api::Management => (
                management::handle(&areq, &state.signer, &mutable.config, &mut mutable.activity),
                "application/json; charset=utf-8",
            ),
            Api::ManagedDesktop => (
                managed_desktop::handle(&areq, &state.signer),
                "application/json; odata.metadata=minimal; charset=utf-8",
            ),
        }
    };
    let body = if reply.body.is_null() {
        String::new()
    } else {
        reply.body.to_string()
    };
    // a handler may answer another content type (Graph's `$count` segment is text/plain)
    let content_type = reply
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map_or(content_type, |(_, v)| v.as_str());
    let mut b = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(CONTENT_TYPE, content_type)
        .header("cache-control", "no-cache")
        .header("date", clock::http_date(state.now()));
    for (k, v) in reply
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
    {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            b = b.header(name, value);
        }
    }
    b.body(full(body)).unwrap_or_else(|_| internal_error())
}

/// Which managed identity endpoint a path is.
enum MiEndpoint {
    Imds,
    AppService,
    Arc,
    CloudShell,
    ServiceFabric,
}

/// The managed identity token endpoints (IMDS, App Service, Arc, Cloud Shell, Service Fabric).
fn managed_identity(state: &State, req: &Req<'_>, which: MiEndpoint) -> Response<Body> {
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(req.query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let config = state.config();
    let (now, lifetime) = (state.now(), config.token_lifetime);
    let empty = BTreeMap::new();
    let reply = match which {
        MiEndpoint::Imds => managed_identity::imds(&query, req.headers, now, lifetime),
        MiEndpoint::AppService => managed_identity::app_service(&query, req.headers, now, lifetime),
        MiEndpoint::Arc => managed_identity::arc(
            &query,
            req.headers,
            config.arc_key_dir.as_deref().map(std::path::Path::new),
            config.arc_challenge_realm.as_deref(),
            now,
            lifetime,
        ),
        MiEndpoint::CloudShell => managed_identity::cloud_shell(req.form.unwrap_or(&empty), req.headers, now, lifetime),
        MiEndpoint::ServiceFabric => managed_identity::service_fabric(&query, req.headers, now, lifetime),
    };
    let status = |s: u16| StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST);
    match reply {
        ImdsReply::Error(code, body) => json_response(status(code), &body),
        ImdsReply::Challenge {
            status: code,
            body,
            headers,
        } => {
            let mut resp = json_response(status(code), &body);
            for (k, v) in headers {
                if let Ok(value) = HeaderValue::from_str(&v) {
                    resp.headers_mut().insert(k, value);
                }
            }
            resp
        }
        ImdsReply::Token { claims, mut reply } => match state.signer.sign(&claims) {
            Ok(token) => {
                reply["access_token"] = Value::String(token);
                json_response(StatusCode::OK, &reply)
            }
            Err(_) => internal_error(),
        },
    }
}

/// The Azure Pipelines OIDC token endpoint stand-in (`SYSTEM_OIDCREQUESTURI`).
fn pipelines_oidc(state: &State, req: &Req<'_>, org: &str) -> Response<Body> {
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(req.query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let post = *req.method == Method::POST;
    match pipelines::oidc_token(post, org, &query, req.headers, &state.base_url, state.now()) {
        OidcReply::Error(code, body) => {
            json_response(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST), &body)
        }
        OidcReply::Token(claims) => match state.signer.sign(&claims) {
            Ok(token) => json_response(StatusCode::OK, &json!({"oidcToken": token})),
            Err(_) => internal_error(),
        },
    }
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
    let now = state.now();
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
    let now = state.now();
    let method = incoming.method;
    let result = if *method == Method::POST && device {
        device::device_code(&mut state.lock(), tenant, endpoint, form, incoming.origin, now)
    } else if *method == Method::POST {
        let req = TokenRequest {
            endpoint,
            tenant,
            form,
            authorization: headers.get("authorization").map(String::as_str),
            origin: incoming.origin,
        };
        token::handle(&mut state.lock(), &state.signer, &state.base_url, &req, now)
    } else if *method == Method::OPTIONS {
        Ok(Value::Null)
    } else {
        Err(aadsts::post_only(method.as_str()))
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
        .header("date", clock::http_date(state.now()))
        .body(full(body))
        .unwrap_or_else(|_| internal_error());
    if *method == Method::OPTIONS {
        resp.headers_mut()
            .insert("allow", HeaderValue::from_static("POST, OPTIONS"));
    }
    resp
}

pub(crate) fn not_found(method: &Method, path: &str) -> Response<Body> {
    let body = json!({
        "error": "not_found",
        "error_description": format!("entra-token emulator (a test double of Microsoft Entra ID) has no endpoint for {method} {path}"),
    });
    json_response(StatusCode::NOT_FOUND, &body)
}
