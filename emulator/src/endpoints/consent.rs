//! Admin consent: `GET /{tenant}/adminconsent` and `/{tenant}/v2.0/adminconsent` redirect at
//! once as if the configured user had consented, giving the app a service principal in their
//! tenant.

use crate::aadsts::{self, AadError};
use crate::endpoints::authorize::{check_redirect_request, sign_in_user};
use crate::endpoints::web::{Mode, WebReply, declined, deliver, query_map};
use crate::state::MutableState;

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
pub(crate) fn admin_consent(mutable: &mut MutableState, segment: &str, v2: bool, query: Option<&str>) -> WebReply {
    let q = query_map(query);
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
    let (app, redirect_uri, state) = match check_redirect_request(mutable, segment, &q) {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut params: Vec<(&str, String)> = Vec::new();
    if v2 && get("scope").is_none() {
        return consent_error(&redirect_uri, &aadsts::missing_parameter("scope"), state);
    }
    if mutable.config.decline_next {
        mutable.config.decline_next = false;
        declined(&mut params, state.as_ref(), true);
        return deliver(&redirect_uri, &params, Mode::Query);
    }
    let user = match sign_in_user(&mutable.directory, &mutable.config, segment) {
        Ok(u) => u,
        Err(e) => return consent_error(&redirect_uri, &e, state),
    };
    mutable.directory.grant_admin_consent(user.tenant_id, &app.client_id);
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
