//! App-only tokens (the client credentials grant): one request per token to a token URL that is
//! built, not discovered, authenticated by the app's own credential.

use super::request::{self, field};
use crate::cache::{CacheKey, KeyKind};
use crate::credential::{Credential, CredentialSource};
use crate::error::Result;
use crate::http::retry;
use crate::protocol::authority::{self, Audience, Endpoint, Tenant};
use crate::protocol::token::TokenResponse;
use crate::settings::{CredentialConfig, Settings};
use url::Url;

/// Everything that identifies one app-only token, with the credential that asks for it.
pub(crate) struct AppToken {
    tenant: Tenant,
    client_id: String,
    endpoint: Endpoint,
    audience: Audience,
    token_url: Url,
    credential: Credential,
}

impl AppToken {
    /// Checks the configuration (tenant, client ID, then the credential: exit 2 when missing or
    /// unusable). Sends nothing.
    pub(crate) fn prepare(
        settings: &Settings,
        credential: &CredentialConfig,
        source: CredentialSource,
        endpoint: Endpoint,
        audience: Audience,
    ) -> Result<AppToken> {
        let tenant = settings.require_tenant()?.clone();
        let client_id = settings.require_client_id()?.to_string();
        authority::check_app_only(&tenant, &audience)?;
        let credential = credential.load_client_source(source, &client_id)?;
        let token_url = authority::token_url(&settings.authority, &tenant, endpoint);
        Ok(AppToken {
            tenant,
            client_id,
            endpoint,
            audience,
            token_url,
            credential,
        })
    }

    /// The cache key: every field of the request, and the credential's fingerprint.
    pub(crate) fn cache_key(&self, settings: &Settings) -> CacheKey {
        CacheKey {
            kind: KeyKind::App,
            authority: settings.authority.as_str().trim_end_matches('/').to_string(),
            tenant: self.tenant.as_str().to_string(),
            client_id: self.client_id.to_ascii_lowercase(),
            credential: self.credential.fingerprint(),
            endpoint: self.endpoint.label().into(),
            audience: match &self.audience {
                Audience::Scope(s) => format!("scope:{s}"),
                Audience::Resource(r) => format!("resource:{r}"),
            },
            account: None,
        }
    }

    /// One client-credentials token request (retried on 429/5xx within `--timeout`).
    pub(crate) async fn fetch(&self, settings: &Settings) -> Result<TokenResponse> {
        let mut form = vec![
            field("grant_type", "client_credentials"),
            field("client_id", &self.client_id),
        ];
        match &self.audience {
            Audience::Scope(s) => form.push(field("scope", s)),
            Audience::Resource(r) => form.push(field("resource", r)),
        }
        request::request_token(
            settings,
            &self.token_url,
            form,
            Some(&self.credential),
            &retry::Policy::token(),
        )
        .await
    }
}
