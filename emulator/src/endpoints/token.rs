//! The token endpoints' logic (`/{tenant}/oauth2/token` and `/{tenant}/oauth2/v2.0/token`):
//! request validation in roughly Entra's order, client authentication, grant dispatch, and
//! minting of RS256 access tokens. Pure apart from the clock and randomness: no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::aadsts::{self, AadError};
use crate::directory::{App, Consent, Directory, Resource, Tenant, TenantRef};
use crate::endpoints::assertion::{self, AssertionContext};
use crate::endpoints::device;
use crate::endpoints::user_tokens::{self, GrantRequest};
use crate::fixtures as fx;
use crate::signer::Signer;
use crate::state::{Config, Endpoint, MutableState};

/// A parsed token request.
#[derive(Debug)]
pub(crate) struct TokenRequest<'a> {
    pub(crate) endpoint: Endpoint,
    /// The raw `{tenant}` path segment.
    pub(crate) tenant: &'a str,
    /// The form body (first value of each name wins).
    pub(crate) form: &'a BTreeMap<String, String>,
    /// The `Authorization` header, if any (for `client_secret_basic`).
    pub(crate) authorization: Option<&'a str>,
    /// `scheme://host[:port]` the client addressed (from the `Host` header), for assertion `aud`.
    pub(crate) origin: &'a str,
}

impl TokenRequest<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.form.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// The client credential a request carries.
#[derive(Debug, PartialEq, Eq)]
enum ClientAuth {
    None,
    Secret(String),
    /// A `jwt-bearer` client assertion (certificate-signed or federated).
    Assertion(String),
}

/// `client_assertion_type` for JWT client assertions.
pub(crate) const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Handles one token request; `Ok` is the JSON success body, `Err` the Entra error.
pub(crate) fn handle(
    mutable: &mut MutableState,
    signer: &Signer,
    base_url: &str,
    req: &TokenRequest<'_>,
    now: u64,
) -> std::result::Result<Value, AadError> {
    let dir = &mutable.directory;
    let tenant = match dir.resolve_tenant(req.tenant) {
        TenantRef::Unknown => return Err(aadsts::tenant_not_found(req.tenant)),
        t => t,
    };
    let grant = req.param("grant_type").unwrap_or("");
    match grant {
        "client_credentials" => {
            let TenantRef::Tenant(tenant) = tenant else {
                return Err(aadsts::grant_needs_tenant());
            };
            let ctx = AssertionContext {
                origin: req.origin,
                tenant,
                now,
                base_url,
                signer,
            };
            client_credentials(dir, &mut mutable.seen_jti, signer, &mutable.config, req, &ctx)
        }
        "authorization_code" | "refresh_token" | DEVICE_CODE_GRANT => {
            let home = match tenant {
                TenantRef::Tenant(t) => t.clone(),
                _ => dir.tenants[0].clone(),
            };
            let (client_id, auth) = client_auth(req)?;
            let app = dir
                .app(&client_id)
                .cloned()
                .ok_or_else(|| aadsts::app_not_found(&client_id, &home.display_name))?;
            let ctx = AssertionContext {
                origin: req.origin,
                tenant: &home,
                now,
                base_url,
                signer,
            };
            let appidacr = if app.public_client {
                if auth != ClientAuth::None {
                    return Err(aadsts::public_client_with_credential());
                }
                "0"
            } else {
                authenticate(&app, &auth, &ctx, &mut mutable.seen_jti)?
            };
            let greq = GrantRequest {
                endpoint: req.endpoint,
                segment: req.tenant,
                form: req.form,
                client_id: &app.client_id,
                appidacr,
                origin: req.origin,
                now,
            };
            match grant {
                "authorization_code" => user_tokens::redeem_code(mutable, signer, &greq),
                "refresh_token" => user_tokens::refresh(mutable, signer, &greq),
                _ => device::poll_device(mutable, signer, &greq),
            }
        }
        other => Err(aadsts::unsupported_grant_type(other)),
    }
}

