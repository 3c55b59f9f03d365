//! Delegated sign-in (`login`). The browser flow is authorization code + PKCE (S256) with random
//! `state` and `nonce`, the redirect caught by the loopback listener; the device code flow polls
//! the token endpoint while the user enters a code elsewhere. Either returns the token reply; the
//! caller stores the account ([`super::accounts::store_sign_in`]).

use super::code::{self, CodeRedemption};
use super::request::{self, field};
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::http::retry;
use crate::log;
use crate::loopback::{self, Listener};
use crate::protocol::authority::{self, Audience, Endpoint, Tenant};
use crate::protocol::authorize::{AuthorizeRequest, Pkce, authorize_url, new_state, with_oidc_scopes};
use crate::protocol::device_code::{DeviceAuthorization, device_code_url};
use crate::protocol::entra_error::EntraError;
use crate::protocol::redirect::{LoopbackUri, RedirectParams};
use crate::protocol::token::{self, TokenResponse, id_token_nonce};
use crate::rt;
use crate::settings::Settings;
use std::time::{Duration, Instant};

/// Who signs in where, for what.
pub(crate) struct SignIn<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) client_id: &'a str,
    /// The requested scopes (`openid profile offline_access` are added).
    pub(crate) scope: &'a str,
    /// A confidential client's credential; `None` for a public client.
    pub(crate) credential: Option<&'a Credential>,
    /// How long to wait for the user, in seconds (`--wait`).
    pub(crate) wait: u64,
}

/// The browser flow's options.
pub(crate) struct Browser<'a> {
    pub(crate) redirect_uri: &'a LoopbackUri,
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) prompt: Option<&'a str>,
    /// Open the system browser (the URL is printed on stderr either way).
    pub(crate) open: bool,
}

/// Authorization code + PKCE through the system browser and the loopback listener.
pub(crate) async fn with_browser(settings: &Settings, s: &SignIn<'_>, b: &Browser<'_>) -> Result<TokenResponse> {
    let listener = Listener::bind(b.redirect_uri).await?;
    let redirect_uri = listener.redirect_uri().to_string();
    let pkce = Pkce::new()?;
    let state = new_state()?;
    let nonce = new_state()?;
    let full_scope = with_oidc_scopes(s.scope);
    let url = authorize_url(
        &settings.authority,
        s.tenant.as_str(),
        &AuthorizeRequest {
            client_id: s.client_id,
            redirect_uri: &redirect_uri,
            scope: &full_scope,
            state: &state,
            nonce: &nonce,
            code_challenge: pkce.challenge(),
            login_hint: b.login_hint,
            prompt: b.prompt,
        },
    );
    eprintln!("To sign in, open this URL in a browser:\n{url}");
    if b.open {
        loopback::open_browser(&url);
    }
    let params = listener
        .wait(&state, Duration::from_secs(s.wait), "sign-in", require_code)
        .await?;
    let code = params.code.expect("checked by require_code");
    let audience = Audience::Scope(full_scope);
    let resp = code::redeem(
        settings,
        CodeRedemption {
            tenant: s.tenant,
            client_id: s.client_id,
            endpoint: Endpoint::V2,
            audience: &audience,
            code,
            redirect_uri: &redirect_uri,
            code_verifier: Some(pkce.into_verifier()),
        },
        s.credential,
    )
    .await?;
    check_nonce(&resp, &nonce)?;
    Ok(resp)
}

fn require_code(p: &RedirectParams) -> Result<()> {
    match p.code {
        Some(_) => Ok(()),
        None => Err(Error::network("the redirect carries neither a code nor an error")),
    }
}

/// The id_token must carry the nonce this sign-in sent (it came straight from the token
/// endpoint over TLS, so its signature is not checked).
fn check_nonce(resp: &TokenResponse, nonce: &str) -> Result<()> {
    let Some(id) = &resp.id_token else { return Ok(()) };
    match id_token_nonce(id.expose()) {
        Some(n) if n == nonce => Ok(()),
        Some(_) => Err(Error::network(
            "the id_token's nonce is not the one this sign-in sent: refusing it",
        )),
        None => {
            log::info("the id_token has no nonce claim");
            Ok(())
        }
    }
}

