//! Sign-in: `/authorize` (v1 and v2, query/fragment/form_post), admin consent
//! (`/adminconsent`, `/v2.0/adminconsent`, v1 `prompt=admin_consent`), the device-code flow,
//! and the user grants on the token endpoint (`authorization_code`, `refresh_token`,
//! `device_code`) with delegated access tokens, ID tokens and rotating refresh tokens. The
//! "user" signs in automatically as `config.signed_in_user`; nothing here is a real login.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::errors::{self, AadError};
use super::fixtures as fx;
use super::state::{App, Config, Consent, Directory, Runtime, Tenant, TenantRef};
use super::token::{Endpoint, Signer};

// ---- users ---------------------------------------------------------------------------------

/// A fixture user who can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub upn: &'static str,
    pub oid: &'static str,
    pub tenant_id: &'static str,
    pub name: &'static str,
}

pub const USERS: &[User] = &[
    User {
        upn: fx::ADMIN_UPN,
        oid: fx::ADMIN_USER_ID,
        tenant_id: fx::TENANT_ID,
        name: "Contoso Admin",
    },
    User {
        upn: fx::OTHER_ADMIN_UPN,
        oid: fx::OTHER_ADMIN_USER_ID,
        tenant_id: fx::OTHER_TENANT_ID,
        name: "Fabrikam Admin",
    },
];

pub fn user_by_upn(upn: &str) -> Option<User> {
    USERS.iter().copied().find(|u| u.upn.eq_ignore_ascii_case(upn))
}

// ---- grants --------------------------------------------------------------------------------

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<(String, String)>,
    pub endpoint: Endpoint,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub nonce: Option<String>,
    pub user: User,
    pub expires: u64,
    pub redeemed: bool,
}

/// A refresh token's grant.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub user: User,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved(User),
    Declined,
    Redeemed,
}

/// A device-code authorization.
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub client_id: String,
    pub user_code: String,
    pub endpoint: Endpoint,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub expires: u64,
    pub status: DeviceStatus,
}

#[derive(Debug, Default)]
pub struct Grants {
    pub codes: HashMap<String, AuthCode>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub devices: HashMap<String, DeviceGrant>,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // Fall back to UUID randomness rather than failing the request.
        buf = (0..bytes.div_ceil(16))
            .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
            .take(bytes)
            .collect();
    }
    URL_SAFE_NO_PAD.encode(buf)
}

// ---- web replies ---------------------------------------------------------------------------

/// A browser-facing reply (redirect, form_post page, error page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub body: String,
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The sign-in error page (no redirect), as Entra shows for AADSTS50011 and friends.
fn error_page(e: &AadError) -> WebReply {
    let trace = uuid::Uuid::new_v4();
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head><body>\n\
         <h1>Sorry, but we're having trouble signing you in.</h1>\n\
         <p id=\"error\">AADSTS{}: {}</p>\n<p>Request Id: {trace}</p>\n\
         <p><small>entra-token emulator (a test double of Microsoft Entra ID)</small></p>\n</body></html>\n",
        e.code,
        html_escape(&e.message)
    );
    WebReply {
        status: e.status,
        headers: Vec::new(),
        content_type: "text/html; charset=utf-8",
        body,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Query,
    Fragment,
    FormPost,
}

/// Sends `params` to `redirect_uri` by redirect (query or fragment) or an auto-submitting form.
fn deliver(redirect_uri: &str, params: &[(&str, String)], mode: Mode) -> WebReply {
    match mode {
        Mode::FormPost => {
            let inputs: String = params
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>",
                        html_escape(k),
                        html_escape(v)
                    )
                })
                .collect();
            WebReply {
                status: 200,
                headers: vec![("cache-control".into(), "no-store".into())],
                content_type: "text/html; charset=utf-8",
                body: format!(
                    "<!DOCTYPE html>\n<html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\">\n<form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\"/></noscript></form>\n</body></html>\n",
                    html_escape(redirect_uri)
                ),
            }
        }
        Mode::Query | Mode::Fragment => {
            let location = match url::Url::parse(redirect_uri) {
                Ok(mut u) => {
                    if mode == Mode::Query {
                        {
                            let mut q = u.query_pairs_mut();
                            for (k, v) in params {
                                q.append_pair(k, v);
                            }
                        }
                    } else {
                        let frag: String = url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                            .finish();
                        u.set_fragment(Some(&frag));
                    }
                    u.to_string()
                }
                Err(_) => redirect_uri.to_string(),
            };
            WebReply {
                status: 302,
                headers: vec![
                    ("location".into(), location),
                    ("cache-control".into(), "no-store".into()),
                ],
                content_type: "text/html; charset=utf-8",
                body: String::new(),
            }
        }
    }
}