/// The device-code grant type.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn client_credentials(
    dir: &Directory,
    seen_jti: &mut HashMap<String, u64>,
    signer: &Signer,
    config: &Config,
    req: &TokenRequest<'_>,
    ctx: &AssertionContext<'_>,
) -> std::result::Result<Value, AadError> {
    let (tenant, now) = (ctx.tenant, ctx.now);
    let requested = requested_resource(req)?;
    let (client_id, auth) = client_auth(req)?;
    let (app, consent) = find_app(dir, tenant, &client_id)?;
    let appidacr = authenticate(app, &auth, ctx, seen_jti)?;
    let resource = dir
        .resource_in_tenant(&requested, &tenant.id)
        .ok_or_else(|| aadsts::resource_not_found(&requested, &tenant.display_name))?;
    let roles = consent.roles.get(&resource.id).cloned().unwrap_or_default();
    let aud = audience(&requested, resource);
    let token = mint(signer, config, tenant, app, consent, &aud, &roles, appidacr, now)?;
    Ok(success(req.endpoint, config, &aud, token, now))
}

/// The resource named by the request: `resource` on v1, the single `{resource}/.default`
/// scope on v2 (client credentials rules).
fn requested_resource(req: &TokenRequest<'_>) -> std::result::Result<String, AadError> {
    match req.endpoint {
        Endpoint::V1 => req
            .param("resource")
            .map(str::to_string)
            .ok_or_else(|| aadsts::missing_parameter("resource")),
        Endpoint::V2 => {
            if req.param("resource").is_some() {
                return Err(aadsts::resource_on_v2());
            }
            let scope = req.param("scope").ok_or_else(|| aadsts::missing_parameter("scope"))?;
            let mut resources: Vec<&str> = Vec::new();
            for s in scope.split_whitespace() {
                let Some(res) = s.strip_suffix("/.default").filter(|r| !r.is_empty()) else {
                    return Err(aadsts::scope_needs_default(scope));
                };
                resources.push(res);
            }
            let distinct: BTreeSet<String> = resources
                .iter()
                .map(|r| r.trim_end_matches('/').to_ascii_lowercase())
                .collect();
            match (resources.first(), distinct.len()) {
                (Some(first), 1) => Ok((*first).to_string()),
                (None, _) => Err(aadsts::missing_parameter("scope")),
                _ => Err(aadsts::scope_multiple_resources(scope)),
            }
        }
    }
}

/// The `aud` claim: the identifier as requested when it names the resource by URI, else the
/// resource's canonical identifier.
fn audience(requested: &str, resource: &Resource) -> String {
    if requested.contains("://") {
        requested.to_string()
    } else {
        resource.id.clone()
    }
}

/// Client id and credential from the body (`client_secret_post`) or `Authorization: Basic`
/// (`client_secret_basic`, parts form-url-decoded as RFC 6749 §2.3.1 says).
fn client_auth(req: &TokenRequest<'_>) -> std::result::Result<(String, ClientAuth), AadError> {
    let basic = req.authorization.and_then(parse_basic);
    let client_id = req
        .param("client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()).filter(|id| !id.is_empty()))
        .ok_or_else(|| aadsts::missing_parameter("client_id"))?;
    let assertion = req.param("client_assertion");
    let assertion_type = req.param("client_assertion_type");
    if let Some(t) = assertion_type.filter(|t| *t != JWT_BEARER_ASSERTION) {
        return Err(aadsts::malformed_request(&format!(
            "client_assertion_type '{t}' is not supported; use '{JWT_BEARER_ASSERTION}'."
        )));
    }
    let auth = if let Some(a) = assertion {
        if assertion_type.is_none() {
            return Err(aadsts::missing_parameter("client_assertion_type"));
        }
        if req.param("client_secret").is_some() {
            return Err(aadsts::malformed_request(
                "Send either client_secret or client_assertion, not both.",
            ));
        }
        ClientAuth::Assertion(a.to_string())
    } else if let Some(secret) = req.param("client_secret") {
        ClientAuth::Secret(secret.to_string())
    } else if let Some((_, secret)) = basic.filter(|(_, s)| !s.is_empty()) {
        ClientAuth::Secret(secret)
    } else {
        ClientAuth::None
    };
    Ok((client_id, auth))
}

/// Parses `Basic base64(urlencode(id):urlencode(secret))`; `None` if it is not that.
pub(crate) fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| -> String { form_decode(s) };
    Some((dec(id), dec(secret)))
}

