//! `get`: an app-only (client credentials) access token, printed in the chosen format. Served
//! from the cache when fresh (no network, no TLS, no runtime); otherwise one HTTP request per
//! token — the token URL is built, not discovered — under a per-key cross-process lock so that
//! concurrent cold `get`s make a single request. [`AppTokenSource`] is that path as a value, so
//! `api` gets its tokens exactly the way `get` does. `--user` (delegated tokens) is in `user.rs`.

use crate::cache::{self, Cache, CacheKey, CachedToken, Freshness, Meta};
use crate::cli::{CredentialArgs, GetArgs, OutputFormat};
use crate::credential::{self, Credential};
use crate::error::{Error, Result};
use crate::http::{self, Deadline, Http, Request};
use crate::log;
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
    if args.user {
        return crate::commands::user::get_user(settings, args);
    }
    let endpoint = if args.v1 || settings.profile.v1.unwrap_or(false) {
        Endpoint::V1
    } else {
        Endpoint::V2
    };
    let audience = audience(settings, endpoint, args.scope.as_deref(), args.resource.as_deref())?;
    let source = AppTokenSource::prepare(settings, &args.credential, endpoint, audience)?;
    let token = source.token(args.min_validity as i64, args.force_refresh)?;
    print_cached(args.output, &token)
}

/// One app-only token, prepared once (credential, token URL, cache and key) and asked for as
/// often as needed: `get` asks once; `api` asks again when the token runs out mid-run.
pub struct AppTokenSource<'s> {
    settings: &'s Settings,
    credential: Credential,
    req: AppTokenRequest,
    cache: Cache,
    key: CacheKey,
}

impl<'s> AppTokenSource<'s> {
    /// Checks the configuration (tenant, client ID, credential: exit 2 when missing) and opens
    /// the cache. Sends nothing.
    pub fn prepare(
        settings: &'s Settings,
        credential: &CredentialArgs,
        endpoint: Endpoint,
        audience: Audience,
    ) -> Result<AppTokenSource<'s>> {
        let tenant = settings.require_tenant()?.clone();
        let client_id = settings.require_client_id()?.to_string();
        authority::check_app_only(&tenant, &audience)?;
        let credential = credential::from_settings(credential, settings, &client_id)?;
        let token_url = authority::token_url(&settings.authority, &tenant, endpoint);
        let req = AppTokenRequest {
            tenant,
            client_id,
            endpoint,
            audience,
            token_url,
        };
        let cache = Cache::open(settings.cache_mode)?;
        log::info(format!("cache: {}", cache.reason));
        let key = app_cache_key(settings, &credential, &req);
        Ok(AppTokenSource {
            settings,
            credential,
            req,
            cache,
            key,
        })
    }

    pub fn audience(&self) -> &Audience {
        &self.req.audience
    }

    /// A token valid for `min_validity` more seconds, from the cache or Entra (`force`: skip
    /// the cache read). Blocking: an async runtime is started only on a miss.
    pub fn token(&self, min_validity: i64, force: bool) -> Result<CachedToken> {
        cached_or_fetch(self.settings, &self.cache, &self.key, min_validity, force, || {
            crate::app::block_on(acquire_app_token(self.settings, &self.credential, &self.req))
        })
    }

    /// [`AppTokenSource::token`] for callers already inside the runtime (`api`); also says
    /// whether the token came from the cache (`true`) or was fetched just now.
    pub async fn token_async(&self, min_validity: i64, force: bool) -> Result<(CachedToken, bool)> {
        match lookup(self.settings, &self.cache, &self.key, min_validity, force) {
            Lookup::Hit(t) => Ok((*t, true)),
            Lookup::Miss(_lock) => {
                let resp = acquire_app_token(self.settings, &self.credential, &self.req).await?;
                Ok((store(&self.cache, &self.key, resp), false))
            }
        }
    }
}

pub fn app_cache_key(settings: &Settings, credential: &Credential, req: &AppTokenRequest) -> CacheKey {
    CacheKey {
        kind: "app".into(),
        authority: settings.authority.as_str().trim_end_matches('/').to_string(),
        tenant: req.tenant.as_str().to_string(),
        client_id: req.client_id.to_ascii_lowercase(),
        credential: credential.fingerprint(),
        endpoint: req.endpoint.label().into(),
        audience: match &req.audience {
            Audience::Scope(s) => format!("scope:{s}"),
            Audience::Resource(r) => format!("resource:{r}"),
        },
        account: None,
    }
}

