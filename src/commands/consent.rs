//! `consent-url`: the admin-consent URL an ISV sends to a customer's admin (v2 `/adminconsent`,
//! `/v2.0/adminconsent` with scopes, or v1 `prompt=admin_consent`). With `--listen` it serves the
//! redirect URI on loopback, checks `state`, and prints the outcome: the customer's tenant ID.

use crate::cli::{ConsentUrlArgs, ListFormat};
use crate::error::{Error, Result};
use crate::loopback::{self, Listener};
use crate::output;
use crate::protocol::authority::{Audience, Endpoint};
use crate::protocol::authorize::{ConsentKind, consent_url, new_state};
use crate::protocol::redirect::{LoopbackUri, RedirectParams};
use crate::protocol::token;
use crate::rt;
use crate::settings::Settings;
use crate::token::code::{self, CodeRedemption};
use serde_json::json;
use std::time::Duration;

const DEFAULT_LISTEN_URI: &str = "http://localhost:0/";

pub(crate) fn run(settings: &Settings, args: &ConsentUrlArgs) -> Result<()> {
    let client_id = settings.require_client_id()?.to_string();
    // `--tenant` on the command line, the profile's `consent_tenant`, else `organizations` (any
    // work or school admin may consent; a personal account cannot grant admin consent).
    let tenant = settings.consent_tenant()?;
    let state = match &args.state {
        Some(s) if s.is_empty() => return Err(Error::usage("--state is empty")),
        Some(s) => s.clone(),
        None => new_state()?,
    };
    let kind = match (&args.resource, &args.scope) {
        (Some(r), _) => ConsentKind::V1Resource(r),
        (None, Some(s)) => ConsentKind::Scopes(s),
        (None, None) => ConsentKind::All,
    };
    if let Some(r) = &args.redirect_uri {
        if r.trim().is_empty() {
            return Err(Error::usage("--redirect-uri is empty"));
        }
        crate::protocol::authority::check_url_text(r, "--redirect-uri")?;
    }
    if !args.listen {
        let redirect = args.redirect_uri.as_deref().ok_or_else(|| {
            Error::usage("--redirect-uri is required without --listen")
                .hint("pass the redirect URI registered on the app, or use --listen to capture the redirect here")
        })?;
        let url = consent_url(
            &settings.authority,
            tenant.as_str(),
            &client_id,
            redirect,
            &state,
            &kind,
        );
        return output::text(&format!("{url}\n"));
    }
    let uri = LoopbackUri::parse(
        args.redirect_uri.as_deref().unwrap_or(DEFAULT_LISTEN_URI),
        "--redirect-uri",
    )?;
    let credential = settings.credential(&args.credential).load_client(&client_id)?;
    rt::block_on(async {
        let listener = Listener::bind(&uri).await?;
        let redirect_uri = listener.redirect_uri().to_string();
        let url = consent_url(
            &settings.authority,
            tenant.as_str(),
            &client_id,
            &redirect_uri,
            &state,
            &kind,
        );
        let whose = if tenant.is_multi() {
            format!(
                "the customer's tenant (the URL is for '{}': any work or school tenant)",
                tenant.as_str()
            )
        } else {
            format!("tenant {} (the URL is for that tenant only)", tenant.as_str())
        };
        eprintln!("Send this URL to an administrator of {whose} (waiting for the redirect):\n{url}");
        if !args.no_browser {
            loopback::open_browser(&url);
        }
        let check: loopback::Check = if args.v1 {
            require_code_or_tenant
        } else {
            require_tenant
        };
        let params = listener
            .wait(&state, Duration::from_secs(args.wait), "admin consent", check)
            .await?;
        let tenant_id = match (&params.tenant, &params.code, &args.resource) {
            (Some(t), _, _) => t.clone(),
            // v1 prompt=admin_consent answers with a code: its token's `tid` is the tenant.
            (None, Some(_), Some(resource)) => {
                let audience = Audience::Resource(resource.clone());
                let resp = code::redeem(
                    settings,
                    CodeRedemption {
                        tenant: &tenant,
                        client_id: &client_id,
                        endpoint: Endpoint::V1,
                        audience: &audience,
                        code: params.code.clone().expect("matched"),
                        redirect_uri: &redirect_uri,
                        code_verifier: None,
                    },
                    credential.as_ref(),
                )
                .await?;
                token::tenant_of(resp.access_token.expose())
                    .ok_or_else(|| Error::network("the token from the consent code has no tid claim"))?
            }
            _ => return Err(Error::internal("consent redirect passed its checks without a tenant")),
        };
        print_outcome(args.output, &tenant_id, &params)
    })
}

fn require_tenant(p: &RedirectParams) -> Result<()> {
    match p.tenant.as_deref() {
        Some(t) if !t.trim().is_empty() => Ok(()),
        _ => Err(Error::rejected(format!(
            "the admin consent redirect names no tenant (admin_consent={})",
            p.admin_consent.as_deref().unwrap_or("absent")
        ))
        .hint("the consent was not granted: ask the administrator to open the URL again")),
    }
}

fn require_code_or_tenant(p: &RedirectParams) -> Result<()> {
    if p.code.is_some() { Ok(()) } else { require_tenant(p) }
}

fn print_outcome(format: ListFormat, tenant: &str, p: &RedirectParams) -> Result<()> {
    match format {
        ListFormat::Text => output::text(&format!("{tenant}\n")),
        ListFormat::Json => {
            let mut v = json!({
                "tenant": tenant,
                "admin_consent": p.admin_consent.as_deref().map(|a| a.eq_ignore_ascii_case("true")),
                "state": p.state,
            });
            if let Some(s) = &p.scope {
                v["scope"] = json!(s);
            }
            output::json_value(&v)
        }
    }
}
