//! Delegated (user) tokens shared by `login`, `redeem`, `get --user` and `logout`: the one-shot
//! token request of the user grants, the signed-in accounts kept in the cache (a `refresh` entry
//! per account holding its refresh token, `user` entries holding access tokens, both keyed by
//! account), refresh-token redemption with rotation, and sign-out. A refresh token is never
//! printed or logged.

use crate::cache::{Cache, CacheKey, CachedToken, Meta, file};
use crate::cli::{GetArgs, LogoutArgs};
use crate::commands::get;
use crate::credential::{self, Credential};
use crate::error::{Error, Result};
use crate::http::{self, Deadline, Http, Request};
use crate::log;
use crate::protocol::authority::{self, Audience, Endpoint, Tenant};
use crate::protocol::authorize::{Account, with_oidc_scopes};
use crate::protocol::token::{self, TokenResponse};
use crate::secret::Secret;
use crate::settings::Settings;
use url::Url;

/// How long a stored refresh token is presumed usable (Entra's default sliding lifetime).
const REFRESH_LIFETIME: i64 = 90 * 24 * 3600;

/// Form fields of a token request.
pub type Form = Vec<(String, Secret<String>)>;

pub fn field(name: &str, value: &str) -> (String, Secret<String>) {
    (name.to_string(), Secret::new(value.to_string()))
}

/// One token request of a user grant, authenticated by `credential` when there is one (a public
/// client sends none). `policy` is [`http::retry::Policy::never`] for anything single-use.
pub async fn token_request(
    settings: &Settings,
    token_url: &Url,
    mut form: Form,
    credential: Option<&Credential>,
    policy: &http::retry::Policy,
) -> Result<TokenResponse> {
    let reply = send_form(settings, token_url, &mut form, credential, policy).await?;
    token::classify(reply.status, reply.content_type(), &reply.body, crate::app::now())
}

/// Sends a form POST (adding client authentication) and returns the raw reply.
pub async fn send_form(
    settings: &Settings,
    url: &Url,
    form: &mut Form,
    credential: Option<&Credential>,
    policy: &http::retry::Policy,
) -> Result<http::Reply> {
    let http = Http::new(settings.timeout)?;
    let base = std::mem::take(form);
    // Each attempt carries fresh credential fields (a client assertion is single-use).
    let build = || -> http::BuiltRequest<'_> {
        let mut form = base.clone();
        Box::pin(async move {
            if let Some(c) = credential {
                form.extend(c.auth_fields(url).await?);
            }
            Ok(Request::post_form(url.clone(), form))
        })
    };
    http.send_rebuilt(&build, policy, Deadline::after(settings.timeout), http::TOKEN_REPLY_CAP)
        .await
}

/// The tenant segment for user sign-in: the configured tenant, else `organizations`.
pub fn sign_in_tenant(settings: &Settings) -> Tenant {
    settings
        .tenant
        .as_ref()
        .map(|(t, _)| t.clone())
        .unwrap_or_else(|| Tenant::Multi("organizations".into()))
}

fn authority_label(settings: &Settings) -> String {
    settings.authority.as_str().trim_end_matches('/').to_string()
}

/// The key of an account's refresh token. The credential is not part of it: the client
/// authenticates with whatever credential is configured when the token is used.
pub fn refresh_key(settings: &Settings, tenant: &str, client_id: &str, upn: &str) -> CacheKey {
    CacheKey {
        kind: "refresh".into(),
        authority: authority_label(settings),
        tenant: tenant.to_string(),
        client_id: client_id.to_ascii_lowercase(),
        credential: String::new(),
        endpoint: "v2".into(),
        audience: String::new(),
        account: Some(upn.to_ascii_lowercase()),
    }
}

/// The key of an account's access token for `scope`.
pub fn user_key(refresh: &CacheKey, scope: &str) -> CacheKey {
    CacheKey {
        kind: "user".into(),
        audience: format!("scope:{scope}"),
        ..refresh.clone()
    }
}