/// `application/x-www-form-urlencoded` decoding of one component (`+` is a space).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn find_app<'d>(
    dir: &'d Directory,
    tenant: &Tenant,
    client_id: &str,
) -> std::result::Result<(&'d App, &'d Consent), AadError> {
    let not_found = || aadsts::app_not_found(client_id, &tenant.display_name);
    let app = dir.app(client_id).ok_or_else(not_found)?;
    let consent = dir.consent(&tenant.id, &app.client_id).ok_or_else(not_found)?;
    Ok((app, consent))
}

/// Checks the client credential; returns the `appidacr` of tokens it earns ("1" secret, "2"
/// certificate or federated assertion).
fn authenticate(
    app: &App,
    auth: &ClientAuth,
    ctx: &AssertionContext<'_>,
    seen_jti: &mut HashMap<String, u64>,
) -> std::result::Result<&'static str, AadError> {
    match auth {
        ClientAuth::None => Err(aadsts::missing_client_credential()),
        ClientAuth::Assertion(jwt) => assertion::validate(app, jwt, ctx, seen_jti).map(|_| "2"),
        ClientAuth::Secret(given) => {
            let matched = app.secrets.iter().find(|s| s.value == *given).map(|s| s.expired);
            match matched {
                Some(false) => Ok("1"),
                Some(true) => Err(aadsts::expired_client_secret(&app.client_id)),
                None => Err(aadsts::invalid_client_secret(&app.client_id)),
            }
        }
    }
}

/// Mints a v1-format app-only access token (what Entra issues for Graph and friends).
#[allow(clippy::too_many_arguments)]
fn mint(
    signer: &Signer,
    config: &Config,
    tenant: &Tenant,
    app: &App,
    consent: &Consent,
    aud: &str,
    roles: &[String],
    appidacr: &str,
    now: u64,
) -> std::result::Result<String, AadError> {
    let iat = now.saturating_sub(300);
    let iss = format!("https://sts.windows.net/{}/", tenant.id);
    let mut c = Map::new();
    c.insert("aud".into(), json!(aud));
    c.insert("iss".into(), json!(iss));
    c.insert("iat".into(), json!(iat));
    c.insert("nbf".into(), json!(iat));
    c.insert("exp".into(), json!(now + config.token_lifetime));
    c.insert("appid".into(), json!(app.client_id));
    c.insert("appidacr".into(), json!(appidacr));
    c.insert("idp".into(), json!(iss));
    c.insert("idtyp".into(), json!("app"));
    c.insert("oid".into(), json!(consent.object_id));
    if !roles.is_empty() {
        c.insert("roles".into(), json!(roles));
    }
    c.insert("sub".into(), json!(consent.object_id));
    c.insert("tid".into(), json!(tenant.id));
    c.insert("uti".into(), json!(random_uti()));
    c.insert("ver".into(), json!("1.0"));
    if config.token_padding > 0 {
        c.insert("xms_pad".into(), json!("p".repeat(config.token_padding)));
    }
    signer.sign(&Value::Object(c))
}

/// A random base64url token id, like Entra's `uti` (22 chars).
fn random_uti() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// The success body: integers on v2, strings (plus `expires_on`/`not_before`/`resource`) on v1.
fn success(endpoint: Endpoint, config: &Config, aud: &str, token: String, now: u64) -> Value {
    let life = config.token_lifetime;
    match endpoint {
        Endpoint::V2 => {
            let mut body = json!({
                "token_type": "Bearer",
                "expires_in": life,
                "ext_expires_in": life,
                "access_token": token,
            });
            if let Some(refresh_in) = config.refresh_in {
                body["refresh_in"] = json!(refresh_in.min(life));
            }
            body
        }
        Endpoint::V1 => json!({
            "token_type": "Bearer",
            "expires_in": life.to_string(),
            "ext_expires_in": life.to_string(),
            "expires_on": (now + life).to_string(),
            "not_before": now.saturating_sub(300).to_string(),
            "resource": aud,
            "access_token": token,
        }),
    }
}

