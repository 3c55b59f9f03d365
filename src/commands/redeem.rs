//! `redeem`: exchanges an authorization code (given, or taken from the URL the browser landed
//! on) for tokens, prints the access token like `get`, and stores the refresh token for
//! `get --user`. A code is single-use: the redemption is never retried, whatever happens.

use crate::cache::Cache;
use crate::cli::RedeemArgs;
use crate::error::{Error, Result};
use crate::log;
use crate::output::{self, TokenOutput};
use crate::protocol::authority::{Audience, Endpoint};
use crate::protocol::authorize::{with_oidc_scopes, without_oidc_scopes};
use crate::protocol::redirect::{RedirectParams, state_mismatch};
use crate::protocol::token;
use crate::rt;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::token::accounts;
use crate::token::code::{self, CodeRedemption};

pub(crate) fn run(settings: &Settings, args: &RedeemArgs) -> Result<()> {
    if let Some(value) = &args.code_verifier {
        let _ = value; // the value is never looked at, echoed or logged
        return Err(Error::usage(
            "--code-verifier is not accepted: a secret on the command line is visible to other users (ps, shell history)",
        )
        .hint("use --code-verifier-file PATH ('-' reads stdin)"));
    }
    let code_verifier = args
        .code_verifier_file
        .as_deref()
        .map(|p| read_code_verifier(p, settings.timeout))
        .transpose()?;
    let client_id = settings.require_client_id()?.to_string();
    let (code, derived_redirect) = match (&args.code, &args.redirect_url) {
        (Some(c), _) if c.trim().is_empty() => return Err(Error::usage("--code is empty")),
        (Some(c), _) => (Secret::new(c.trim().to_string()), None),
        (None, Some(url)) => {
            let p = RedirectParams::from_url(url)?;
            if let Some(e) = p.error("sign-in") {
                return Err(e);
            }
            if let Some(expected) = &args.expected_state
                && !p.state_matches(expected)
            {
                return Err(state_mismatch());
            }
            let code = p.code.ok_or_else(|| {
                Error::usage("--redirect-url has no `code` parameter")
                    .hint("pass the whole URL from the browser's address bar after the redirect")
            })?;
            let mut base =
                url::Url::parse(url.trim()).map_err(|e| Error::usage("--redirect-url is not a URL").cause(e))?;
            base.set_query(None);
            base.set_fragment(None);
            (code, Some(base.to_string()))
        }
        (None, None) => return Err(Error::usage("pass --code CODE or --redirect-url URL")),
    };
    log::register_secret(code.expose());
    let redirect_uri = args.redirect_uri.clone().or(derived_redirect).ok_or_else(|| {
        Error::usage("--redirect-uri is required with --code")
            .hint("it must be exactly the redirect_uri sent to /authorize")
    })?;
    if redirect_uri.trim().is_empty() {
        return Err(Error::usage("--redirect-uri is empty"));
    }
    crate::protocol::authority::check_url_text(&redirect_uri, "--redirect-uri")?;
    let endpoint = if args.v1 { Endpoint::V1 } else { Endpoint::V2 };
    let audience = match (endpoint, &args.resource, &args.scope) {
        (Endpoint::V1, Some(r), _) => Audience::Resource(r.clone()),
        (Endpoint::V1, None, _) => Audience::Resource(settings.cloud.graph().to_string()),
        (Endpoint::V2, _, Some(s)) => Audience::Scope(s.clone()),
        (Endpoint::V2, _, None) => Audience::Scope(with_oidc_scopes(&settings.default_scope())),
    };
    let tenant = settings.sign_in_tenant();
    let credential = settings.credential(&args.credential).load_client(&client_id)?;
    if credential.is_none() {
        log::info("no client credential configured: redeeming as a public client");
    }
    let cache = Cache::open(&settings.cache)?;
    let r = CodeRedemption {
        tenant: &tenant,
        client_id: &client_id,
        endpoint,
        audience: &audience,
        code,
        redirect_uri: &redirect_uri,
        code_verifier,
    };
    let resp = rt::block_on(code::redeem(settings, r, credential.as_ref()))?;
    let scope_key = match &audience {
        Audience::Scope(s) => Some(without_oidc_scopes(s)),
        Audience::Resource(_) => None,
    };
    let account = accounts::store_sign_in(
        &cache,
        settings,
        tenant.as_str(),
        &client_id,
        scope_key.as_deref(),
        &resp,
    );
    let tid = token::tenant_of(resp.access_token.expose()).or_else(|| account.as_ref().and_then(|a| a.tid.clone()));
    let mut extra = serde_json::Map::new();
    if let Some(a) = &account {
        extra.insert("account".into(), serde_json::json!(a.name()));
    }
    if args.show_refresh_token
        && let Some(rt) = &resp.refresh_token
    {
        extra.insert("refresh_token".into(), serde_json::json!(rt.expose()));
    }
    output::token(
        args.output,
        &TokenOutput {
            token: resp.access_token.expose(),
            expires_on: resp.expires_on,
            tenant: tid,
            token_type: &resp.token_type,
            scope: resp.scope.as_deref(),
            resource: resp.resource.as_deref(),
            extra: Some(extra),
            exec_api_version: Default::default(),
        },
    )
}

/// The PKCE code verifier from `--code-verifier-file` (one trailing newline removed, as files
/// written by `echo` have).
fn read_code_verifier(path: &std::path::Path, timeout: std::time::Duration) -> Result<Secret<String>> {
    let what = "--code-verifier-file";
    let bytes = crate::input::read(path, what, crate::input::SECRET_CAP, timeout)?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::usage(format!("{what} '{}' is not UTF-8 text", path.display())))?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(Error::usage(format!("{what} '{}' is empty", path.display())));
    }
    log::register_secret(text);
    Ok(Secret::new(text.to_string()))
}
