//! The token cache: keys, freshness, the `keyring` / `file` / `none` stores and the per-key
//! cross-process lock. Entries are files under `$XDG_CACHE_HOME/entra-token/` (dir 0700, files
//! 0600, atomic temp + rename); with a keyring the token part is AES-256-GCM encrypted with a
//! random key kept as one small item in the OS keyring, so no token is readable in a plain file
//! and no keyring size limit applies. A cache hit builds no HTTP client, TLS roots or runtime.
//! The directories and files are entra-token's own (`files::OwnedDir`): a cache directory that
//! is a link, another user's, or writable by others is not used.

pub(crate) mod file;
pub(crate) mod key;
pub(crate) mod keyring;
pub(crate) mod lock;

pub(crate) use key::{CacheKey, KeyKind};

use crate::error::{Error, Result};
use crate::files::{OwnedDir, OwnedPathError};
use crate::log;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub(crate) const FORMAT_VERSION: u32 = 1;

/// Which store to use (`--cache`, `ENTRA_TOKEN_CACHE`, a profile's `cache`). `pub`: the public
/// `cli::GlobalArgs` holds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Auto,
    Keyring,
    File,
    None,
}

/// The cache as settings resolved it: the mode, the directory and what the environment says
/// about a keyring. Opening it ([`Cache::open`]) is what may talk to the keyring.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) mode: Mode,
    /// `None` when neither `XDG_CACHE_HOME` nor a home directory is known.
    pub(crate) dir: Option<PathBuf>,
    pub(crate) keyring: keyring::Environment,
}

impl Mode {
    /// A mode as the environment or a profile spells it: a `--cache` value (any case), or `off`.
    pub(crate) fn parse(s: &str) -> Option<Mode> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Some(Mode::None);
        }
        <Mode as clap::ValueEnum>::from_str(s, true).ok()
    }
}

/// Non-secret facts about an entry, readable without the keyring (`cache list`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) key: CacheKey,
    pub(crate) expires_on: i64,
    pub(crate) refresh_on: Option<i64>,
    pub(crate) token_type: String,
    /// The token's `tid` (or the tenant as configured when the token is opaque).
    pub(crate) tid: Option<String>,
    /// The signed-in user's object id (`user`/`refresh` entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) oid: Option<String>,
    /// The signed-in user's name (`preferred_username`, `upn` or `email`) when the sign-in named
    /// one (`user`/`refresh` entries; entries written before it was kept have the name as their
    /// key's account instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) label: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) stored_at: i64,
}

/// A cached token: metadata plus the secret parts.
#[derive(Debug)]
pub(crate) struct CachedToken {
    pub(crate) meta: Meta,
    pub(crate) access_token: Option<Secret<String>>,
    pub(crate) refresh_token: Option<Secret<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    Missing,
    Expired,
    ExpiringSoon,
    RefreshDue,
    Forced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    Stale(Stale),
}

/// Whether a cached token may be served: it must stay valid `min_validity` longer, and its
/// advised refresh time (`refresh_in`) must not have passed.
pub(crate) fn check_fresh(meta: Option<&Meta>, now: i64, min_validity: i64, forced: bool) -> Freshness {
    if forced {
        return Freshness::Stale(Stale::Forced);
    }
    let Some(m) = meta else {
        return Freshness::Stale(Stale::Missing);
    };
    if m.expires_on <= now {
        return Freshness::Stale(Stale::Expired);
    }
    if m.expires_on.saturating_sub(now) < min_validity {
        return Freshness::Stale(Stale::ExpiringSoon);
    }
    if m.refresh_on.is_some_and(|r| r <= now) {
        return Freshness::Stale(Stale::RefreshDue);
    }
    Freshness::Fresh
}

/// The store in use and why it was chosen.
pub(crate) struct Cache {
    pub(crate) backend: Backend,
    pub(crate) reason: String,
    pub(crate) dir: Option<PathBuf>,
    /// `<dir>/tokens`, verified: opened by [`Cache::open`] when it exists, else created by the
    /// first [`Cache::put`].
    tokens: OnceLock<OwnedDir>,
}

pub(crate) enum Backend {
    None,
    File,
    /// Files whose token part is encrypted with this key from the OS keyring.
    Keyring(Secret<Vec<u8>>),
}

