//! The account store: signed-in accounts live in the cache as a `refresh` entry per account
//! (its refresh token) and `user` entries (its access tokens, one per scope), all keyed by the
//! account — its object id and tenant (`oid.tid`, the OpenID `sub` where there is no `oid`),
//! under its own tenant whatever tenant string the sign-in used — and labelled by its user name
//! when it has one. Sign-in stores them, `get --user` picks one (`--account` matches a label or
//! an object id), `logout` removes them. Entries written when the key was the user name are read
//! as they are. A refresh token is never printed or logged.

use super::single_flight;
use crate::cache::{Cache, CacheKey, CachedToken, KeyKind, Meta, file};
use crate::error::{Error, Result};
use crate::log;
use crate::protocol::authority::Tenant;
use crate::protocol::token::{Account, TokenResponse};
use crate::rt;
use crate::settings::Settings;
use std::path::Path;

/// How long a stored refresh token is presumed usable (Entra's default sliding lifetime).
pub(crate) const REFRESH_LIFETIME: i64 = 90 * 24 * 3600;

fn authority_label(settings: &Settings) -> String {
    settings.authority.as_str().trim_end_matches('/').to_string()
}

/// The key of an account's refresh token (`account`: [`Account::key`]). The credential is not
/// part of it: the client authenticates with whatever credential is configured when the token
/// is used.
pub(crate) fn refresh_key(settings: &Settings, tenant: &str, client_id: &str, account: &str) -> CacheKey {
    CacheKey {
        kind: KeyKind::Refresh,
        authority: authority_label(settings),
        tenant: tenant.to_string(),
        client_id: client_id.to_ascii_lowercase(),
        credential: String::new(),
        endpoint: "v2".into(),
        audience: String::new(),
        account: Some(account.to_string()),
    }
}

/// The name of a stored account: its label, else its key's account (the user name, for entries
/// written before labels were kept; the id otherwise).
pub(crate) fn label(m: &Meta) -> &str {
    m.label.as_deref().or(m.key.account.as_deref()).unwrap_or("the account")
}

/// Whether `wanted` (`--account`) names the stored account: its label, object id or key.
fn names_account(m: &Meta, wanted: &str) -> bool {
    let w = wanted.trim();
    label(m).eq_ignore_ascii_case(w)
        || m.oid.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(w))
        || m.key.account.as_deref() == Some(w)
}

/// Who the account is, to tell two entries of the same account apart from two accounts: its
/// object id and tenant where known (entries of any age have them), else its key.
fn identity(m: &Meta) -> (String, String) {
    match (&m.oid, &m.tid) {
        (Some(o), Some(t)) => (o.to_ascii_lowercase(), t.to_ascii_lowercase()),
        _ => (m.key.account.clone().unwrap_or_default(), m.key.tenant.clone()),
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
            "the reply identifies no user (no id_token with an oid or sub claim): the tokens were not stored for `get --user`",
        );
        return None;
    };
    let now = rt::now();
    // the account's own tenant, not `organizations` or `common`
    let tenant = account.tid.as_deref().unwrap_or(tenant);
    let rkey = refresh_key(settings, tenant, client_id, &account.key());
    if let Some(dir) = cache.dir.as_deref() {
        forget_older_entries(dir, &rkey, &account);
    }
    if let Some(rt) = &resp.refresh_token {
        cache.put(&CachedToken {
            meta: Meta {
                key: rkey.clone(),
                expires_on: now + REFRESH_LIFETIME,
                refresh_on: None,
                token_type: "refresh_token".into(),
                tid: account.tid.clone(),
                oid: Some(account.id.clone()),
                label: account.label.clone(),
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
        t.meta.oid = Some(account.id.clone());
        t.meta.label = account.label.clone();
        cache.put(&t);
    }
    Some(account)
}

/// Removes the entries a former sign-in of the same account stored under another key (the user
/// name, or the tenant string it signed in with): the new sign-in replaces them.
fn forget_older_entries(dir: &Path, rkey: &CacheKey, account: &Account) {
    let mut older = Vec::new();
    for (name, m) in file::list(dir) {
        let same_account = m.oid.as_deref() == Some(account.id.as_str()) && m.tid.is_some() && m.tid == account.tid;
        if (m.key.kind == KeyKind::Refresh || m.key.kind == KeyKind::User)
            && m.key.authority == rkey.authority
            && m.key.client_id == rkey.client_id
            && same_account
            && (m.key.account != rkey.account || m.key.tenant != rkey.tenant)
        {
            older.push(name);
        }
    }
    // through the cache's own directory handle: only its regular files, never through a link
    file::remove(dir, &older);
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
/// configured tenant when it is a specific one (a domain name cannot be compared with an
/// account's tenant id without asking Entra: then only entries signed in with that name are
/// told apart from the others). One entry per account: the newest.
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
                && tenant.is_none_or(|t| {
                    m.key.tenant.eq_ignore_ascii_case(t.as_str())
                        || m.tid.as_deref().is_some_and(|tid| tid.eq_ignore_ascii_case(t.as_str()))
                        || matches!(t, Tenant::Domain(_))
                })
        })
        .collect();
    // newest first, so that dedup keeps the newest entry of each account
    out.sort_by(|a, b| identity(a).cmp(&identity(b)).then(b.stored_at.cmp(&a.stored_at)));
    out.dedup_by(|a, b| identity(a) == identity(b));
    out.sort_by(|a, b| label(a).cmp(label(b)).then(a.tid.cmp(&b.tid)));
    out
}