/// `localhost`/`127.0.0.1` registrations ignore the port; everything else is exact.
pub fn redirect_allowed(app: &App, given: &str) -> bool {
    app.redirect_uris.iter().any(|r| r == given || loopback_match(r, given))
}

fn loopback_match(registered: &str, given: &str) -> bool {
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &url::Url| matches!(u.host_str(), Some("localhost" | "127.0.0.1"));
    r.scheme() == "http"
        && g.scheme() == "http"
        && loopback(&r)
        && r.host_str() == g.host_str()
        && r.port().is_none()
        && r.path() == g.path()
        && g.query().is_none()
        && g.fragment().is_none()
        && g.username().is_empty()
}

/// Normalizes a URI for comparing the /token `redirect_uri` with /authorize's.
fn norm_uri(s: &str) -> String {
    url::Url::parse(s).map_or_else(|_| s.to_string(), |u| u.to_string())
}

const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The resource and delegated permissions a v2 scope list asks for (the first resource wins).
pub fn scopes_to_resource(scopes: &[String]) -> (String, Vec<String>) {
    let mut resource: Option<String> = None;
    let mut perms = Vec::new();
    for s in scopes {
        if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)) {
            continue;
        }
        let (res, perm) = match s.rfind('/') {
            Some(i) if s.contains("://") || uuid::Uuid::parse_str(&s[..i]).is_ok() => (s[..i].to_string(), &s[i + 1..]),
            _ => (fx::GRAPH_RESOURCE.to_string(), s.as_str()),
        };
        let res = res.trim_end_matches('/').to_string();
        match &resource {
            None => resource = Some(res.clone()),
            Some(r) if !r.eq_ignore_ascii_case(&res) => continue,
            _ => {}
        }
        if perm == ".default" || perm.is_empty() {
            perms.extend(default_permissions(&res));
        } else {
            perms.push(perm.to_string());
        }
    }
    let resource = resource.unwrap_or_else(|| fx::GRAPH_RESOURCE.to_string());
    if perms.is_empty() {
        perms.push("User.Read".to_string());
    }
    let mut seen = Vec::new();
    perms.retain(|p| {
        let k = p.to_ascii_lowercase();
        let fresh = !seen.contains(&k);
        seen.push(k);
        fresh
    });
    (resource, perms)
}

/// Delegated permissions consented for a resource (what `/.default` and v1 get).
fn default_permissions(resource: &str) -> Vec<String> {
    let r = resource.trim_end_matches('/').to_ascii_lowercase();
    let list: &[&str] = if r == fx::GRAPH_RESOURCE || r == fx::GRAPH_APP_ID {
        &[
            "User.Read",
            "User.Read.All",
            "Group.ReadWrite.All",
            "DeviceManagementManagedDevices.Read.All",
        ]
    } else if r == fx::MANAGE_OFFICE_RESOURCE || r == fx::MANAGE_OFFICE_APP_ID {
        &["ActivityFeed.Read"]
    } else {
        &["user_impersonation"]
    };
    list.iter().map(|s| s.to_string()).collect()
}

fn split_scopes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

// ---- /authorize ----------------------------------------------------------------------------

/// Query parameters as a map (first value wins).
pub fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    m
}

/// Resolves who signs in for a request to `segment`: the configured user, who must belong to
/// the tenant when the segment names one.
fn sign_in_user(dir: &Directory, config: &Config, segment: &str) -> Result<User, AadError> {
    let user = user_by_upn(&config.signed_in_user).unwrap_or(USERS[0]);
    match dir.resolve_tenant(segment) {
        TenantRef::Unknown => Err(errors::tenant_not_found(segment)),
        TenantRef::MultiTenant("consumers") => Err(AadError::new(
            400,
            "invalid_request",
            50020,
            format!(
                "User account '{}' from identity provider 'live.com' does not exist in tenant 'Microsoft Services'.",
                user.upn
            ),
        )),
        TenantRef::MultiTenant(_) => Ok(user),
        TenantRef::Tenant(t) if t.id == user.tenant_id => Ok(user),
        TenantRef::Tenant(t) => Err(AadError::new(
            400,
            "invalid_request",
            50020,
            format!(
                "User account '{}' from identity provider 'https://sts.windows.net/{}/' does not exist in tenant '{}' and cannot access the application in that tenant.",
                user.upn, user.tenant_id, t.display_name
            ),
        )),
    }
}

