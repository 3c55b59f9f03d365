//! `GET /{tenant}/oauth2/v2.0/authorize` and `/{tenant}/oauth2/authorize`: the checks Entra makes
//! before any redirect (tenant, app, registered redirect URI), the request's own checks, and the
//! authorization code the configured user "signs in" for. Nobody types a password.

use std::collections::BTreeMap;

use crate::aadsts::{self, AadError};
use crate::directory::{App, Directory, TenantRef};
use crate::endpoints::random_token;
use crate::endpoints::scopes::split_scopes;
use crate::endpoints::web::{Mode, WebReply, declined, deliver, error_page, error_redirect, query_map};
use crate::fixtures::{USERS, User, user_by_upn};
use crate::state::{AuthCode, Config, Endpoint, MutableState};

/// Resolves who signs in for a request to `segment`: the configured user, who must belong to
/// the tenant when the segment names one.
pub(crate) fn sign_in_user(dir: &Directory, config: &Config, segment: &str) -> Result<User, AadError> {
    let user = user_by_upn(&config.signed_in_user).unwrap_or(USERS[0]);
    match dir.resolve_tenant(segment) {
        TenantRef::Unknown => Err(aadsts::tenant_not_found(segment)),
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

/// What /authorize and /adminconsent check before anything else, as Entra does: the tenant, the
/// app, and a registered redirect URI (a mismatch is an error page, never a redirect).
pub(crate) fn check_redirect_request(
    mutable: &MutableState,
    segment: &str,
    q: &BTreeMap<String, String>,
) -> Result<(App, String, Option<String>), WebReply> {
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
    if let TenantRef::Unknown = mutable.directory.resolve_tenant(segment) {
        return Err(error_page(&aadsts::tenant_not_found(segment)));
    }
    let Some(client_id) = get("client_id") else {
        return Err(error_page(&aadsts::missing_parameter("client_id")));
    };
    let Some(app) = mutable.directory.app(client_id).cloned() else {
        return Err(error_page(&aadsts::app_not_found(client_id, segment)));
    };
    let Some(redirect_uri) = get("redirect_uri").cloned() else {
        return Err(error_page(&aadsts::missing_parameter("redirect_uri")));
    };
    if !redirect_allowed(&app, &redirect_uri) {
        return Err(error_page(&aadsts::redirect_uri_mismatch(
            &redirect_uri,
            &app.client_id,
        )));
    }
    Ok((app, redirect_uri, get("state").cloned()))
}

/// `GET /{tenant}/oauth2/v2.0/authorize` and `/{tenant}/oauth2/authorize`.
pub(crate) fn authorize(
    mutable: &mut MutableState,
    segment: &str,
    endpoint: Endpoint,
    query: Option<&str>,
    now: u64,
) -> WebReply {
    let q = query_map(query);
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
    let (app, redirect_uri, state) = match check_redirect_request(mutable, segment, &q) {
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
        None => Some(aadsts::missing_parameter("response_type")),
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
            (None, Some(_)) => Some(aadsts::missing_parameter("code_challenge")),
            (Some(_), Some(m)) => Some(AadError::new(
                400,
                "invalid_request",
                501491,
                format!("Invalid code_challenge_method '{m}': use S256 or plain."),
            )),
        },
    )
    .or_else(|| (endpoint == Endpoint::V2 && get("scope").is_none()).then(|| aadsts::missing_parameter("scope")));
    if let Some(e) = problem {
        return error_redirect(&redirect_uri, &e, state.as_ref(), mode);
    }
    if mutable.config.decline_next {
        mutable.config.decline_next = false;
        let mut params = Vec::new();
        declined(&mut params, state.as_ref(), admin_consent);
        return deliver(&redirect_uri, &params, mode);
    }
    let user = match sign_in_user(&mutable.directory, &mutable.config, segment) {
        Ok(u) => u,
        Err(e) => return error_redirect(&redirect_uri, &e, state.as_ref(), mode),
    };
    if admin_consent {
        mutable.directory.grant_admin_consent(user.tenant_id, &app.client_id);
    }
    let challenge = get("code_challenge").map(|c| {
        (
            c.clone(),
            get("code_challenge_method").cloned().unwrap_or_else(|| "plain".into()),
        )
    });
    let code = format!("1.{}", random_token(48));
    mutable.grants.codes.retain(|_, c| c.expires > now);
    mutable.grants.codes.insert(
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

/// `localhost`/`127.0.0.1` registrations ignore the port; everything else is exact.
pub(crate) fn redirect_allowed(app: &App, given: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures as fx;

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
}