/// Stores what a sign-in or redemption returned: the account's refresh token (when one came
/// back) and, for v2 `scope` requests, the access token as a `user` entry. Returns the account.
pub fn store_user_tokens(
    cache: &Cache,
    settings: &Settings,
    tenant: &str,
    client_id: &str,
    scope: Option<&str>,
    resp: &TokenResponse,
) -> Option<Account> {
    let account = Account::from_tokens(&[
        resp.id_token.as_ref().map(|t| t.expose().as_str()),
        Some(resp.access_token.expose().as_str()),
    ]);
    let Some(account) = account else {
        log::warn(
            "the reply names no user (no id_token and no upn claim): the tokens were not stored for `get --user`",
        );
        return None;
    };
    let now = crate::app::now();
    let rkey = refresh_key(settings, tenant, client_id, &account.upn);
    if let Some(rt) = &resp.refresh_token {
        cache.put(&CachedToken {
            meta: Meta {
                key: rkey.clone(),
                expires_on: now + REFRESH_LIFETIME,
                refresh_on: None,
                token_type: "refresh_token".into(),
                tid: account.tid.clone(),
                oid: account.oid.clone(),
                scope: resp.scope.clone(),
                resource: resp.resource.clone(),
                stored_at: now,
            },
            access_token: None,
            refresh_token: Some(rt.clone()),
        });
    }
    if let Some(scope) = scope {
        let mut t = get::to_cached(user_key(&rkey, scope), clone_response(resp), now);
        t.refresh_token = None;
        t.meta.oid = account.oid.clone();
        cache.put(&t);
    }
    Some(account)
}

fn clone_response(r: &TokenResponse) -> TokenResponse {
    TokenResponse {
        access_token: r.access_token.clone(),
        token_type: r.token_type.clone(),
        expires_on: r.expires_on,
        refresh_on: r.refresh_on,
        refresh_token: None,
        id_token: None,
        scope: r.scope.clone(),
        resource: r.resource.clone(),
    }
}

/// Signed-in accounts (their `refresh` entries) for this authority and client, and for the
/// configured tenant when it is a specific one.
pub fn accounts(cache: &Cache, settings: &Settings, client_id: &str) -> Vec<Meta> {
    let Some(dir) = cache.dir.as_ref() else {
        return Vec::new();
    };
    let authority = authority_label(settings);
    let client = client_id.to_ascii_lowercase();
    let tenant = settings.tenant.as_ref().map(|(t, _)| t).filter(|t| !t.is_multi());
    let mut out: Vec<Meta> = file::list(dir)
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| {
            m.key.kind == "refresh"
                && m.key.authority == authority
                && m.key.client_id == client
                && tenant.is_none_or(|t| m.key.tenant == t.as_str() || m.tid.as_deref() == Some(t.as_str()))
        })
        .collect();
    out.sort_by(|a, b| a.key.account.cmp(&b.key.account));
    out.dedup_by(|a, b| a.key == b.key);
    out
}