impl Backend {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::None => "none",
            Backend::File => "file",
            Backend::Keyring(_) => "keyring",
        }
    }
}

impl Cache {
    /// Chooses the store. `auto` never waits long for a keyring (no D-Bus session → files at
    /// once; a keyring that does not answer within its deadline → files). An explicit `keyring`
    /// that cannot be reached is exit 2.
    pub(crate) fn open(config: &Config) -> Result<Cache> {
        let mode = config.mode;
        let off = |reason: String| Cache {
            backend: Backend::None,
            reason,
            dir: None,
            tokens: OnceLock::new(),
        };
        if mode == Mode::None {
            return Ok(off("caching is off (--cache none)".into()));
        }
        let dir = config.dir.clone().ok_or_else(|| {
            Error::usage("cannot locate a cache directory: set XDG_CACHE_HOME or HOME, or use --cache none")
        })?;
        // The directory is checked before the keyring is asked: an unsafe one is never used.
        let tokens = OnceLock::new();
        match file::open_dir(&dir, file::TOKENS, false) {
            Ok(d) => {
                let _ = tokens.set(d);
            }
            Err(e) if e.is_refusal() => {
                return refuse(mode, &e).map(|()| off(format!("{}: caching is off", refusal(&e))));
            }
            // missing (created on the first write) or unreadable (the write will say why)
            Err(_) => {}
        }
        let with = move |backend: Backend, reason: String| Cache {
            backend,
            reason,
            dir: Some(dir),
            tokens,
        };
        match mode {
            Mode::File => Ok(with(Backend::File, "files (--cache file)".into())),
            Mode::Keyring => match keyring::cache_key(&config.keyring, keyring::EXPLICIT_DEADLINE) {
                Ok(key) => Ok(with(
                    Backend::Keyring(key),
                    format!("keyring ({}): token files are encrypted", keyring::store_name()),
                )),
                Err(why) => Err(
                    Error::usage(format!("--cache keyring: the OS keyring is not available: {why}"))
                        .hint("unlock or start the keyring (Secret Service on Linux), or use --cache file / auto"),
                ),
            },
            Mode::Auto => match keyring::probe_reason(&config.keyring) {
                Some(why) => Ok(with(Backend::File, format!("{why}: using files"))),
                None => match keyring::cache_key(&config.keyring, keyring::AUTO_DEADLINE) {
                    Ok(key) => Ok(with(
                        Backend::Keyring(key),
                        format!("keyring ({}): token files are encrypted", keyring::store_name()),
                    )),
                    Err(why) => Ok(with(Backend::File, format!("keyring unavailable ({why}): using files"))),
                },
            },
            Mode::None => unreachable!("handled above"),
        }
    }

    /// The entry for `key`, or `None` (missing, corrupt, other version, undecryptable: all a miss).
    pub(crate) fn get(&self, key: &CacheKey) -> Option<CachedToken> {
        if matches!(self.backend, Backend::None) {
            return None;
        }
        let tokens = self.tokens_dir(false)?;
        match file::read_entry(tokens, key, &self.backend) {
            Ok(t) => t,
            Err(file::Unusable::Refused(e)) => {
                log::warn(format!("cache entry not served: {}", refusal(&e)));
                None
            }
            Err(file::Unusable::Other(why)) => {
                log::info(format!("cache entry unusable ({why}): treated as a miss"));
                None
            }
        }
    }

    /// Stores a token; a failure to write is a warning, never a failed command.
    pub(crate) fn put(&self, token: &CachedToken) {
        if matches!(self.backend, Backend::None) {
            return;
        }
        let Some(tokens) = self.tokens_dir(true) else { return };
        if let Err(e) = file::write_entry(tokens, token, &self.backend, crate::rt::now()) {
            log::warn(format!(
                "could not write the token cache in {}: {e}",
                tokens.path().display()
            ));
        }
    }

