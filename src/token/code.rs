//! The authorization code grant: a code from `/authorize` (a browser sign-in, `redeem`, or a v1
//! admin consent) exchanged for tokens. A code is single-use: the redemption is POSTed once and
//! never retried, whatever happens.

use super::request::{self, field};
use crate::credential::Credential;
use crate::error::Result;
use crate::http::retry;
use crate::protocol::authority::{self, Audience, Endpoint, Tenant};
use crate::protocol::token::TokenResponse;
use crate::secret::Secret;
use crate::settings::Settings;

/// One authorization-code redemption.
pub(crate) struct CodeRedemption<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) client_id: &'a str,
    pub(crate) endpoint: Endpoint,
    pub(crate) audience: &'a Audience,
    pub(crate) code: Secret<String>,
    pub(crate) redirect_uri: &'a str,
    pub(crate) code_verifier: Option<Secret<String>>,
}

/// POSTs the `authorization_code` grant ONCE (`Policy::never`: a code cannot be redeemed twice,
/// so a network failure is reported, not retried).
pub(crate) async fn redeem(
    settings: &Settings,
    r: CodeRedemption<'_>,
    credential: Option<&Credential>,
) -> Result<TokenResponse> {
    let token_url = authority::token_url(&settings.authority, r.tenant, r.endpoint);
    let mut form = vec![
        field("grant_type", "authorization_code"),
        field("client_id", r.client_id),
        ("code".to_string(), r.code),
        field("redirect_uri", r.redirect_uri),
    ];
    match r.audience {
        Audience::Scope(s) => form.push(field("scope", s)),
        Audience::Resource(res) => form.push(field("resource", res)),
    }
    if let Some(v) = r.code_verifier {
        form.push(("code_verifier".to_string(), v));
    }
    request::request_token(settings, &token_url, form, credential, &retry::Policy::never()).await
}
