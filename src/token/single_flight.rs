//! Single flight, in one place: read the cache; on a miss take the per-key cross-process lock,
//! read again (another process may have just fetched the token), and hand the caller a [`Fetch`]
//! ticket that stores what it fetched and then releases the lock. Concurrent cold runs for one
//! key therefore send one request; a failed fetch leaves the cache as it was.

use crate::cache::{self, Cache, CacheKey, CachedToken, Freshness, Meta, lock::KeyLock};
use crate::log;
use crate::protocol::token::{self, TokenResponse};
use crate::rt;
use std::time::Duration;

/// One token's place in the cache.
pub(crate) struct Slot<'a> {
    pub(crate) cache: &'a Cache,
    pub(crate) key: &'a CacheKey,
    /// How long to wait for another process's fetch (`--timeout`).
    pub(crate) lock_wait: Duration,
    /// For a signed-in account's token: the account (its object id and label go with the entry).
    pub(crate) account: Option<&'a Meta>,
}

/// What [`begin`] found.
pub(crate) enum Begun<'a> {
    /// A fresh token: nothing to fetch.
    Hit(Box<CachedToken>),
    /// Fetch a token, then [`Fetch::store`] it (the lock is held until then).
    Miss(Fetch<'a>),
}

/// The right (and duty) to fetch a token for one slot: holds the per-key lock when it was had.
pub(crate) struct Fetch<'a> {
    slot: &'a Slot<'a>,
    _lock: Option<KeyLock>,
}

impl Fetch<'_> {
    /// Stores a token reply; the lock is released when this returns.
    pub(crate) fn store(self, resp: TokenResponse) -> CachedToken {
        let mut token = entry(self.slot.key.clone(), resp, rt::now());
        if let Some(account) = self.slot.account {
            token.meta.oid.clone_from(&account.oid);
            token.meta.label.clone_from(&account.label);
        }
        self.slot.cache.put(&token);
        token
    }
}

/// Read, lock, read again. `force` skips the reads (`--force-refresh`; the token is still stored).
pub(crate) fn begin<'a>(slot: &'a Slot<'a>, min_validity: i64, force: bool) -> Begun<'a> {
    if !force && let Some(t) = fresh(slot, rt::now(), min_validity) {
        return Begun::Hit(Box::new(t));
    }
    if force {
        log::info("cache: skipped (--force-refresh)");
    }
    let lock = slot.cache.lock(slot.key, slot.lock_wait);
    if !force && let Some(t) = fresh(slot, rt::now(), min_validity) {
        log::info("cache: filled by another process while waiting for the lock");
        return Begun::Hit(Box::new(t));
    }
    Begun::Miss(Fetch { slot, _lock: lock })
}

fn fresh(slot: &Slot<'_>, now: i64, min_validity: i64) -> Option<CachedToken> {
    let entry = slot.cache.get(slot.key);
    match cache::check_fresh(entry.as_ref().map(|e| &e.meta), now, min_validity, false) {
        Freshness::Fresh if entry.as_ref().is_some_and(|e| e.access_token.is_some()) => {
            let e = entry.expect("checked");
            log::info(format!(
                "cache: hit ({} store), valid for {} s more",
                slot.cache.backend.name(),
                e.meta.expires_on.saturating_sub(now)
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
pub(crate) fn entry(key: CacheKey, resp: TokenResponse, now: i64) -> CachedToken {
    let tid = token::tenant_of(resp.access_token.expose()).or_else(|| Some(key.tenant.clone()));
    CachedToken {
        meta: Meta {
            key,
            expires_on: resp.expires_on,
            refresh_on: resp.refresh_on,
            token_type: resp.token_type,
            tid,
            oid: None,
            label: None,
            scope: resp.scope,
            resource: resp.resource,
            stored_at: now,
        },
        access_token: Some(resp.access_token),
        refresh_token: resp.refresh_token,
    }
}
