//! Delegated tokens of a signed-in account (`get --user`, `api --user`): from the cache, or from
//! the account's refresh token (no browser). A new refresh token replaces the stored one.

use super::accounts;
use super::request::{self, field};
use crate::cache::{Cache, CacheKey, Meta};
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::http::retry;
use crate::protocol::authority::{self, Tenant};
use crate::protocol::authorize::with_oidc_scopes;
use crate::protocol::token::TokenResponse;
use crate::settings::{CredentialConfig, Settings};

/// One signed-in account's token for one scope, with the optional client credential.
pub(crate) struct UserToken {
    account: Meta,
    scope: String,
    credential: Option<Credential>,
}

impl UserToken {
    /// Finds the account of app `client_id` in `cache` (`--account` when several are signed in)
    /// and loads the optional client credential. Sends nothing.
    pub(crate) fn prepare(
        settings: &Settings,
        credential: &CredentialConfig,
        cache: &Cache,
        client_id: &str,
        scope: String,
        account: Option<&str>,
    ) -> Result<UserToken> {
        if cache.dir.is_none() {
            return Err(
                Error::usage("--user needs the token cache, and it is off (--cache none)")
                    .hint("signed-in accounts live in the cache: use --cache auto or file"),
            );
        }
        let account = accounts::choose(accounts::signed_in(cache, settings, client_id), account)?;
        let credential = credential.load_client(client_id)?;
        Ok(UserToken {
            account,
            scope,
            credential,
        })
    }

    /// The account's `refresh` entry.
    pub(crate) fn account(&self) -> &Meta {
        &self.account
    }

    pub(crate) fn cache_key(&self) -> CacheKey {
        accounts::user_key(&self.account.key, &self.scope)
    }

    /// The refresh-token grant for the account; stores the rotated refresh token and returns the
    /// reply without it (the `user` entry never holds a refresh token).
    pub(crate) async fn fetch(&self, settings: &Settings, cache: &Cache) -> Result<TokenResponse> {
        let account = &self.account;
        let stored = cache.get(&account.key).and_then(|t| t.refresh_token).ok_or_else(|| {
            Error::usage(format!(
                "the refresh token of {} could not be read from the cache",
                accounts::label(account)
            ))
            .hint("run `entra-token login` again")
        })?;
        // A sign-in at common/organizations is refreshed at the user's own tenant.
        let tenant = match Tenant::parse(&account.key.tenant) {
            Ok(t) if !t.is_multi() => account.key.tenant.clone(),
            _ => account.tid.clone().unwrap_or_else(|| account.key.tenant.clone()),
        };
        let token_url = authority::join(&settings.authority, &tenant, "oauth2/v2.0/token");
        let form = vec![
            field("grant_type", "refresh_token"),
            field("client_id", &account.key.client_id),
            ("refresh_token".to_string(), stored),
            field("scope", &with_oidc_scopes(&self.scope)),
        ];
        let mut resp = request::request_token(
            settings,
            &token_url,
            form,
            self.credential.as_ref(),
            &retry::Policy::token(),
        )
        .await?;
        if let Some(new_rt) = resp.refresh_token.take() {
            accounts::store_rotated(cache, account, new_rt);
        }
        resp.id_token = None;
        Ok(resp)
    }
}
