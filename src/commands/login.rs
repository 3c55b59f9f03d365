//! `login`: delegated sign-in. The browser flow is authorization code + PKCE (S256) with random
//! `state` and `nonce`, the redirect caught by the loopback listener; `--device-code` polls the
//! token endpoint while the user enters a code elsewhere. Either way the account and its refresh
//! token are stored for `get --user`, and no token is printed.

use crate::cache::Cache;
use crate::cli::LoginArgs;
use crate::commands::redeem::{self, CodeRedemption, strip_oidc};
use crate::commands::user::{self, field};
use crate::credential::{self, Credential};
use crate::error::{Error, Result};
use crate::http;
use crate::log;
use crate::loopback::{self, Listener};
use crate::protocol::authority::{self, Audience, Endpoint, Tenant};
use crate::protocol::authorize::{
    AuthorizeRequest, DeviceAuthorization, LoopbackUri, Pkce, RedirectParams, authorize_url, device_code_url,
    id_token_nonce, new_state, with_oidc_scopes,
};
use crate::protocol::entra_error::EntraError;
use crate::protocol::token::{self, TokenResponse};
use crate::settings::Settings;
use std::time::{Duration, Instant};

pub fn run(settings: &Settings, args: &LoginArgs) -> Result<()> {
    let client_id = settings.require_client_id()?.to_string();
    let tenant = user::sign_in_tenant(settings);
    let scope = args.scope.clone().unwrap_or_else(|| settings.default_scope());
    if scope.split_whitespace().next().is_none() {
        return Err(Error::usage("--scope is empty"));
    }
    let credential = credential::optional_from_settings(&args.credential, settings, &client_id)?;
    log::info(if credential.is_some() {
        "signing in as a confidential client (a credential is configured)"
    } else {
        "signing in as a public client (no credential configured)"
    });
    let cache = Cache::open(settings.cache_mode)?;
    log::info(format!("cache: {}", cache.reason));
    let resp = if args.device_code {
        crate::app::block_on(device_code(
            settings,
            args,
            &tenant,
            &client_id,
            &scope,
            credential.as_ref(),
        ))?
    } else {
        let uri = LoopbackUri::parse(&args.redirect_uri, "--redirect-uri")?;
        crate::app::block_on(interactive(
            settings,
            args,
            &uri,
            &tenant,
            &client_id,
            &scope,
            credential.as_ref(),
        ))?
    };
    if resp.refresh_token.is_none() {
        log::warn(
            "Entra returned no refresh token (offline_access not granted?): `get --user` will need another login",
        );
    }
    let account = user::store_user_tokens(
        &cache,
        settings,
        tenant.as_str(),
        &client_id,
        Some(&strip_oidc(&scope)),
        &resp,
    )
    .ok_or_else(|| Error::network("the sign-in reply names no user (no id_token)"))?;
    eprintln!(
        "Signed in as {}{}.",
        account.upn,
        account
            .tid
            .as_deref()
            .map(|t| format!(" (tenant {t})"))
            .unwrap_or_default()
    );
    if cache.dir.is_none() {
        log::warn("--cache none: the sign-in was not stored, so `get --user` cannot use it");
    }
    Ok(())
}

async fn interactive(
    settings: &Settings,
    args: &LoginArgs,
    uri: &LoopbackUri,
    tenant: &Tenant,
    client_id: &str,
    scope: &str,
    credential: Option<&Credential>,
) -> Result<TokenResponse> {
    let listener = Listener::bind(uri).await?;
    let redirect_uri = listener.redirect_uri().to_string();
    let pkce = Pkce::new()?;
    let state = new_state()?;
    let nonce = new_state()?;
    let full_scope = with_oidc_scopes(scope);
    let url = authorize_url(
        &settings.authority,
        tenant.as_str(),
        &AuthorizeRequest {
            client_id,
            redirect_uri: &redirect_uri,
            scope: &full_scope,
            state: &state,
            nonce: &nonce,
            code_challenge: pkce.challenge(),
            login_hint: args.login_hint.as_deref(),
            prompt: args.prompt.as_deref(),
        },
    );
    eprintln!("To sign in, open this URL in a browser:\n{url}");
    if !args.no_browser {
        loopback::open_browser(&url);
    }
    let params = listener
        .wait(&state, Duration::from_secs(args.wait), "sign-in", require_code)
        .await?;
    let code = params.code.expect("checked by require_code");
    let audience = Audience::Scope(full_scope);
    let resp = redeem::redeem_code(
        settings,
        CodeRedemption {
            tenant,
            client_id,
            endpoint: Endpoint::V2,
            audience: &audience,
            code,
            redirect_uri: &redirect_uri,
            code_verifier: Some(pkce.into_verifier()),
        },
        credential,
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

async fn device_code(
    settings: &Settings,
    args: &LoginArgs,
    tenant: &Tenant,
    client_id: &str,
    scope: &str,
    credential: Option<&Credential>,
) -> Result<TokenResponse> {
    let full_scope = with_oidc_scopes(scope);
    let url = device_code_url(&settings.authority, tenant.as_str());
    let mut form = vec![field("client_id", client_id), field("scope", &full_scope)];
    // The device authorization request carries no client authentication (RFC 8628 §3.1 allows
    // it, Entra does not need it); the token polls do, for a confidential client.
    let reply = user::send_form(settings, &url, &mut form, None, &http::retry::Policy::token()).await?;
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

    let token_url = authority::token_url(&settings.authority, tenant, Endpoint::V2);
    // Two limits: our own --wait (exit 4 when it runs out, like the browser flow's) and the
    // code's expires_in, which is Entra's to enforce: it answers `expired_token` (exit 3).
    let started = Instant::now();
    let wait = Duration::from_secs(args.wait);
    let mut interval = Duration::from_secs(auth.interval.max(1));
    loop {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(waited_out(args.wait, auth.expires_in));
        }
        // The last poll comes when --wait runs out, even if sooner than the interval.
        tokio::time::sleep(interval.min(left)).await;
        let mut form = vec![
            field("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            field("client_id", client_id),
            ("device_code".to_string(), auth.device_code.clone()),
        ];
        // A successful poll redeems the device code: never resend it blindly.
        let reply = user::send_form(
            settings,
            &token_url,
            &mut form,
            credential,
            &http::retry::Policy::never(),
        )
        .await?;
        let body: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
        if let Some(e) = body.as_ref().and_then(EntraError::from_json) {
            match e.error.as_str() {
                "authorization_pending" | "slow_down" if started.elapsed() >= wait => {
                    return Err(waited_out(args.wait, auth.expires_in));
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
        return token::classify(reply.status, reply.content_type(), &reply.body, crate::app::now());
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
