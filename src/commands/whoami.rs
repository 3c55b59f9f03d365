//! `whoami`: which credential source `get` would use and why, then — after getting a token the
//! usual way (from the cache when fresh) — what the token says. Never the token, never a secret
//! value. On failure the decision trace goes to stderr and stdout stays empty.

use crate::cli::{ListFormat, WhoamiArgs};
use crate::error::Result;
use crate::output::{self, whoami};
use crate::protocol::jwt;
use crate::rt;
use crate::settings::Settings;
use crate::token::TokenSource;

/// `get`'s default: a token served must stay valid this long.
const MIN_VALIDITY: i64 = 300;

pub(crate) fn run(settings: &Settings, args: &WhoamiArgs) -> Result<()> {
    let credential = settings.credential(&args.credential);
    let endpoint = settings.endpoint(false);
    let audience = settings.audience(endpoint, args.scope.as_deref(), args.resource.as_deref())?;
    let source = TokenSource::app(settings, &credential, endpoint, audience)?;
    let served = match rt::block_on(source.token_async(MIN_VALIDITY, false)) {
        Ok(s) => s,
        Err(e) => {
            if let Some(d) = source.decision() {
                for line in d.trace_lines() {
                    eprintln!("{line}");
                }
            }
            return Err(e);
        }
    };
    let decision = source
        .decision()
        .ok_or_else(|| crate::error::Error::internal("an app-only source without a decision"))?;
    let claims = served
        .token
        .access_token
        .as_ref()
        .and_then(|t| jwt::decode(t.expose()))
        .map(|d| d.claims);
    let mut variables: Vec<String> = decision.variables.iter().map(|v| v.to_string()).collect();
    variables.extend(settings.variables_used().into_iter().map(str::to_string));
    variables.sort();
    variables.dedup();
    let report = whoami::Whoami {
        source: decision.report(source.managed_identity_source()),
        profile: settings.profile_name().map(str::to_string),
        variables,
        claims: whoami::Claims::from_token_claims(claims.as_ref(), served.token.meta.expires_on),
        cache: if served.from_cache {
            whoami::CacheOutcome::Hit
        } else {
            whoami::CacheOutcome::Miss
        },
    };
    match args.output {
        ListFormat::Json => output::json_value(&report.to_json()),
        ListFormat::Text => output::text(&report.to_text()),
    }
}
