//! `get`: an access token printed in the chosen format — app-only, or with `--user` a signed-in
//! account's. The token layer serves it from the cache when fresh (no network, no TLS, no
//! runtime), else asks Entra once.

use crate::cache::CachedToken;
use crate::cli::GetArgs;
use crate::error::{Error, Result};
use crate::output::jq::JqFilter;
use crate::output::{self, OutputFormat, TokenOutput};
use crate::protocol::authority::{Audience, Endpoint};
use crate::settings::Settings;
use crate::token::TokenSource;

pub(crate) fn run(settings: &Settings, args: &GetArgs) -> Result<()> {
    let jq = jq_filter(args)?;
    let credential = settings.credential(&args.credential);
    let source = if args.user {
        if args.v1 {
            return Err(Error::usage(
                "--user tokens come from the v2 endpoint: use --scope (or --resource) without --v1",
            ));
        }
        let Audience::Scope(scope) =
            settings.audience(Endpoint::V2, args.scope.as_deref(), args.resource.as_deref())?
        else {
            return Err(Error::internal("v2 audience is a scope"));
        };
        TokenSource::user(settings, &credential, scope, args.account.as_deref())?
    } else {
        let endpoint = settings.endpoint(args.v1);
        let audience = settings.audience(endpoint, args.scope.as_deref(), args.resource.as_deref())?;
        TokenSource::app(settings, &credential, endpoint, audience)?
    };
    let token = source.token(args.min_validity as i64, args.force_refresh)?;
    print(args.output, jq.as_ref(), &token)
}

/// `--jq EXPR`, compiled before anything is sent; it filters the `-o json` document only.
fn jq_filter(args: &GetArgs) -> Result<Option<JqFilter>> {
    let Some(expr) = &args.jq else {
        return Ok(None);
    };
    if args.output != OutputFormat::Json {
        return Err(Error::usage("--jq filters the JSON document of -o json")
            .hint(format!("add -o json, e.g. entra-token get -o json --jq '{expr}'")));
    }
    JqFilter::compile(expr).map(Some)
}

/// Prints a token in `format`, or (`--jq`) the `-o json` document through the filter.
fn print(format: OutputFormat, jq: Option<&JqFilter>, token: &CachedToken) -> Result<()> {
    let at = token
        .access_token
        .as_ref()
        .ok_or_else(|| Error::internal("cache entry without an access token"))?;
    let out = TokenOutput {
        token: at.expose(),
        expires_on: token.meta.expires_on,
        tenant: token.meta.tid.clone(),
        token_type: &token.meta.token_type,
        scope: token.meta.scope.as_deref(),
        resource: token.meta.resource.as_deref(),
        extra: None,
    };
    match jq {
        Some(filter) => output::token_jq(filter, &out),
        None => output::token(format, &out),
    }
}