fn names(list: &[Meta]) -> String {
    let mut names: Vec<&str> = list.iter().map(label).collect();
    names.dedup();
    names.join(", ")
}

/// `label (tenant T)` for each account, when a label is ambiguous.
fn names_with_tenants(list: &[&Meta]) -> String {
    list.iter()
        .map(|m| {
            format!(
                "{} (tenant {}, oid {})",
                label(m),
                m.tid.as_deref().unwrap_or(&m.key.tenant),
                m.oid.as_deref().unwrap_or("unknown")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the signed-in account for `--user [--account NAME|OID]`.
pub(crate) fn choose(list: Vec<Meta>, wanted: Option<&str>) -> Result<Meta> {
    match wanted {
        Some(upn) => {
            let known = names(&list);
            let found: Vec<&Meta> = list.iter().filter(|m| names_account(m, upn)).collect();
            match found.len() {
                1 => Ok(found[0].clone()),
                0 => Err(
                    Error::usage(format!("account '{upn}' is not signed in")).hint(if known.is_empty() {
                        "run `entra-token login` first".to_string()
                    } else {
                        format!("signed-in accounts: {known}; or run `entra-token login`")
                    }),
                ),
                _ => Err(Error::usage(format!(
                    "account '{upn}' is signed in in several tenants: {}",
                    names_with_tenants(&found)
                ))
                .hint("choose one with --tenant TENANT_ID, or --account OID")),
            }
        }
        None => match list.len() {
            0 => Err(Error::usage("no account is signed in for this app")
                .hint("run `entra-token login` (or `entra-token login --device-code`) first")),
            1 => Ok(list.into_iter().next().expect("one")),
            _ => Err(
                Error::usage("several accounts are signed in: choose one with --account NAME (or its object id)")
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

/// Removes the `refresh` and `user` entries of `account` (a label or object id; every account
/// when `None`) from the cache directory `dir`.
pub(crate) fn sign_out(dir: &Path, account: Option<&str>) -> SignedOut {
    let mut out = SignedOut {
        accounts: Vec::new(),
        entries: 0,
    };
    for (name, m) in file::list(dir) {
        if m.key.kind != KeyKind::Refresh && m.key.kind != KeyKind::User {
            continue;
        }
        if m.key.account.is_none() || account.is_some_and(|w| !names_account(&m, w)) {
            continue;
        }
        let acct = label(&m).to_string();
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
            label: None,
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

    /// An entry as `login` now writes it: keyed by `oid.tid`, labelled.
    fn account(label_: Option<&str>, oid: &str, tid: &str, stored_at: i64) -> Meta {
        let mut m = meta(&format!("{oid}.{tid}"));
        m.key.tenant = tid.into();
        m.oid = Some(oid.into());
        m.tid = Some(tid.into());
        m.label = label_.map(str::to_string);
        m.stored_at = stored_at;
        m
    }

    #[test]
    fn accounts_are_named_by_label_or_object_id() {
        let a = account(Some("admin@contoso.com"), "o-1", "t-1", 1);
        let b = account(Some("admin@contoso.com"), "o-2", "t-2", 1);
        let subject_only = account(None, "SubJect", "t-1", 1);
        assert_eq!(label(&subject_only), "SubJect.t-1");
        let one = choose(vec![a.clone(), subject_only.clone()], Some("ADMIN@contoso.com")).unwrap();
        assert_eq!(one.oid.as_deref(), Some("o-1"));
        let by_oid = choose(vec![a.clone(), b.clone()], Some("O-2")).unwrap();
        assert_eq!(by_oid.tid.as_deref(), Some("t-2"));
        let by_key = choose(vec![a.clone(), subject_only.clone()], Some("SubJect.t-1")).unwrap();
        assert_eq!(by_key.oid.as_deref(), Some("SubJect"));
        // one label in two tenants: exit 2 listing both
        let twice = choose(vec![a, b], Some("admin@contoso.com")).unwrap_err();
        assert_eq!(twice.exit_code(), 2);
        let text = twice.render();
        assert!(
            text.contains("t-1") && text.contains("t-2") && text.contains("--tenant"),
            "{text}"
        );
    }

    #[test]
    fn an_entry_written_when_the_key_was_the_user_name_is_still_found() {
        // before accounts were keyed by object id: account = the UPN, tenant = the sign-in string
        let mut old = meta("admin@contoso.com");
        old.key.tenant = "organizations".into();
        old.oid = Some("o-1".into());
        old.tid = Some("t-1".into());
        assert_eq!(label(&old), "admin@contoso.com");
        assert!(choose(vec![old.clone()], Some("Admin@Contoso.com")).is_ok());
        assert!(choose(vec![old.clone()], Some("o-1")).is_ok());
        // the same account signed in again: one account, not two
        let new = account(Some("admin@contoso.com"), "o-1", "t-1", 5);
        let mut list = vec![old.clone(), new.clone()];
        list.sort_by(|a, b| identity(a).cmp(&identity(b)).then(b.stored_at.cmp(&a.stored_at)));
        list.dedup_by(|a, b| identity(a) == identity(b));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].key, new.key, "the newest entry wins");
    }

    #[test]
    fn user_keys_differ_by_scope_and_account() {
        let r = meta("a@x").key;
        assert_ne!(user_key(&r, "s1").stem(), user_key(&r, "s2").stem());
        assert_ne!(user_key(&r, "s1").stem(), r.stem());
        assert_eq!(user_key(&r, "s1").kind, KeyKind::User);
    }
}