/// The device authorization grant: a code to enter on another device, then polls.
pub(crate) async fn with_device_code(settings: &Settings, s: &SignIn<'_>) -> Result<TokenResponse> {
    let full_scope = with_oidc_scopes(s.scope);
    let url = device_code_url(&settings.authority, s.tenant.as_str());
    let form = vec![field("client_id", s.client_id), field("scope", &full_scope)];
    // The device authorization request carries no client authentication (RFC 8628 §3.1 allows
    // it, Entra does not need it); the token polls do, for a confidential client.
    let reply = request::post_form(settings, &url, form, None, &retry::Policy::token()).await?;
    let body: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
    if let Some(e) = body.as_ref().and_then(EntraError::from_json) {
        return Err(e.into_error("device code request"));
    }
    let auth = body
        .as_ref()
        .filter(|_| (200..300).contains(&reply.status))
        .and_then(DeviceAuthorization::from_json)
        .ok_or_else(|| {
            token::unexpected_reply(reply.status, reply.content_type(), &reply.body, "device code endpoint")
        })?;
    eprintln!("{}", auth.instructions());

    let token_url = authority::token_url(&settings.authority, s.tenant, Endpoint::V2);
    // Two limits: our own --wait (exit 4 when it runs out, like the browser flow's) and the
    // code's expires_in, which is Entra's to enforce: it answers `expired_token` (exit 3).
    let started = Instant::now();
    let wait = Duration::from_secs(s.wait);
    let mut interval = Duration::from_secs(auth.interval.max(1));
    loop {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(waited_out(s.wait, auth.expires_in));
        }
        // The last poll comes when --wait runs out, even if sooner than the interval.
        tokio::time::sleep(interval.min(left)).await;
        let form = vec![
            field("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            field("client_id", s.client_id),
            ("device_code".to_string(), auth.device_code.clone()),
        ];
        // A successful poll redeems the device code: never resend it blindly.
        let reply = request::post_form(settings, &token_url, form, s.credential, &retry::Policy::never()).await?;
        let body: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
        if let Some(e) = body.as_ref().and_then(EntraError::from_json) {
            match e.error.as_str() {
                "authorization_pending" | "slow_down" if started.elapsed() >= wait => {
                    return Err(waited_out(s.wait, auth.expires_in));
                }
                "authorization_pending" => continue,
                "slow_down" => {
                    interval += Duration::from_secs(5);
                    log::info(format!("slow_down: polling every {} s", interval.as_secs()));
                    continue;
                }
                "authorization_declined" => return Err(with_hint(e, "the sign-in was declined on the other device")),
                "expired_token" => {
                    return Err(with_hint(
                        e,
                        "the device code expired: run `entra-token login --device-code` again",
                    ));
                }
                "bad_verification_code" => {
                    return Err(with_hint(
                        e,
                        "Entra does not know this device code: run the login again",
                    ));
                }
                _ => return Err(e.into_error("device code sign-in")),
            }
        }
        return token::parse_reply(reply.status, reply.content_type(), &reply.body, rt::now());
    }
}

/// Our own `--wait` ran out while Entra still waited for the code to be entered (exit 4, as for
/// the browser flow's `--wait`); the code itself may still be valid.
fn waited_out(wait: u64, expires_in: u64) -> Error {
    Error::network(format!("no sign-in within --wait {wait} s")).hint(format!(
        "enter the code sooner, or run the login again with a larger --wait (the device code lasts {expires_in} s)"
    ))
}

fn with_hint(e: EntraError, hint: &str) -> Error {
    let err = e.into_error("device code sign-in");
    if err.hint.is_some() { err } else { err.hint(hint) }
}