fn declined(params: &mut Vec<(&str, String)>, state: Option<&String>, admin_consent: bool) {
    params.push(("error", "access_denied".into()));
    params.push(("error_subcode", "cancel".into()));
    params.push((
        "error_description",
        "AADSTS65004: User declined to consent to access the app.".into(),
    ));
    params.push(("error_uri", "https://login.microsoftonline.com/error?code=65004".into()));
    if admin_consent {
        params.push(("admin_consent", "True".into()));
    }
    if let Some(s) = state {
        params.push(("state", s.clone()));
    }
}

/// What /authorize and /adminconsent check before anything else, as Entra does: the tenant, the
/// app, and a registered redirect URI (a mismatch is an error page, never a redirect).
fn check_redirect_request(
    rt: &Runtime,
    segment: &str,
    q: &BTreeMap<String, String>,
) -> Result<(App, String, Option<String>), WebReply> {
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
    if let TenantRef::Unknown = rt.directory.resolve_tenant(segment) {
        return Err(error_page(&errors::tenant_not_found(segment)));
    }
    let Some(client_id) = get("client_id") else {
        return Err(error_page(&errors::missing_parameter("client_id")));
    };
    let Some(app) = rt.directory.app(client_id).cloned() else {
        return Err(error_page(&errors::app_not_found(client_id, segment)));
    };
    let Some(redirect_uri) = get("redirect_uri").cloned() else {
        return Err(error_page(&errors::missing_parameter("redirect_uri")));
    };
    if !redirect_allowed(&app, &redirect_uri) {
        return Err(error_page(&errors::redirect_uri_mismatch(
            &redirect_uri,
            &app.client_id,
        )));
    }
    Ok((app, redirect_uri, get("state").cloned()))
}