    /// `<dir>/tokens`, verified, once it exists: another process may have created it since
    /// [`Cache::open`] (a cold start of concurrent `get`s), so a missing one is looked for again;
    /// `create` makes it (a put). A directory that fails the check is a warning and `None`.
    fn tokens_dir(&self, create: bool) -> Option<&OwnedDir> {
        if let Some(t) = self.tokens.get() {
            return Some(t);
        }
        let dir = self.dir.as_ref()?;
        match file::open_dir(dir, file::TOKENS, create) {
            Ok(t) => Some(self.tokens.get_or_init(|| t)),
            Err(e) if e.is_missing() && !create => None,
            Err(e) if e.is_refusal() => {
                log::warn(format!("the token cache is not used: {}", refusal(&e)));
                None
            }
            Err(e) => {
                let what = if create { "could not write" } else { "could not read" };
                log::warn(format!("{what} the token cache in {}: {e}", dir.display()));
                None
            }
        }
    }

    /// Takes the per-key cross-process lock, waiting at most `wait`. A lock held by a killed
    /// process is released by the OS; past `wait` the command goes on without it.
    pub(crate) fn lock(&self, key: &CacheKey, wait: Duration) -> Option<lock::KeyLock> {
        let dir = self.dir.as_ref()?;
        if matches!(self.backend, Backend::None) {
            return None;
        }
        match lock::lock(dir, &key.stem(), wait) {
            Ok(l) => l,
            Err(lock::LockError::Refused(e)) => {
                log::warn(format!("cache lock not used: {}: going on without it", refusal(&e)));
                None
            }
            Err(lock::LockError::Io(e)) => {
                log::info(format!("cache lock unavailable ({e}): going on without it"));
                None
            }
        }
    }
}

/// An owned path that failed its check, as a warning or error says it.
fn refusal(e: &OwnedPathError) -> String {
    format!("{e}, so entra-token does not use it")
}

/// A cache directory that failed its check: under `auto` a warning (then no caching); when a
/// store was asked for explicitly, exit 2.
fn refuse(mode: Mode, e: &OwnedPathError) -> Result<()> {
    match mode {
        Mode::Auto | Mode::None => {
            log::warn(format!("the token cache is off: {}", refusal(e)));
            Ok(())
        }
        Mode::File | Mode::Keyring => {
            let name = if mode == Mode::File { "file" } else { "keyring" };
            Err(Error::usage(format!("--cache {name}: the cache directory {e}")).hint(
                "remove it or fix its owner and mode (0700, yours), set XDG_CACHE_HOME elsewhere, or use --cache none",
            ))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An app-only entry's metadata with these times (also used by the property tests).
    pub(crate) fn meta(expires_on: i64, refresh_on: Option<i64>) -> Meta {
        Meta {
            label: None,
            key: CacheKey {
                kind: KeyKind::App,
                authority: "https://login.microsoftonline.com".into(),
                tenant: "contoso.com".into(),
                client_id: "c".into(),
                credential: "secret:ab".into(),
                endpoint: "v2".into(),
                audience: "scope:x/.default".into(),
                account: None,
            },
            expires_on,
            refresh_on,
            token_type: "Bearer".into(),
            tid: None,
            scope: None,
            resource: None,
            stored_at: 0,
            oid: None,
        }
    }

    #[test]
    fn modes_as_the_environment_spells_them() {
        assert_eq!(Mode::parse(" File "), Some(Mode::File));
        assert_eq!(Mode::parse("OFF"), Some(Mode::None));
        assert_eq!(Mode::parse("none"), Some(Mode::None));
        assert_eq!(Mode::parse("keyring"), Some(Mode::Keyring));
        assert_eq!(Mode::parse("sometimes"), None);
    }

    #[test]
    fn freshness_says_why() {
        let now = 1_000_000;
        assert_eq!(check_fresh(None, now, 300, false), Freshness::Stale(Stale::Missing));
        let m = meta(now + 3600, None);
        assert_eq!(check_fresh(Some(&m), now, 300, false), Freshness::Fresh);
        assert_eq!(check_fresh(Some(&m), now, 300, true), Freshness::Stale(Stale::Forced));
        assert_eq!(
            check_fresh(Some(&m), now, 3601, false),
            Freshness::Stale(Stale::ExpiringSoon)
        );
        assert_eq!(
            check_fresh(Some(&meta(now, None)), now, 0, false),
            Freshness::Stale(Stale::Expired)
        );
        assert_eq!(
            check_fresh(Some(&meta(now + 3600, Some(now))), now, 300, false),
            Freshness::Stale(Stale::RefreshDue)
        );
        assert_eq!(
            check_fresh(Some(&meta(now + 3600, Some(now + 1))), now, 300, false),
            Freshness::Fresh
        );
    }
}