fn names(list: &[Meta]) -> String {
    list.iter()
        .filter_map(|m| m.key.account.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the signed-in account for `get --user [--account UPN]`.
fn choose_account(list: Vec<Meta>, wanted: Option<&str>) -> Result<Meta> {
    match wanted {
        Some(upn) => {
            let want = upn.trim().to_ascii_lowercase();
            let known = names(&list);
            list.into_iter()
                .find(|m| m.key.account.as_deref() == Some(want.as_str()))
                .ok_or_else(|| {
                    Error::usage(format!("account '{upn}' is not signed in")).hint(if known.is_empty() {
                        "run `entra-token login` first".to_string()
                    } else {
                        format!("signed-in accounts: {known}; or run `entra-token login`")
                    })
                })
        }
        None => match list.len() {
            0 => Err(Error::usage("no account is signed in for this app")
                .hint("run `entra-token login` (or `entra-token login --device-code`) first")),
            1 => Ok(list.into_iter().next().expect("one")),
            _ => Err(
                Error::usage("several accounts are signed in: choose one with --account UPN")
                    .hint(format!("signed-in accounts: {}", names(&list))),
            ),
        },
    }
}

/// `get --user`: a delegated token from the cache, or from the account's refresh token (no
/// browser). A new refresh token replaces the stored one.
pub fn get_user(settings: &Settings, args: &GetArgs) -> Result<()> {
    if args.v1 {
        return Err(Error::usage(
            "--user tokens come from the v2 endpoint: use --scope (or --resource) without --v1",
        ));
    }
    let Audience::Scope(scope) =
        get::audience(settings, Endpoint::V2, args.scope.as_deref(), args.resource.as_deref())?
    else {
        return Err(Error::internal("v2 audience is a scope"));
    };
    let source = UserTokenSource::prepare(settings, &args.credential, scope, args.account.as_deref())?;
    let token = source.token(args.min_validity as i64, args.force_refresh)?;
    get::print_cached(args.output, &token)
}

/// One signed-in account's delegated token for one scope, prepared once (cache, account,
/// credential, key) and asked for as often as needed: `get --user` asks once; `api --user` asks
/// again when the token runs out mid-run.
pub struct UserTokenSource<'s> {
    settings: &'s Settings,
    cache: Cache,
    account: Meta,
    scope: String,
    credential: Option<Credential>,
    key: CacheKey,
}

impl<'s> UserTokenSource<'s> {
    /// Finds the account (`--account` when several are signed in) and loads the optional client
    /// credential. Sends nothing.
    pub fn prepare(
        settings: &'s Settings,
        credential: &crate::cli::CredentialArgs,
        scope: String,
        account: Option<&str>,
    ) -> Result<UserTokenSource<'s>> {
        let client_id = settings.require_client_id()?.to_string();
        let cache = Cache::open(settings.cache_mode)?;
        log::info(format!("cache: {}", cache.reason));
        if cache.dir.is_none() {
            return Err(
                Error::usage("--user needs the token cache, and it is off (--cache none)")
                    .hint("signed-in accounts live in the cache: use --cache auto or file"),
            );
        }
        let account = choose_account(accounts(&cache, settings, &client_id), account)?;
        let credential = credential::optional_from_settings(credential, settings, &client_id)?;
        let key = user_key(&account.key, &scope);
        Ok(UserTokenSource {
            settings,
            cache,
            account,
            scope,
            credential,
            key,
        })
    }

    /// A token valid for `min_validity` more seconds, from the cache or the refresh token.
    pub fn token(&self, min_validity: i64, force: bool) -> Result<CachedToken> {
        get::cached_or_fetch(self.settings, &self.cache, &self.key, min_validity, force, || {
            crate::app::block_on(self.refresh())
        })
    }

    /// [`UserTokenSource::token`] for callers already inside the runtime (`api --user`); also
    /// says whether the token came from the cache (`true`) or was fetched just now.
    pub async fn token_async(&self, min_validity: i64, force: bool) -> Result<(CachedToken, bool)> {
        match get::lookup(self.settings, &self.cache, &self.key, min_validity, force) {
            get::Lookup::Hit(t) => Ok((*t, true)),
            get::Lookup::Miss(_lock) => {
                let resp = self.refresh().await?;
                Ok((get::store(&self.cache, &self.key, resp), false))
            }
        }
    }

    async fn refresh(&self) -> Result<TokenResponse> {
        refresh(
            self.settings,
            &self.cache,
            &self.account,
            &self.scope,
            self.credential.as_ref(),
        )
        .await
    }
}

