//! `get`: an app-only (client credentials) access token, printed in the chosen format. One HTTP
//! request per token: the token URL is built, not discovered.

use crate::cli::GetArgs;
use crate::credential::{self, Credential};
use crate::error::{Error, Result};
use crate::http::{self, Deadline, Http, Request};
use crate::output::{self, TokenOutput};
use crate::protocol::authority::{self, Audience, Endpoint, Tenant};
use crate::protocol::jwt;
use crate::protocol::token::{self, TokenResponse};
use crate::secret::Secret;
use crate::settings::Settings;
use url::Url;

/// Everything that identifies one app-only token request.
pub struct AppTokenRequest {
    pub tenant: Tenant,
    pub client_id: String,
    pub endpoint: Endpoint,
    pub audience: Audience,
    pub token_url: Url,
}

pub fn run(settings: &Settings, args: &GetArgs) -> Result<()> {
    let endpoint = if args.v1 || settings.profile.v1.unwrap_or(false) {
        Endpoint::V1
    } else {
        Endpoint::V2
    };
    let audience = audience(settings, endpoint, args.scope.as_deref(), args.resource.as_deref())?;
    let tenant = settings.require_tenant()?.clone();
    let client_id = settings.require_client_id()?.to_string();
    authority::check_app_only(&tenant, &audience)?;
    let credential = credential::from_settings(&args.credential, settings, &client_id)?;
    let token_url = authority::token_url(&settings.authority, &tenant, endpoint);
    let req = AppTokenRequest {
        tenant,
        client_id,
        endpoint,
        audience,
        token_url,
    };

    let resp = crate::app::block_on(acquire_app_token(settings, &credential, &req))?;
    print_token(args.output, &resp, &req.tenant)
}

/// The audience from flags > profile > default, for the endpoint in use.
pub fn audience(
    settings: &Settings,
    endpoint: Endpoint,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<Audience> {
    let (scope, resource) = if scope.is_some() || resource.is_some() {
        (scope.map(str::to_string), resource.map(str::to_string))
    } else {
        (settings.profile.scope.clone(), settings.profile.resource.clone())
    };
    match endpoint {
        Endpoint::V2 => Ok(Audience::Scope(match (scope, resource) {
            (Some(s), _) => s,
            (None, Some(r)) => authority::resource_to_scope(&r),
            (None, None) => settings.default_scope(),
        })),
        Endpoint::V1 => Ok(Audience::Resource(match (resource, scope) {
            (Some(r), _) => r,
            (None, Some(s)) => authority::scope_to_resource(&s).ok_or_else(|| {
                Error::usage(format!(
                    "--v1 takes a resource, and scope '{s}' is not RESOURCE/.default"
                ))
                .hint("pass --resource URI with --v1")
            })?,
            (None, None) => settings.cloud.graph().to_string(),
        })),
    }
}

/// One client-credentials token request (retried on 429/5xx within `--timeout`).
pub async fn acquire_app_token(
    settings: &Settings,
    credential: &Credential,
    req: &AppTokenRequest,
) -> Result<TokenResponse> {
    let deadline = Deadline::after(settings.timeout);
    let http = Http::new(settings.timeout)?;
    let mut form: Vec<(String, Secret<String>)> = vec![
        ("grant_type".into(), Secret::new("client_credentials".into())),
        ("client_id".into(), Secret::new(req.client_id.clone())),
    ];
    match &req.audience {
        Audience::Scope(s) => form.push(("scope".into(), Secret::new(s.clone()))),
        Audience::Resource(r) => form.push(("resource".into(), Secret::new(r.clone()))),
    }
    form.extend(credential.auth_fields(&req.token_url).await?);
    let request = Request::post_form(req.token_url.clone(), form);
    let reply = http
        .send(&request, &http::retry::Policy::token(), deadline, http::TOKEN_REPLY_CAP)
        .await?;
    token::classify(reply.status, reply.content_type(), &reply.body, crate::app::now())
}

pub fn print_token(format: crate::cli::OutputFormat, resp: &TokenResponse, tenant: &Tenant) -> Result<()> {
    let at = resp.access_token.expose();
    let tid = jwt::decode(at)
        .and_then(|d| jwt::claim_str(&d.claims, "tid").map(str::to_string))
        .or_else(|| tenant.guid().map(str::to_string))
        .or_else(|| Some(tenant.as_str().to_string()));
    output::token(
        format,
        &TokenOutput {
            token: at,
            expires_on: resp.expires_on,
            tenant: tid,
            token_type: &resp.token_type,
            scope: resp.scope.as_deref(),
            resource: resp.resource.as_deref(),
            extra: None,
        },
    )
}
