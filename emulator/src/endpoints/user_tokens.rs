//! The token endpoint's user grants (`authorization_code`, `refresh_token`) and the delegated
//! tokens they mint: access token, ID token, rotating refresh token and `client_info`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::aadsts::{self, AadError};
use crate::directory::{Directory, Tenant, TenantRef};
use crate::endpoints::random_token;
use crate::endpoints::scopes::{OIDC_SCOPES, default_permissions, scopes_to_resource, split_scopes};
use crate::fixtures::{self as fx, User};
use crate::signer::Signer;
use crate::state::{Endpoint, MutableState, RefreshGrant};

/// What the token endpoint passes to the user grants.
pub(crate) struct GrantRequest<'a> {
    pub(crate) endpoint: Endpoint,
    pub(crate) segment: &'a str,
    pub(crate) form: &'a BTreeMap<String, String>,
    pub(crate) client_id: &'a str,
    /// `appidacr` earned by the client credential ("0" for a public client).
    pub(crate) appidacr: &'static str,
    pub(crate) origin: &'a str,
    pub(crate) now: u64,
}

impl GrantRequest<'_> {
    pub(crate) fn param(&self, k: &str) -> Option<&str> {
        self.form.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// The tenant a user grant is redeemed in must be the user's (or a multi-tenant alias).
pub(crate) fn check_tenant(dir: &Directory, segment: &str, user: &User) -> Result<(), AadError> {
    match dir.resolve_tenant(segment) {
        TenantRef::Tenant(t) if t.id != user.tenant_id => Err(aadsts::code_wrong_tenant()),
        _ => Ok(()),
    }
}

/// `grant_type=authorization_code`.
pub(crate) fn redeem_code(
    mutable: &mut MutableState,
    signer: &Signer,
    req: &GrantRequest<'_>,
) -> Result<Value, AadError> {
    let code = req.param("code").ok_or_else(|| aadsts::missing_parameter("code"))?;
    let grant = mutable
        .grants
        .codes
        .get(code)
        .cloned()
        .ok_or_else(|| aadsts::invalid_grant("The authorization code is not recognized."))?;
    if !grant.client_id.eq_ignore_ascii_case(req.client_id) {
        return Err(aadsts::invalid_grant(
            "The authorization code was issued to another client.",
        ));
    }
    if grant.redeemed {
        return Err(aadsts::code_redeemed());
    }
    if grant.expires <= req.now {
        return Err(aadsts::grant_expired());
    }
    check_tenant(&mutable.directory, req.segment, &grant.user)?;
    let redirect = req.param("redirect_uri").unwrap_or("");
    if norm_uri(redirect) != norm_uri(&grant.redirect_uri) {
        return Err(aadsts::redirect_uri_mismatch(redirect, req.client_id));
    }
    if let Some((challenge, method)) = &grant.code_challenge {
        let verifier = req.param("code_verifier").unwrap_or("");
        let computed = if method == "S256" {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.to_string()
        };
        if verifier.is_empty() || computed != *challenge {
            return Err(aadsts::pkce_mismatch());
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
        mutable,
        signer,
        req,
        &grant.user,
        &scopes,
        resource.as_deref(),
        grant.nonce.as_deref(),
    )?;
    if let Some(c) = mutable.grants.codes.get_mut(code) {
        c.redeemed = true;
    }
    Ok(reply)
}

/// `grant_type=refresh_token`: a new access token and a new refresh token; the old one stays
/// valid (Entra does not revoke it).
pub(crate) fn refresh(mutable: &mut MutableState, signer: &Signer, req: &GrantRequest<'_>) -> Result<Value, AadError> {
    let token = req
        .param("refresh_token")
        .ok_or_else(|| aadsts::missing_parameter("refresh_token"))?;
    let grant = mutable.grants.refresh.get(token).cloned().ok_or_else(|| {
        AadError::new(
            400,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid. The refresh token is not recognized.",
        )
    })?;
    if !grant.client_id.eq_ignore_ascii_case(req.client_id) {
        return Err(aadsts::invalid_grant("The refresh token was issued to another client."));
    }
    check_tenant(&mutable.directory, req.segment, &grant.user)?;
    if mutable.config.revoke_refresh_tokens {
        return Err(aadsts::refresh_token_revoked());
    }
    let scopes = match req.param("scope") {
        Some(s) if req.endpoint == Endpoint::V2 => split_scopes(s),
        _ => grant.scopes.clone(),
    };
    let resource = match req.endpoint {
        Endpoint::V1 => req.param("resource").map(str::to_string).or(grant.resource.clone()),
        Endpoint::V2 => None,
    };
    if mutable.config.refresh_interaction_required {
        let res = resource.clone().unwrap_or_else(|| scopes_to_resource(&scopes).0);
        return Err(aadsts::mfa_required(&res));
    }
    issue(mutable, signer, req, &grant.user, &scopes, resource.as_deref(), None)
}

/// Normalizes a URI for comparing the /token `redirect_uri` with /authorize's.
fn norm_uri(s: &str) -> String {
    url::Url::parse(s).map_or_else(|_| s.to_string(), |u| u.to_string())
}

/// Pairwise `sub` for (user, app), like Entra's.
fn pairwise_sub(oid: &str, client_id: &str) -> String {
    let d = Sha256::digest(format!("{oid}|{}", client_id.to_ascii_lowercase()).as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..32])
}

/// Mints the delegated access token (+ ID token, refresh token, client_info) for `user`.
pub(crate) fn issue(
    mutable: &mut MutableState,
    signer: &Signer,
    req: &GrantRequest<'_>,
    user: &User,
    scopes: &[String],
    v1_resource: Option<&str>,
    nonce: Option<&str>,
) -> Result<Value, AadError> {
    let tenant: Tenant = mutable
        .directory
        .tenants
        .iter()
        .find(|t| t.id == user.tenant_id)
        .cloned()
        .ok_or_else(|| aadsts::tenant_not_found(user.tenant_id))?;
    let (resource, perms) = match req.endpoint {
        Endpoint::V1 => {
            let r = v1_resource.unwrap_or(fx::GRAPH_RESOURCE).to_string();
            let p = default_permissions(&r);
            (r, p)
        }
        Endpoint::V2 => scopes_to_resource(scopes),
    };
    let found = mutable
        .directory
        .resource_in_tenant(&resource, &tenant.id)
        .ok_or_else(|| aadsts::resource_not_found(&resource, &tenant.display_name))?;
    let aud = if resource.contains("://") {
        resource.clone()
    } else {
        found.id.clone()
    };
    let cfg = &mutable.config;
    let now = req.now;
    let iat = now.saturating_sub(300);
    let iss = format!("https://sts.windows.net/{}/", tenant.id);
    let mut at = json!({
        "aud": aud, "iss": iss, "iat": iat, "nbf": iat, "exp": now + cfg.token_lifetime,
        "acr": "1", "amr": ["pwd", "mfa"], "appid": req.client_id, "appidacr": req.appidacr,
        "family_name": "Admin", "given_name": user.name.split(' ').next().unwrap_or(""),
        "idtyp": "user", "ipaddr": "127.0.0.1", "name": user.name, "oid": user.oid,
        "scp": perms.join(" "), "sub": pairwise_sub(user.oid, req.client_id), "tid": tenant.id,
        "unique_name": user.upn, "upn": user.upn, "uti": URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        "ver": "1.0",
    });
    if cfg.minimal_id_token
        && let Some(claims) = at.as_object_mut()
    {
        for name in ["upn", "unique_name", "name", "given_name", "family_name"] {
            claims.remove(name);
        }
    }
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
        if cfg.minimal_id_token {
            let keep = ["iss", "sub", "aud", "exp", "iat", "nbf", "nonce"];
            if let Some(claims) = c.as_object_mut() {
                claims.retain(|k, _| keep.contains(&k.as_str()));
            }
        }
        Some(signer.sign(&c)?)
    } else {
        None
    };
    let refresh_token = if v1 || wants("offline_access") {
        let value = format!("1.{}", random_token(96));
        mutable.grants.refresh.insert(
            value.clone(),
            RefreshGrant {
                client_id: req.client_id.to_string(),
                user: *user,
                scopes: scopes.to_vec(),
                resource: v1_resource.map(str::to_string),
            },
        );
        Some(value)
    } else {
        None
    };
    let life = mutable.config.token_lifetime;
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