/// `GET /{tenant}/oauth2/v2.0/authorize` and `/{tenant}/oauth2/authorize`.
pub fn authorize(rt: &mut Runtime, segment: &str, endpoint: Endpoint, query: Option<&str>, now: u64) -> WebReply {
    let q = query_map(query);
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
    let (app, redirect_uri, state) = match check_redirect_request(rt, segment, &q) {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mode = match get("response_mode").map(String::as_str) {
        None | Some("query") => Mode::Query,
        Some("fragment") => Mode::Fragment,
        Some("form_post") => Mode::FormPost,
        Some(other) => {
            let e = AadError::new(
                400,
                "invalid_request",
                70007,
                format!("The response_mode '{other}' is not supported."),
            );
            return error_redirect(&redirect_uri, &e, state.as_ref(), Mode::Query);
        }
    };
    let admin_consent = endpoint == Endpoint::V1 && get("prompt").is_some_and(|p| p == "admin_consent");
    let problem = match get("response_type").map(String::as_str) {
        None => Some(errors::missing_parameter("response_type")),
        Some("code") => None,
        Some(other) => Some(AadError::new(
            400,
            "unsupported_response_type",
            70005,
            format!("The application requested an unsupported response type '{other}'; the emulator supports 'code'."),
        )),
    }
    .or_else(
        || match (get("code_challenge"), get("code_challenge_method").map(String::as_str)) {
            (Some(_), None | Some("S256" | "plain")) | (None, None) => None,
            (None, Some(_)) => Some(errors::missing_parameter("code_challenge")),
            (Some(_), Some(m)) => Some(AadError::new(
                400,
                "invalid_request",
                501491,
                format!("Invalid code_challenge_method '{m}': use S256 or plain."),
            )),
        },
    )
    .or_else(|| (endpoint == Endpoint::V2 && get("scope").is_none()).then(|| errors::missing_parameter("scope")));
    if let Some(e) = problem {
        return error_redirect(&redirect_uri, &e, state.as_ref(), mode);
    }
    if rt.config.decline_next {
        rt.config.decline_next = false;
        let mut params = Vec::new();
        declined(&mut params, state.as_ref(), admin_consent);
        return deliver(&redirect_uri, &params, mode);
    }
    let user = match sign_in_user(&rt.directory, &rt.config, segment) {
        Ok(u) => u,
        Err(e) => return error_redirect(&redirect_uri, &e, state.as_ref(), mode),
    };
    if admin_consent {
        grant_admin_consent(&mut rt.directory, user.tenant_id, &app.client_id);
    }
    let challenge = get("code_challenge").map(|c| {
        (
            c.clone(),
            get("code_challenge_method").cloned().unwrap_or_else(|| "plain".into()),
        )
    });
    let code = format!("1.{}", random_token(48));
    rt.grants.codes.retain(|_, c| c.expires > now);
    rt.grants.codes.insert(
        code.clone(),
        AuthCode {
            client_id: app.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge,
            endpoint,
            scopes: get("scope").map(|s| split_scopes(s)).unwrap_or_default(),
            resource: get("resource").cloned(),
            nonce: get("nonce").cloned(),
            user,
            expires: now + 600,
            redeemed: false,
        },
    );
    let mut params = vec![("code", code)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("session_state", uuid::Uuid::new_v4().to_string()));
    if admin_consent {
        params.push(("admin_consent", "True".into()));
    }
    deliver(&redirect_uri, &params, mode)
}

fn error_redirect(redirect_uri: &str, e: &AadError, state: Option<&String>, mode: Mode) -> WebReply {
    let mut params = vec![
        ("error", e.error.to_string()),
        ("error_description", format!("AADSTS{}: {}", e.code, e.message)),
        (
            "error_uri",
            format!("https://login.microsoftonline.com/error?code={}", e.code),
        ),
    ];
    if let Some(s) = state {
        params.push(("state", s.clone()));
    }
    deliver(redirect_uri, &params, mode)
}

/// Records admin consent: the app gets a service principal in `tenant_id` with the app roles
/// it has in its home tenant.
pub fn grant_admin_consent(dir: &mut Directory, tenant_id: &str, client_id: &str) {
    if dir.consent(tenant_id, client_id).is_some() {
        return;
    }
    let roles = dir
        .app(client_id)
        .and_then(|a| dir.consent(&a.home_tenant, &a.client_id))
        .map(|c| c.roles.clone())
        .unwrap_or_default();
    dir.consents.push(Consent {
        tenant_id: tenant_id.to_string(),
        client_id: client_id.to_string(),
        object_id: uuid::Uuid::new_v4().to_string(),
        roles,
    });
}

/// An admin-consent error redirect: `error`, `error_description`, `admin_consent=True` (Entra
/// sends it on errors too) and `state`; no `tenant`.
fn consent_error(redirect_uri: &str, e: &AadError, state: Option<String>) -> WebReply {
    let mut params: Vec<(&str, String)> = vec![
        ("error", e.error.into()),
        ("error_description", format!("AADSTS{}: {}", e.code, e.message)),
        ("admin_consent", "True".into()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    deliver(redirect_uri, &params, Mode::Query)
}

/// `GET /{tenant}/adminconsent` and `/{tenant}/v2.0/adminconsent`.
pub fn admin_consent(rt: &mut Runtime, segment: &str, v2: bool, query: Option<&str>) -> WebReply {
    let q = query_map(query);
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
    let (app, redirect_uri, state) = match check_redirect_request(rt, segment, &q) {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut params: Vec<(&str, String)> = Vec::new();
    if v2 && get("scope").is_none() {
        return consent_error(&redirect_uri, &errors::missing_parameter("scope"), state);
    }
    if rt.config.decline_next {
        rt.config.decline_next = false;
        declined(&mut params, state.as_ref(), true);
        return deliver(&redirect_uri, &params, Mode::Query);
    }
    let user = match sign_in_user(&rt.directory, &rt.config, segment) {
        Ok(u) => u,
        Err(e) => return consent_error(&redirect_uri, &e, state),
    };
    grant_admin_consent(&mut rt.directory, user.tenant_id, &app.client_id);
    params.push(("admin_consent", "True".into()));
    params.push(("tenant", user.tenant_id.into()));
    if v2 && let Some(scope) = get("scope") {
        params.push(("scope", scope.clone()));
    }
    if let Some(s) = state {
        params.push(("state", s));
    }
    deliver(&redirect_uri, &params, Mode::Query)
}

// ---- device code ---------------------------------------------------------------------------

const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn user_code() -> String {
    let mut buf = [0u8; 9];
    if getrandom::fill(&mut buf).is_err() {
        buf.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..9]);
    }
    buf.iter()
        .map(|b| USER_CODE_ALPHABET[(*b as usize) % USER_CODE_ALPHABET.len()] as char)
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` and `/{tenant}/oauth2/devicecode`.
pub fn device_code(
    rt: &mut Runtime,
    segment: &str,
    endpoint: Endpoint,
    form: &BTreeMap<String, String>,
    base: &str,
    now: u64,
) -> Result<Value, AadError> {
    let get = |k: &str| form.get(k).filter(|v| !v.is_empty());
    if let TenantRef::Unknown = rt.directory.resolve_tenant(segment) {
        return Err(errors::tenant_not_found(segment));
    }
    let client_id = get("client_id").ok_or_else(|| errors::missing_parameter("client_id"))?;
    let app = rt
        .directory
        .app(client_id)
        .ok_or_else(|| errors::app_not_found(client_id, segment))?;
    let (scopes, resource) = match endpoint {
        Endpoint::V2 => {
            if get("resource").is_some() {
                return Err(errors::resource_on_v2());
            }
            (
                split_scopes(get("scope").ok_or_else(|| errors::missing_parameter("scope"))?),
                None,
            )
        }
        Endpoint::V1 => (Vec::new(), get("resource").cloned()),
    };
    let code = user_code();
    let device = random_token(48);
    let cfg = &rt.config;
    let uri = format!("{base}/devicelogin");
    rt.grants.devices.retain(|_, d| d.expires + 3600 > now);
    rt.grants.devices.insert(
        device.clone(),
        DeviceGrant {
            client_id: app.client_id.clone(),
            user_code: code.clone(),
            endpoint,
            scopes,
            resource,
            expires: now + cfg.device_expires_in,
            status: DeviceStatus::Pending,
        },
    );
    let num = |n: u64| {
        if cfg.device_numbers_as_strings {
            json!(n.to_string())
        } else {
            json!(n)
        }
    };
    let uri_key = if endpoint == Endpoint::V1 {
        "verification_url"
    } else {
        "verification_uri"
    };
    let mut body = Map::new();
    body.insert("user_code".into(), json!(code));
    body.insert("device_code".into(), json!(device));
    body.insert(uri_key.into(), json!(uri));
    body.insert("expires_in".into(), num(cfg.device_expires_in));
    body.insert("interval".into(), num(cfg.device_interval));
    body.insert(
        "message".into(),
        json!(format!(
            "To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate."
        )),
    );
    Ok(Value::Object(body))
}

/// `POST /_emulator/device/approve {"user_code", "decline"?, "user"?}`.
pub fn approve_device(rt: &mut Runtime, body: &Value) -> Result<Value, String> {
    let obj = body.as_object().ok_or("expected a JSON object")?;
    let code = obj
        .get("user_code")
        .and_then(Value::as_str)
        .ok_or("\"user_code\" must be a string")?;
    let decline = match obj.get("decline") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"decline\" must be a boolean".into()),
    };
    let user = match obj.get("user") {
        None | Some(Value::Null) => user_by_upn(&rt.config.signed_in_user).unwrap_or(USERS[0]),
        Some(Value::String(u)) => user_by_upn(u).ok_or_else(|| format!("unknown user {u:?}"))?,
        Some(_) => return Err("\"user\" must be a UPN string".into()),
    };
    let decline = decline || std::mem::take(&mut rt.config.decline_next);
    let wanted: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let grant = rt
        .grants
        .devices
        .values_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(&wanted))
        .ok_or_else(|| format!("no pending device authorization with user_code {code:?}"))?;
    grant.status = if decline {
        DeviceStatus::Declined
    } else {
        DeviceStatus::Approved(user)
    };
    Ok(json!({"ok": true, "status": if decline { "declined" } else { "approved" }, "user": user.upn}))
}

/// The `/devicelogin` page (the verification URI).
pub fn device_login_page() -> WebReply {
    WebReply {
        status: 200,
        headers: Vec::new(),
        content_type: "text/html; charset=utf-8",
        body: "<!DOCTYPE html>\n<html><head><title>Enter code</title></head><body>\n<h1>entra-token emulator: device login</h1>\n<p>This is a test double of Microsoft Entra ID. Approve a code with <code>POST /_emulator/device/approve {\"user_code\":\"...\"}</code>.</p>\n</body></html>\n".into(),
    }
}

// ---- token grants --------------------------------------------------------------------------

/// What the token endpoint passes to the user grants.
pub struct GrantRequest<'a> {
    pub endpoint: Endpoint,
    pub segment: &'a str,
    pub form: &'a BTreeMap<String, String>,
    pub client_id: &'a str,
    /// `appidacr` earned by the client credential ("0" for a public client).
    pub appidacr: &'static str,
    pub origin: &'a str,
    pub now: u64,
}

impl GrantRequest<'_> {
    fn param(&self, k: &str) -> Option<&str> {
        self.form.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// The tenant a user grant is redeemed in must be the user's (or a multi-tenant alias).
fn check_tenant(dir: &Directory, segment: &str, user: &User) -> Result<(), AadError> {
    match dir.resolve_tenant(segment) {
        TenantRef::Tenant(t) if t.id != user.tenant_id => Err(errors::code_wrong_tenant()),
        _ => Ok(()),
    }
}

/// `grant_type=authorization_code`.
pub fn redeem_code(rt: &mut Runtime, signer: &Signer, req: &GrantRequest<'_>) -> Result<Value, AadError> {
    let code = req.param("code").ok_or_else(|| errors::missing_parameter("code"))?;
    let grant = rt
        .grants
        .codes
        .get(code)
        .cloned()
        .ok_or_else(|| errors::invalid_grant("The authorization code is not recognized."))?;
    if !grant.client_id.eq_ignore_ascii_case(req.client_id) {
        return Err(errors::invalid_grant(
            "The authorization code was issued to another client.",
        ));
    }
    if grant.redeemed {
        return Err(errors::code_redeemed());
    }
    if grant.expires <= req.now {
        return Err(errors::grant_expired());
    }
    check_tenant(&rt.directory, req.segment, &grant.user)?;
    let redirect = req.param("redirect_uri").unwrap_or("");
    if norm_uri(redirect) != norm_uri(&grant.redirect_uri) {
        return Err(errors::redirect_uri_mismatch(redirect, req.client_id));
    }
    if let Some((challenge, method)) = &grant.code_challenge {
        let verifier = req.param("code_verifier").unwrap_or("");
        let computed = if method == "S256" {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.to_string()
        };
        if verifier.is_empty() || computed != *challenge {
            return Err(errors::pkce_mismatch());
        }
    }
    let scopes = match (grant.endpoint, req.endpoint, req.param("scope")) {
        (_, Endpoint::V2, Some(s)) => split_scopes(s),
        _ => grant.scopes.clone(),
    };
    let resource = match req.endpoint {
        Endpoint::V1 => req.param("resource").map(str::to_string).or(grant.resource.clone()),
        Endpoint::V2 => None,
    };
    let reply = issue(
        rt,
        signer,
        req,
        &grant.user,
        &scopes,
        resource.as_deref(),
        grant.nonce.as_deref(),
    )?;
    if let Some(c) = rt.grants.codes.get_mut(code) {
        c.redeemed = true;
    }
    Ok(reply)
}

/// `grant_type=refresh_token`: a new access token and a new refresh token; the old one stays
/// valid (Entra does not revoke it).
pub fn refresh(rt: &mut Runtime, signer: &Signer, req: &GrantRequest<'_>) -> Result<Value, AadError> {
    let token = req
        .param("refresh_token")
        .ok_or_else(|| errors::missing_parameter("refresh_token"))?;
    let grant = rt.grants.refresh.get(token).cloned().ok_or_else(|| {
        AadError::new(
            400,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid. The refresh token is not recognized.",
        )
    })?;
    if !grant.client_id.eq_ignore_ascii_case(req.client_id) {
        return Err(errors::invalid_grant("The refresh token was issued to another client."));
    }
    check_tenant(&rt.directory, req.segment, &grant.user)?;
    if rt.config.revoke_refresh_tokens {
        return Err(errors::refresh_token_revoked());
    }
    let scopes = match req.param("scope") {
        Some(s) if req.endpoint == Endpoint::V2 => split_scopes(s),
        _ => grant.scopes.clone(),
    };
    let resource = match req.endpoint {
        Endpoint::V1 => req.param("resource").map(str::to_string).or(grant.resource.clone()),
        Endpoint::V2 => None,
    };
    if rt.config.refresh_interaction_required {
        let res = resource.clone().unwrap_or_else(|| scopes_to_resource(&scopes).0);
        return Err(errors::mfa_required(&res));
    }
    issue(rt, signer, req, &grant.user, &scopes, resource.as_deref(), None)
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
pub fn poll_device(rt: &mut Runtime, signer: &Signer, req: &GrantRequest<'_>) -> Result<Value, AadError> {
    let code = req
        .param("device_code")
        .or_else(|| req.param("code"))
        .ok_or_else(|| errors::missing_parameter("device_code"))?;
    let grant = rt
        .grants
        .devices
        .get(code)
        .cloned()
        .ok_or_else(errors::device_bad_code)?;
    if !grant.client_id.eq_ignore_ascii_case(req.client_id) {
        return Err(errors::device_bad_code());
    }
    if grant.expires <= req.now && !matches!(grant.status, DeviceStatus::Redeemed) {
        return Err(errors::device_expired());
    }
    match grant.status {
        DeviceStatus::Pending => {
            if std::mem::take(&mut rt.config.device_slow_down) {
                Err(errors::device_slow_down())
            } else {
                Err(errors::device_pending())
            }
        }
        DeviceStatus::Declined => Err(errors::device_declined()),
        DeviceStatus::Redeemed => Err(errors::invalid_grant("The device code was already redeemed.")),
        DeviceStatus::Approved(user) => {
            check_tenant(&rt.directory, req.segment, &user)?;
            let reply = issue(rt, signer, req, &user, &grant.scopes, grant.resource.as_deref(), None)?;
            if let Some(d) = rt.grants.devices.get_mut(code) {
                d.status = DeviceStatus::Redeemed;
            }
            Ok(reply)
        }
    }
}

/// Pairwise `sub` for (user, app), like Entra's.
fn pairwise_sub(oid: &str, client_id: &str) -> String {
    let d = Sha256::digest(format!("{oid}|{}", client_id.to_ascii_lowercase()).as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..32])
}

/// Mints the delegated access token (+ ID token, refresh token, client_info) for `user`.
fn issue(
    rt: &mut Runtime,
    signer: &Signer,
    req: &GrantRequest<'_>,
    user: &User,
    scopes: &[String],
    v1_resource: Option<&str>,
    nonce: Option<&str>,
) -> Result<Value, AadError> {
    let tenant: Tenant = rt
        .directory
        .tenants
        .iter()
        .find(|t| t.id == user.tenant_id)
        .cloned()
        .ok_or_else(|| errors::tenant_not_found(user.tenant_id))?;
    let (resource, perms) = match req.endpoint {
        Endpoint::V1 => {
            let r = v1_resource.unwrap_or(fx::GRAPH_RESOURCE).to_string();
            let p = default_permissions(&r);
            (r, p)
        }
        Endpoint::V2 => scopes_to_resource(scopes),
    };
    let found = rt
        .directory
        .resource_in_tenant(&resource, &tenant.id)
        .ok_or_else(|| errors::resource_not_found(&resource, &tenant.display_name))?;
    let aud = if resource.contains("://") {
        resource.clone()
    } else {
        found.id.clone()
    };
    let cfg = &rt.config;
    let now = req.now;
    let iat = now.saturating_sub(300);
    let iss = format!("https://sts.windows.net/{}/", tenant.id);
    let at = json!({
        "aud": aud, "iss": iss, "iat": iat, "nbf": iat, "exp": now + cfg.token_lifetime,
        "acr": "1", "amr": ["pwd", "mfa"], "appid": req.client_id, "appidacr": req.appidacr,
        "family_name": "Admin", "given_name": user.name.split(' ').next().unwrap_or(""),
        "idtyp": "user", "ipaddr": "127.0.0.1", "name": user.name, "oid": user.oid,
        "scp": perms.join(" "), "sub": pairwise_sub(user.oid, req.client_id), "tid": tenant.id,
        "unique_name": user.upn, "upn": user.upn, "uti": URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        "ver": "1.0",
    });
    let access_token = signer.sign(&at)?;
    let wants = |s: &str| scopes.iter().any(|x| x.eq_ignore_ascii_case(s));
    let v1 = req.endpoint == Endpoint::V1;
    let id_token = if v1 || wants("openid") {
        let mut c = json!({
            "aud": req.client_id, "iat": iat, "nbf": iat, "exp": now + 3600,
            "name": user.name, "oid": user.oid, "preferred_username": user.upn,
            "sub": pairwise_sub(user.oid, req.client_id), "tid": tenant.id,
            "uti": URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        });
        if v1 {
            c["iss"] = json!(iss);
            c["upn"] = json!(user.upn);
            c["unique_name"] = json!(user.upn);
            c["ver"] = json!("1.0");
        } else {
            c["iss"] = json!(format!("{}/{}/v2.0", req.origin, tenant.id));
            c["ver"] = json!("2.0");
        }
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        Some(signer.sign(&c)?)
    } else {
        None
    };
    let refresh_token = if v1 || wants("offline_access") {
        let rt_value = format!("1.{}", random_token(96));
        rt.grants.refresh.insert(
            rt_value.clone(),
            RefreshGrant {
                client_id: req.client_id.to_string(),
                user: *user,
                scopes: scopes.to_vec(),
                resource: v1_resource.map(str::to_string),
            },
        );
        Some(rt_value)
    } else {
        None
    };
    let life = rt.config.token_lifetime;
    let mut body = Map::new();
    body.insert("token_type".into(), json!("Bearer"));
    if v1 {
        body.insert("scope".into(), json!(perms.join(" ")));
        body.insert("expires_in".into(), json!(life.to_string()));
        body.insert("ext_expires_in".into(), json!(life.to_string()));
        body.insert("expires_on".into(), json!((now + life).to_string()));
        body.insert("not_before".into(), json!(iat.to_string()));
        body.insert("resource".into(), json!(aud));
    } else {
        let granted: Vec<String> = perms
            .iter()
            .map(|p| {
                if resource.eq_ignore_ascii_case(fx::GRAPH_RESOURCE) {
                    p.clone()
                } else {
                    format!("{resource}/{p}")
                }
            })
            .chain(OIDC_SCOPES.iter().filter(|o| wants(o)).map(|o| o.to_string()))
            .collect();
        body.insert("scope".into(), json!(granted.join(" ")));
        body.insert("expires_in".into(), json!(life));
        body.insert("ext_expires_in".into(), json!(life));
    }
    body.insert("access_token".into(), json!(access_token));
    if let Some(r) = refresh_token {
        body.insert("refresh_token".into(), json!(r));
    }
    if let Some(i) = id_token {
        body.insert("id_token".into(), json!(i));
    }
    if req.param("client_info") == Some("1") {
        let ci = json!({"uid": user.oid, "utid": tenant.id}).to_string();
        body.insert("client_info".into(), json!(URL_SAFE_NO_PAD.encode(ci)));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        Directory::fixture("http://127.0.0.1:1")
            .app(fx::CLIENT_ID)
            .unwrap()
            .clone()
    }

    #[test]
    fn redirect_uri_rules() {
        let a = app();
        assert!(redirect_allowed(&a, "http://localhost"));
        assert!(redirect_allowed(&a, "http://localhost:8400"));
        assert!(redirect_allowed(&a, "http://localhost:8400/"));
        assert!(redirect_allowed(&a, "http://127.0.0.1:1234/"));
        assert!(redirect_allowed(&a, "https://app.contoso.com/callback"));
        assert!(!redirect_allowed(&a, "https://app.contoso.com/Callback"));
        assert!(!redirect_allowed(&a, "https://app.contoso.com:444/callback"));
        assert!(!redirect_allowed(&a, "http://localhost:8400/other"));
        assert!(!redirect_allowed(&a, "https://localhost:8400/"));
        assert!(!redirect_allowed(&a, "http://[::1]:8400/"));
        assert!(!redirect_allowed(&a, "http://evil.example/"));
    }

    #[test]
    fn scopes_map_to_one_resource() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            scopes_to_resource(&s(&["openid", "User.Read", "offline_access"])),
            (fx::GRAPH_RESOURCE.to_string(), s(&["User.Read"]))
        );
        assert_eq!(
            scopes_to_resource(&s(&[
                "https://graph.microsoft.com/User.Read.All",
                "https://manage.office.com/ActivityFeed.Read"
            ])),
            (fx::GRAPH_RESOURCE.to_string(), s(&["User.Read.All"]))
        );
        assert_eq!(
            scopes_to_resource(&s(&["https://manage.office.com/.default"])),
            (fx::MANAGE_OFFICE_RESOURCE.to_string(), s(&["ActivityFeed.Read"]))
        );
        assert_eq!(scopes_to_resource(&s(&["openid"])).1, s(&["User.Read"]));
    }

    #[test]
    fn redirects_carry_parameters() {
        let r = deliver(
            "http://localhost:8400/cb?x=1",
            &[("code", "a b".into()), ("state", "s".into())],
            Mode::Query,
        );
        assert_eq!(r.status, 302);
        assert_eq!(r.headers[0].1, "http://localhost:8400/cb?x=1&code=a+b&state=s");
        let f = deliver("http://localhost:1/", &[("code", "<x>".into())], Mode::FormPost);
        assert_eq!(f.status, 200);
        assert!(f.body.contains("value=\"&lt;x&gt;\""));
        let g = deliver("http://localhost:1/", &[("code", "c".into())], Mode::Fragment);
        assert_eq!(g.headers[0].1, "http://localhost:1/#code=c");
    }
}
