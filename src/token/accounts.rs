//! The account store: signed-in accounts live in the cache as a `refresh` entry per account
//! (its refresh token) and `user` entries (its access tokens, one per scope), all keyed by the
//! account. Sign-in stores them, `get --user` picks one, `logout` removes them. A refresh token is
//! never printed or logged.

use super::single_flight;
use crate::cache::{Cache, CacheKey, CachedToken, KeyKind, Meta, file};
use crate::error::{Error, Result};
use crate::log;
use crate::protocol::token::{Account, TokenResponse};
use crate::rt;
use crate::settings::Settings;
use std::path::Path;

/// How long a stored refresh token is presumed usable (Entra's default sliding lifetime).
pub(crate) const REFRESH_LIFETIME: i64 = 90 * 24 * 3600;

fn authority_label(settings: &Settings) -> String {
    settings.authority.as_str().trim_end_matches('/').to_string()
}

/// The key of an account's refresh token. The credential is not part of it: the client
/// authenticates with whatever credential is configured when the token is used.
pub(crate) fn refresh_key(settings: &Settings, tenant: &str, client_id: &str, upn: &str) -> CacheKey {
    CacheKey {
        kind: KeyKind::Refresh,
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
pub(crate) fn user_key(refresh: &CacheKey, scope: &str) -> CacheKey {
    CacheKey {
        kind: KeyKind::User,
        audience: format!("scope:{scope}"),
        ..refresh.clone()
    }
}

/// Stores what a sign-in or redemption returned: the account's refresh token (when one came
/// back) and, for v2 `scope` requests, the access token as a `user` entry. Returns the account.
pub(crate) fn store_sign_in(
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
    let now = rt::now();
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
        let mut t = single_flight::entry(user_key(&rkey, scope), access_part(resp), now);
        t.meta.oid = account.oid.clone();
        cache.put(&t);
    }
    Some(account)
}

/// The access-token part of a reply (a `user` entry never holds a refresh token).
fn access_part(r: &TokenResponse) -> TokenResponse {
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

/// Stores a rotated refresh token in place of the account's old one.
pub(crate) fn store_rotated(cache: &Cache, account: &Meta, refresh_token: crate::secret::Secret<String>) {
    let now = rt::now();
    let mut meta = account.clone();
    meta.stored_at = now;
    meta.expires_on = now + REFRESH_LIFETIME;
    cache.put(&CachedToken {
        meta,
        access_token: None,
        refresh_token: Some(refresh_token),
    });
    log::info("stored the new refresh token (rotation)");
}

/// Signed-in accounts (their `refresh` entries) for this authority and client, and for the
/// configured tenant when it is a specific one.
pub(crate) fn signed_in(cache: &Cache, settings: &Settings, client_id: &str) -> Vec<Meta> {
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
            m.key.kind == KeyKind::Refresh
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

/// Picks the signed-in account for `--user [--account UPN]`.
pub(crate) fn choose(list: Vec<Meta>, wanted: Option<&str>) -> Result<Meta> {
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

/// What [`sign_out`] removed.
pub(crate) struct SignedOut {
    /// The accounts that had entries, in the order found.
    pub(crate) accounts: Vec<String>,
    /// How many cache entries were removed.
    pub(crate) entries: usize,
}

/// Removes the `refresh` and `user` entries of `account` (of every account when `None`) from the
/// cache directory `dir`.
pub(crate) fn sign_out(dir: &Path, account: Option<&str>) -> SignedOut {
    let want = account.map(|a| a.trim().to_ascii_lowercase());
    let mut out = SignedOut {
        accounts: Vec::new(),
        entries: 0,
    };
    for (name, m) in file::list(dir) {
        if m.key.kind != KeyKind::Refresh && m.key.kind != KeyKind::User {
            continue;
        }
        let Some(acct) = m.key.account.clone() else { continue };
        if want.as_deref().is_some_and(|w| w != acct) {
            continue;
        }
        if file::remove(dir, &[name]) == 1 {
            out.entries += 1;
            if !out.accounts.contains(&acct) {
                out.accounts.push(acct);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(upn: &str) -> Meta {
        Meta {
            key: CacheKey {
                kind: KeyKind::Refresh,
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
        assert_eq!(choose(vec![], None).unwrap_err().exit_code(), 2);
        assert!(choose(vec![], None).unwrap_err().render().contains("entra-token login"));
        let one = choose(vec![meta("a@x")], None).unwrap();
        assert_eq!(one.key.account.as_deref(), Some("a@x"));
        let several = choose(vec![meta("a@x"), meta("b@x")], None).unwrap_err();
        assert!(several.render().contains("a@x, b@x") && several.render().contains("--account"));
        let b = choose(vec![meta("a@x"), meta("b@x")], Some("B@X")).unwrap();
        assert_eq!(b.key.account.as_deref(), Some("b@x"));
        assert_eq!(choose(vec![meta("a@x")], Some("c@x")).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn user_keys_differ_by_scope_and_account() {
        let r = meta("a@x").key;
        assert_ne!(user_key(&r, "s1").stem(), user_key(&r, "s2").stem());
        assert_ne!(user_key(&r, "s1").stem(), r.stem());
        assert_eq!(user_key(&r, "s1").kind, KeyKind::User);
    }
}