/// A successful-looking v2 client-credentials reply for the home tenant and Graph, used by
/// faults that need a real-looking body.
pub(crate) fn sample_reply(mutable: &mut MutableState, signer: &Signer, base_url: &str, now: u64) -> Value {
    let form: BTreeMap<String, String> = [
        ("grant_type", "client_credentials"),
        ("client_id", fx::CLIENT_ID),
        ("client_secret", fx::CLIENT_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let req = TokenRequest {
        endpoint: Endpoint::V2,
        tenant: fx::TENANT_ID,
        form: &form,
        authorization: None,
        origin: base_url,
    };
    handle(mutable, signer, base_url, &req, now).unwrap_or_else(|e| e.body("-", "-", now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    const BASE: &str = "http://127.0.0.1:8400";

    fn signer() -> &'static Signer {
        static S: OnceLock<Signer> = OnceLock::new();
        S.get_or_init(|| Signer::generate().expect("signer"))
    }

    fn cfg() -> Config {
        Config {
            token_lifetime: 3599,
            ..Config::default()
        }
    }

    fn call(
        endpoint: Endpoint,
        tenant: &str,
        pairs: &[(&str, &str)],
        auth: Option<&str>,
    ) -> std::result::Result<Value, AadError> {
        let form: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let req = TokenRequest {
            endpoint,
            tenant,
            form: &form,
            authorization: auth,
            origin: BASE,
        };
        handle(&mut MutableState::new(cfg(), BASE), signer(), BASE, &req, 1_700_000_000)
    }

    fn code(r: std::result::Result<Value, AadError>) -> (u16, u32) {
        let e = r.expect_err("expected an error");
        (e.status, e.code)
    }

    const CC: (&str, &str) = ("grant_type", "client_credentials");
    const ID: (&str, &str) = ("client_id", fx::CLIENT_ID);
    const SECRET: (&str, &str) = ("client_secret", fx::CLIENT_SECRET);
    const GRAPH: (&str, &str) = ("scope", "https://graph.microsoft.com/.default");

    fn claims(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn v2_success() {
        let v = call(Endpoint::V2, fx::TENANT_DOMAIN, &[CC, ID, SECRET, GRAPH], None).unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3599);
        assert_eq!(v["ext_expires_in"], 3599);
        let c = claims(v["access_token"].as_str().unwrap());
        assert_eq!(c["aud"], "https://graph.microsoft.com");
        assert_eq!(c["tid"], fx::TENANT_ID);
        assert_eq!(c["iss"], format!("https://sts.windows.net/{}/", fx::TENANT_ID));
        assert_eq!(c["appidacr"], "1");
        assert_eq!(c["roles"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn v1_success_strings() {
        let v = call(
            Endpoint::V1,
            fx::TENANT_ID,
            &[CC, ID, SECRET, ("resource", "https://manage.office.com")],
            None,
        )
        .unwrap();
        assert_eq!(v["expires_in"], "3599");
        assert_eq!(v["expires_on"], "1700003599");
        assert_eq!(v["resource"], "https://manage.office.com");
        let c = claims(v["access_token"].as_str().unwrap());
        assert_eq!(c["roles"], json!(["ActivityFeed.Read"]));
    }

    #[test]
    fn double_slash_scope() {
        let scope = ("scope", "https://management.core.windows.net//.default");
        let v = call(Endpoint::V2, fx::TENANT_ID, &[CC, ID, SECRET, scope], None).unwrap();
        let c = claims(v["access_token"].as_str().unwrap());
        assert_eq!(c["aud"], "https://management.core.windows.net/");
        assert!(c.get("roles").is_none());
    }

    #[test]
    fn basic_auth() {
        let creds = format!(
            "{}:{}",
            fx::CLIENT_ID,
            url::form_urlencoded::byte_serialize(fx::CLIENT_SECRET.as_bytes()).collect::<String>()
        );
        let h = format!("Basic {}", STANDARD.encode(creds));
        assert!(call(Endpoint::V2, fx::TENANT_ID, &[CC, GRAPH], Some(&h)).is_ok());
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn errors_in_order() {
        let t = fx::TENANT_ID;
        assert_eq!(
            code(call(Endpoint::V2, "nope.example", &[CC, ID, SECRET, GRAPH], None)),
            (400, 90002)
        );
        assert_eq!(
            code(call(Endpoint::V2, "common", &[CC, ID, SECRET, GRAPH], None)),
            (400, 9001023)
        );
        assert_eq!(
            code(call(Endpoint::V2, "organizations", &[CC, ID, SECRET, GRAPH], None)),
            (400, 9001023)
        );
        assert_eq!(code(call(Endpoint::V2, t, &[ID, SECRET, GRAPH], None)), (400, 70003));
        assert_eq!(
            code(call(Endpoint::V2, t, &[("grant_type", "password"), ID], None)),
            (400, 70003)
        );
        let res = ("resource", "https://graph.microsoft.com");
        assert_eq!(
            code(call(Endpoint::V2, t, &[CC, ID, SECRET, GRAPH, res], None)),
            (400, 901002)
        );
        let bad = ("scope", "https://graph.microsoft.com/User.Read.All");
        assert_eq!(
            code(call(Endpoint::V2, t, &[CC, ID, SECRET, bad], None)),
            (400, 1002012)
        );
        let two = (
            "scope",
            "https://graph.microsoft.com/.default https://vault.azure.net/.default",
        );
        assert_eq!(code(call(Endpoint::V2, t, &[CC, ID, SECRET, two], None)), (400, 700022));
        assert_eq!(code(call(Endpoint::V2, t, &[CC, ID, SECRET], None)), (400, 900144));
        assert_eq!(
            code(call(Endpoint::V1, t, &[CC, ID, SECRET, GRAPH], None)),
            (400, 900144)
        );
        let other = ("client_id", "11111111-2222-4333-8444-555555555555");
        assert_eq!(
            code(call(Endpoint::V2, t, &[CC, other, SECRET, GRAPH], None)),
            (400, 700016)
        );
        assert_eq!(
            code(call(Endpoint::V2, fx::OTHER_TENANT_ID, &[CC, ID, SECRET, GRAPH], None)),
            (400, 700016)
        );
        assert_eq!(code(call(Endpoint::V2, t, &[CC, ID, GRAPH], None)), (401, 7000218));
        let sid = ("client_secret", fx::CLIENT_SECRET_ID);
        assert_eq!(code(call(Endpoint::V2, t, &[CC, ID, sid, GRAPH], None)), (401, 7000215));
        let exp = ("client_secret", fx::EXPIRED_CLIENT_SECRET);
        assert_eq!(code(call(Endpoint::V2, t, &[CC, ID, exp, GRAPH], None)), (401, 7000222));
        let unk = ("scope", "https://example.com/.default");
        assert_eq!(code(call(Endpoint::V2, t, &[CC, ID, SECRET, unk], None)), (400, 500011));
    }

    #[test]
    fn padding_and_unique_tokens() {
        let mut config = cfg();
        config.token_padding = 12_000;
        let form: BTreeMap<String, String> = [CC, ID, SECRET, GRAPH]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = TokenRequest {
            endpoint: Endpoint::V2,
            tenant: fx::TENANT_ID,
            form: &form,
            authorization: None,
            origin: BASE,
        };
        let mut mutable = MutableState::new(config, BASE);
        let a = handle(&mut mutable, signer(), BASE, &req, 1).unwrap();
        let b = handle(&mut mutable, signer(), BASE, &req, 1).unwrap();
        assert!(a["access_token"].as_str().unwrap().len() > 12_000);
        assert_ne!(a["access_token"], b["access_token"]);
    }

    #[test]
    fn refresh_in_only_when_configured() {
        let form: BTreeMap<String, String> = [CC, ID, SECRET, GRAPH]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = TokenRequest {
            endpoint: Endpoint::V2,
            tenant: fx::TENANT_ID,
            form: &form,
            authorization: None,
            origin: BASE,
        };
        let reply = |refresh_in: Option<u64>| {
            let config = Config { refresh_in, ..cfg() };
            handle(&mut MutableState::new(config, BASE), signer(), BASE, &req, 1).unwrap()
        };
        assert!(reply(None).get("refresh_in").is_none());
        assert_eq!(reply(Some(0))["refresh_in"], 0, "0: refresh at once");
        assert_eq!(reply(Some(1800))["refresh_in"], 1800);
        assert_eq!(reply(Some(999_999))["refresh_in"], 3599, "at most the lifetime");
    }
}
