//! `login`: delegated sign-in, in the browser (authorization code + PKCE through the loopback
//! listener) or with `--device-code`. The account and its refresh token are stored for
//! `get --user`; no token is printed.

use crate::cache::Cache;
use crate::cli::LoginArgs;
use crate::error::{Error, Result};
use crate::log;
use crate::protocol::authorize::without_oidc_scopes;
use crate::protocol::redirect::LoopbackUri;
use crate::rt;
use crate::settings::Settings;
use crate::token::{accounts, sign_in};

pub(crate) fn run(settings: &Settings, args: &LoginArgs) -> Result<()> {
    let client_id = settings.require_client_id()?.to_string();
    let tenant = settings.sign_in_tenant();
    let scope = args.scope.clone().unwrap_or_else(|| settings.default_scope());
    if scope.split_whitespace().next().is_none() {
        return Err(Error::usage("--scope is empty"));
    }
    let credential = settings.credential(&args.credential).load_client(&client_id)?;
    log::info(if credential.is_some() {
        "signing in as a confidential client (a credential is configured)"
    } else {
        "signing in as a public client (no credential configured)"
    });
    let cache = Cache::open(&settings.cache)?;
    log::info(format!("cache: {}", cache.reason));
    let who = sign_in::SignIn {
        tenant: &tenant,
        client_id: &client_id,
        scope: &scope,
        credential: credential.as_ref(),
        wait: args.wait,
    };
    let resp = if args.device_code {
        rt::block_on(sign_in::with_device_code(settings, &who))?
    } else {
        let uri = LoopbackUri::parse(&args.redirect_uri, "--redirect-uri")?;
        let browser = sign_in::Browser {
            redirect_uri: &uri,
            login_hint: args.login_hint.as_deref(),
            prompt: args.prompt.map(|p| p.as_str()),
            open: !args.no_browser,
        };
        rt::block_on(sign_in::with_browser(settings, &who, &browser))?
    };
    if resp.refresh_token.is_none() {
        log::warn(
            "Entra returned no refresh token (offline_access not granted?): `get --user` will need another login",
        );
    }
    let account = accounts::store_sign_in(
        &cache,
        settings,
        tenant.as_str(),
        &client_id,
        Some(&without_oidc_scopes(&scope)),
        &resp,
    )
    .ok_or_else(|| Error::network("the sign-in reply identifies no user (no id_token with an oid or sub claim)"))?;
    // the names come from the id_token: server text, printed without control characters
    eprintln!(
        "Signed in as {}{}.",
        crate::sanitize::line(account.name()),
        account
            .tid
            .as_deref()
            .map(|t| format!(" (tenant {})", crate::sanitize::line(t)))
            .unwrap_or_default()
    );
    if cache.dir.is_none() {
        log::warn("--cache none: the sign-in was not stored, so `get --user` cannot use it");
    }
    Ok(())
}