/// Serves a fresh cached token, or takes the per-key lock, checks again (another process may have
/// just fetched it), fetches, and stores. A failed fetch leaves the cache as it was.
pub fn cached_or_fetch(
    settings: &Settings,
    cache: &Cache,
    key: &CacheKey,
    min_validity: i64,
    force: bool,
    fetch: impl FnOnce() -> Result<TokenResponse>,
) -> Result<CachedToken> {
    match lookup(settings, cache, key, min_validity, force) {
        Lookup::Hit(t) => Ok(*t),
        Lookup::Miss(_lock) => Ok(store(cache, key, fetch()?)),
    }
}

/// The first half of [`cached_or_fetch`]: a fresh entry, or the per-key lock to hold while the
/// caller fetches (sync or async) and then calls [`store`].
pub enum Lookup {
    Hit(Box<CachedToken>),
    Miss(Option<cache::file::KeyLock>),
}

pub fn lookup(settings: &Settings, cache: &Cache, key: &CacheKey, min_validity: i64, force: bool) -> Lookup {
    let now = crate::app::now();
    if !force && let Some(t) = fresh(cache, key, now, min_validity) {
        return Lookup::Hit(Box::new(t));
    }
    if force {
        log::info("cache: skipped (--force-refresh)");
    }
    let lock = cache.lock(key, settings.timeout);
    if !force && let Some(t) = fresh(cache, key, crate::app::now(), min_validity) {
        log::info("cache: filled by another process while waiting for the lock");
        return Lookup::Hit(Box::new(t));
    }
    Lookup::Miss(lock)
}

/// The second half of [`cached_or_fetch`]: a token reply into the cache.
pub fn store(cache: &Cache, key: &CacheKey, resp: TokenResponse) -> CachedToken {
    let token = to_cached(key.clone(), resp, crate::app::now());
    cache.put(&token);
    token
}

fn fresh(cache: &Cache, key: &CacheKey, now: i64, min_validity: i64) -> Option<CachedToken> {
    let entry = cache.get(key);
    match cache::check_fresh(entry.as_ref().map(|e| &e.meta), now, min_validity, false) {
        Freshness::Fresh if entry.as_ref().is_some_and(|e| e.access_token.is_some()) => {
            let e = entry.expect("checked");
            log::info(format!(
                "cache: hit ({} store), valid for {} s more",
                cache.backend.name(),
                e.meta.expires_on - now
            ));
            Some(e)
        }
        Freshness::Fresh => None,
        Freshness::Stale(why) => {
            log::info(format!("cache: miss ({why:?})"));
            None
        }
    }
}

/// A token reply as a cache entry (`tid` from the token, else the tenant as configured).
pub fn to_cached(key: CacheKey, resp: TokenResponse, now: i64) -> CachedToken {
    let tid = jwt::decode(resp.access_token.expose())
        .and_then(|d| jwt::claim_str(&d.claims, "tid").map(str::to_string))
        .or_else(|| Some(key.tenant.clone()));
    CachedToken {
        meta: Meta {
            key,
            expires_on: resp.expires_on,
            refresh_on: resp.refresh_on,
            token_type: resp.token_type.clone(),
            tid,
            oid: None,
            scope: resp.scope.clone(),
            resource: resp.resource.clone(),
            stored_at: now,
        },
        access_token: Some(resp.access_token.clone()),
        refresh_token: resp.refresh_token.clone(),
    }
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
    // Each attempt (a retry after 429/5xx included) carries fresh credential fields.
    let build = || -> http::BuiltRequest<'_> {
        let form = form.clone();
        Box::pin(async move {
            let mut form = form;
            form.extend(credential.auth_fields(&req.token_url).await?);
            Ok(Request::post_form(req.token_url.clone(), form))
        })
    };
    let reply = http
        .send_rebuilt(&build, &http::retry::Policy::token(), deadline, http::TOKEN_REPLY_CAP)
        .await?;
    token::classify(reply.status, reply.content_type(), &reply.body, crate::app::now())
}

pub fn print_cached(format: OutputFormat, token: &CachedToken) -> Result<()> {
    let at = token
        .access_token
        .as_ref()
        .ok_or_else(|| Error::internal("cache entry without an access token"))?;
    output::token(
        format,
        &TokenOutput {
            token: at.expose(),
            expires_on: token.meta.expires_on,
            tenant: token.meta.tid.clone(),
            token_type: &token.meta.token_type,
            scope: token.meta.scope.as_deref(),
            resource: token.meta.resource.as_deref(),
            extra: None,
        },
    )
}
