//! The token layer: where every access token comes from. A [`TokenSource`] is prepared once
//! (configuration checked, credential loaded, cache opened: nothing sent) and asked for a token
//! as often as a command needs — from the cache when it is fresh enough (no network, no TLS, no
//! runtime), else from its issuer under single flight ([`single_flight`]). Sources: app-only
//! with a client credential ([`app`]; Azure Pipelines and other federated tokens are client
//! credentials too), a managed identity ([`managed_identity`], never Entra's token endpoint) and
//! a signed-in account's ([`user`], from its refresh token). Sign-in ([`sign_in`], [`code`]) returns the
//! tokens that commands store as a signed-in account ([`accounts`]), which `--user` sources read.
//! Every grant is POSTed by [`request`].

pub(crate) mod accounts;
mod app;
pub(crate) mod code;
mod managed_identity;
mod request;
pub(crate) mod sign_in;
mod single_flight;
mod user;

use crate::cache::{Cache, CacheKey, CachedToken};
use crate::credential::selection::Decision;
use crate::error::Result;
use crate::log;
use crate::protocol::authority::{Audience, Endpoint};
use crate::protocol::token::TokenResponse;
use crate::rt;
use crate::settings::{AppCredential, CredentialConfig, Settings};
use single_flight::{Begun, Slot};

/// Where a token comes from, one variant per kind of source.
enum SourceKind {
    App(Box<app::AppToken>),
    ManagedIdentity(Box<managed_identity::ManagedIdentityToken>),
    User(Box<user::UserToken>),
}

/// A prepared source of tokens: its kind, its cache entry and the settings it runs with.
pub(crate) struct TokenSource<'s> {
    settings: &'s Settings,
    kind: SourceKind,
    cache: Cache,
    key: CacheKey,
    /// How the credential source of an app-only token was chosen.
    decision: Option<Decision>,
}

/// A token, and whether it was served from the cache (it may have been revoked since) rather
/// than fetched just now.
pub(crate) struct Served {
    pub(crate) token: CachedToken,
    pub(crate) from_cache: bool,
}

fn open_cache(settings: &Settings) -> Result<Cache> {
    let cache = Cache::open(&settings.cache)?;
    log::info(format!("cache: {}", cache.reason));
    Ok(cache)
}

impl<'s> TokenSource<'s> {
    /// App-only tokens for `audience` (at `endpoint`, for a client credential), from the
    /// credential source the configuration decides: the app's client credential, or a managed
    /// identity.
    pub(crate) fn app(
        settings: &'s Settings,
        credential: &CredentialConfig,
        endpoint: Endpoint,
        audience: Audience,
    ) -> Result<TokenSource<'s>> {
        let (decision, chosen) = credential.app()?;
        let (kind, key) = match chosen {
            AppCredential::Client(source) => {
                let app = app::AppToken::prepare(settings, credential, source, endpoint, audience)?;
                let key = app.cache_key(settings);
                (SourceKind::App(Box::new(app)), key)
            }
            AppCredential::ManagedIdentity(source) => {
                let mi = managed_identity::ManagedIdentityToken::prepare(settings, source, &audience)?;
                let key = mi.cache_key();
                (SourceKind::ManagedIdentity(Box::new(mi)), key)
            }
        };
        let cache = open_cache(settings)?;
        Ok(TokenSource {
            settings,
            kind,
            cache,
            key,
            decision: Some(decision),
        })
    }

    /// How the credential source was chosen (app-only tokens).
    pub(crate) fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// The managed-identity source (`imds`, `app-service`, …) when a managed identity serves.
    pub(crate) fn managed_identity_source(&self) -> Option<&'static str> {
        match &self.kind {
            SourceKind::ManagedIdentity(mi) => Some(mi.source().as_str()),
            _ => None,
        }
    }

    /// A signed-in account's delegated tokens for `scope` (`account`: which one, when several
    /// are signed in), with the client credential when one is configured.
    pub(crate) fn user(
        settings: &'s Settings,
        credential: &CredentialConfig,
        scope: String,
        account: Option<&str>,
    ) -> Result<TokenSource<'s>> {
        let client_id = settings.require_client_id()?.to_string();
        let cache = open_cache(settings)?;
        let user = user::UserToken::prepare(settings, credential, &cache, &client_id, scope, account)?;
        let key = user.cache_key();
        Ok(TokenSource {
            settings,
            kind: SourceKind::User(Box::new(user)),
            cache,
            key,
            decision: None,
        })
    }

    fn slot(&self) -> Slot<'_> {
        Slot {
            cache: &self.cache,
            key: &self.key,
            lock_wait: self.settings.timeout,
            account: match &self.kind {
                SourceKind::User(user) => Some(user.account()),
                _ => None,
            },
        }
    }

    async fn fetch(&self) -> Result<TokenResponse> {
        match &self.kind {
            SourceKind::App(app) => app.fetch(self.settings).await,
            SourceKind::ManagedIdentity(mi) => mi.fetch(self.settings).await,
            SourceKind::User(user) => user.fetch(self.settings, &self.cache).await,
        }
    }

    /// A token valid for `min_validity` more seconds (`force`: skip the cache read). Blocking:
    /// an async runtime is started only on a miss.
    pub(crate) fn token(&self, min_validity: i64, force: bool) -> Result<CachedToken> {
        let slot = self.slot();
        match single_flight::begin(&slot, min_validity, force) {
            Begun::Hit(t) => Ok(*t),
            Begun::Miss(fetch) => Ok(fetch.store(rt::block_on(self.fetch())?)),
        }
    }

    /// [`TokenSource::token`] for callers already inside the runtime (`api`).
    pub(crate) async fn token_async(&self, min_validity: i64, force: bool) -> Result<Served> {
        let slot = self.slot();
        match single_flight::begin(&slot, min_validity, force) {
            Begun::Hit(t) => Ok(Served {
                token: *t,
                from_cache: true,
            }),
            Begun::Miss(fetch) => Ok(Served {
                token: fetch.store(self.fetch().await?),
                from_cache: false,
            }),
        }
    }
}
