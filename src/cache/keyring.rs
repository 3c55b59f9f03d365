//! The OS keyring, used only to hold the cache's encryption key (one small item). Detection is
//! fast and never starts a bus: no D-Bus session → no keyring. Every keyring call, store
//! construction included, runs on its own thread behind a deadline, because a wedged bus or a
//! locked keyring's prompt would otherwise block forever; a timed-out thread is abandoned.

use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

pub(crate) const SERVICE: &str = "entra-token";
pub(crate) const KEY_ITEM: &str = "token-cache-key";
pub(crate) const AUTO_DEADLINE: Duration = Duration::from_millis(1500);
pub(crate) const EXPLICIT_DEADLINE: Duration = Duration::from_secs(3);

pub(crate) fn store_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "Secret Service"
    } else if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(windows) {
        "Windows Credential Manager"
    } else {
        "none"
    }
}

/// What the environment says about a keyring, taken from the snapshot by settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    /// `ENTRA_TOKEN_NO_KEYRING=1` (or `true`).
    pub(crate) disabled: bool,
    /// `DBUS_SESSION_BUS_ADDRESS` is set (read on Linux only: Secret Service is on D-Bus).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) session_bus: bool,
    /// `XDG_RUNTIME_DIR`, where the session bus socket usually is.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) runtime_dir: Option<PathBuf>,
}

/// Why there is certainly no keyring, decided without any I/O beyond a stat; `None` = try it.
pub(crate) fn probe_reason(env: &Environment) -> Option<String> {
    if env.disabled {
        return Some("ENTRA_TOKEN_NO_KEYRING is set".into());
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        if !env.session_bus {
            let runtime_bus = env.runtime_dir.as_ref().map(|d| d.join("bus"));
            if !runtime_bus.is_some_and(|p| p.exists()) {
                return Some("no D-Bus session".into());
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        return Some("no supported keyring on this OS".into());
    }
    None
}

/// Runs `f` on its own thread; `None` if it does not finish within `deadline`.
fn with_deadline<T: Send + 'static>(deadline: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(deadline).ok()
}

#[cfg(target_os = "linux")]
fn entry() -> keyring_core::Result<keyring_core::Entry> {
    use keyring_core::api::CredentialStoreApi;
    let store = zbus_secret_service_keyring_store::Store::new()?;
    store.build(SERVICE, KEY_ITEM, None)
}

#[cfg(target_os = "macos")]
fn entry() -> keyring_core::Result<keyring_core::Entry> {
    use keyring_core::api::CredentialStoreApi;
    let store = apple_native_keyring_store::keychain::Store::new()?;
    store.build(SERVICE, KEY_ITEM, None)
}

#[cfg(windows)]
fn entry() -> keyring_core::Result<keyring_core::Entry> {
    use keyring_core::api::CredentialStoreApi;
    let store = windows_native_keyring_store::Store::new()?;
    store.build(SERVICE, KEY_ITEM, None)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn entry() -> keyring_core::Result<keyring_core::Entry> {
    Err(keyring_core::Error::NoStorageAccess("no keyring on this OS".into()))
}

fn decode_key(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok().filter(|k| k.len() == 32)
}

/// The cache encryption key: read from the keyring, or created (32 random bytes) and stored.
pub(crate) fn cache_key(env: &Environment, deadline: Duration) -> Result<Secret<Vec<u8>>, String> {
    if let Some(why) = probe_reason(env) {
        return Err(why);
    }
    let outcome = with_deadline(deadline, || -> Result<Vec<u8>, String> {
        let e = entry().map_err(|e| e.to_string())?;
        match e.get_password() {
            Ok(text) => decode_key(&text).ok_or_else(|| "the keyring item is not an entra-token key".to_string()),
            Err(keyring_core::Error::NoEntry) => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key).map_err(|e| e.to_string())?;
                e.set_password(&STANDARD.encode(&key)).map_err(|e| e.to_string())?;
                // Another process may have stored its key at the same moment: use what stuck.
                let stored = e.get_password().map_err(|e| e.to_string())?;
                decode_key(&stored).ok_or_else(|| "the keyring item is not an entra-token key".to_string())
            }
            Err(err) => Err(err.to_string()),
        }
    });
    match outcome {
        Some(Ok(key)) => Ok(Secret::new(key)),
        Some(Err(e)) => Err(e),
        None => Err(format!("no answer within {} ms", deadline.as_millis())),
    }
}

/// Deletes the key item (`cache clear`). `Ok(false)` if there was none.
pub(crate) fn delete_key(env: &Environment, deadline: Duration) -> Result<bool, String> {
    if let Some(why) = probe_reason(env) {
        return Err(why);
    }
    match with_deadline(deadline, || -> Result<bool, String> {
        let e = entry().map_err(|e| e.to_string())?;
        match e.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(err) => Err(err.to_string()),
        }
    }) {
        Some(r) => r,
        None => Err(format!("no answer within {} ms", deadline.as_millis())),
    }
}