/// The refresh-token grant for `account`; stores the rotated refresh token and returns the reply
/// without it (the `user` entry never holds a refresh token).
async fn refresh(
    settings: &Settings,
    cache: &Cache,
    account: &Meta,
    scope: &str,
    credential: Option<&Credential>,
) -> Result<TokenResponse> {
    let stored = cache.get(&account.key).and_then(|t| t.refresh_token).ok_or_else(|| {
        Error::usage(format!(
            "the refresh token of {} could not be read from the cache",
            account.key.account.as_deref().unwrap_or("the account")
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
        field("scope", &with_oidc_scopes(scope)),
    ];
    let mut resp = token_request(settings, &token_url, form, credential, &http::retry::Policy::token()).await?;
    if let Some(new_rt) = resp.refresh_token.take() {
        let now = crate::app::now();
        let mut meta = account.clone();
        meta.stored_at = now;
        meta.expires_on = now + REFRESH_LIFETIME;
        cache.put(&CachedToken {
            meta,
            access_token: None,
            refresh_token: Some(new_rt),
        });
        log::info("stored the new refresh token (rotation)");
    }
    resp.id_token = None;
    Ok(resp)
}

/// `logout [--account UPN]`: removes the account's `refresh` and `user` entries (every account's
/// without `--account`).
pub fn logout(settings: &Settings, args: &LogoutArgs) -> Result<()> {
    let cache = Cache::open(settings.cache_mode)?;
    let Some(dir) = cache.dir.as_ref() else {
        eprintln!("the cache is off: nothing to sign out");
        return Ok(());
    };
    let want = args.account.as_deref().map(|a| a.trim().to_ascii_lowercase());
    let mut accounts: Vec<String> = Vec::new();
    let mut removed = 0usize;
    for (path, m) in file::list(dir) {
        if m.key.kind != "refresh" && m.key.kind != "user" {
            continue;
        }
        let Some(acct) = m.key.account.clone() else { continue };
        if want.as_deref().is_some_and(|w| w != acct) {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            removed += 1;
            if !accounts.contains(&acct) {
                accounts.push(acct);
            }
        }
    }
    match (accounts.is_empty(), &args.account) {
        (true, Some(a)) => eprintln!("{a} is not signed in: nothing removed"),
        (true, None) => eprintln!("no account is signed in: nothing removed"),
        (false, _) => eprintln!(
            "signed out {} ({removed} cache entr{} removed)",
            accounts.join(", "),
            if removed == 1 { "y" } else { "ies" }
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(upn: &str) -> Meta {
        Meta {
            key: CacheKey {
                kind: "refresh".into(),
                authority: "a".into(),
                tenant: "t".into(),
                client_id: "c".into(),
                credential: String::new(),
                endpoint: "v2".into(),
                audience: String::new(),
                account: Some(upn.into()),
            },
            expires_on: 0,
            refresh_on: None,
            token_type: "refresh_token".into(),
            tid: None,
            oid: None,
            scope: None,
            resource: None,
            stored_at: 0,
        }
    }

    #[test]
    fn choosing_an_account() {
        assert_eq!(choose_account(vec![], None).unwrap_err().exit_code(), 2);
        assert!(
            choose_account(vec![], None)
                .unwrap_err()
                .render()
                .contains("entra-token login")
        );
        let one = choose_account(vec![meta("a@x")], None).unwrap();
        assert_eq!(one.key.account.as_deref(), Some("a@x"));
        let several = choose_account(vec![meta("a@x"), meta("b@x")], None).unwrap_err();
        assert!(several.render().contains("a@x, b@x") && several.render().contains("--account"));
        let b = choose_account(vec![meta("a@x"), meta("b@x")], Some("B@X")).unwrap();
        assert_eq!(b.key.account.as_deref(), Some("b@x"));
        assert_eq!(
            choose_account(vec![meta("a@x")], Some("c@x")).unwrap_err().exit_code(),
            2
        );
    }

    #[test]
    fn user_keys_differ_by_scope_and_account() {
        let r = meta("a@x").key;
        assert_ne!(user_key(&r, "s1").stem(), user_key(&r, "s2").stem());
        assert_ne!(user_key(&r, "s1").stem(), r.stem());
        assert_eq!(user_key(&r, "s1").kind, "user");
    }
}
