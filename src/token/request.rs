//! The one token-form POST: every grant (client credentials, refresh token, authorization code,
//! device code) goes through [`post_form`], which adds the client's credential fields afresh for
//! each attempt — a client assertion is single-use, and a retry after 429/5xx must not resend it.

use crate::credential::Credential;
use crate::error::Result;
use crate::http::{self, Deadline, Http, Request, retry};
use crate::protocol::token::{self, TokenResponse};
use crate::rt;
use crate::secret::Secret;
use crate::settings::Settings;
use url::Url;

/// Form fields of a token request; every value is kept as a secret until it is encoded.
pub(crate) type Form = Vec<(String, Secret<String>)>;

/// One form field.
pub(crate) fn field(name: &str, value: &str) -> (String, Secret<String>) {
    (name.to_string(), Secret::new(value.to_string()))
}

/// POSTs `form` to `url`, authenticated by `credential` when there is one (a public client sends
/// none), retried per `policy` within `--timeout`; returns the raw reply. `policy` is
/// [`retry::Policy::never`] for anything single-use (a code, a device code poll).
pub(crate) async fn post_form(
    settings: &Settings,
    url: &Url,
    form: Form,
    credential: Option<&Credential>,
    policy: &retry::Policy,
) -> Result<http::Reply> {
    let deadline = Deadline::after(settings.timeout);
    let http = Http::new(settings.timeout, &settings.tls_roots)?;
    let build = || -> http::BuiltRequest<'_> {
        let mut form = form.clone();
        Box::pin(async move {
            if let Some(c) = credential {
                form.extend(c.auth_fields(url).await?);
            }
            Ok(Request::post_form(url.clone(), form))
        })
    };
    http.send_rebuilt(&build, policy, deadline, http::TOKEN_REPLY_CAP).await
}

/// [`post_form`], and the reply parsed: a token, Entra's error (exit 3) or neither (exit 4).
pub(crate) async fn request_token(
    settings: &Settings,
    url: &Url,
    form: Form,
    credential: Option<&Credential>,
    policy: &retry::Policy,
) -> Result<TokenResponse> {
    let reply = post_form(settings, url, form, credential, policy).await?;
    token::parse_reply(reply.status, reply.content_type(), &reply.body, rt::now())
}
