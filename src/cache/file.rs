//! Cache files: one JSON record per key in `<cache>/tokens/`, written atomically (private temp
//! file + rename) with mode 0600 in a 0700 directory; the token part in clear (`file` store) or
//! AES-256-GCM encrypted with the keyring's key (`keyring` store). Every directory and file is
//! opened through `files::OwnedDir`: never through a link, only ours, read with a cap.

use super::{Backend, CacheKey, CachedToken, FORMAT_VERSION, Meta};
use crate::files::{OwnedDir, OwnedPathError, Problem};
use crate::secret::Secret;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Serialize, Deserialize)]
struct Record {
    v: u32,
    meta: Meta,
    secret: Blob,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Blob {
    Plain(SecretPart),
    Aes256Gcm { nonce: String, ciphertext: String },
}

#[derive(Serialize, Deserialize)]
struct SecretPart {
    access_token: Option<String>,
    refresh_token: Option<String>,
}

impl Drop for SecretPart {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access_token.zeroize();
        self.refresh_token.zeroize();
    }
}

/// The largest entry file read; a larger one is treated as corrupt.
const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;

/// The directory of entries below the cache root.
pub(crate) const TOKENS: &str = "tokens";
/// The directory of per-key lock files below the cache root.
pub(crate) const LOCKS: &str = "locks";

/// `<root>/<sub>` (`tokens` or `locks`), opened as a directory entra-token owns: the chain from
/// the root's parent down is verified (never followed through a link, owned by the current user,
/// writable by nobody else) and created private when `create`.
pub(crate) fn open_dir(root: &Path, sub: &str, create: bool) -> Result<OwnedDir, OwnedPathError> {
    let (base, name) = split_root(root)?;
    OwnedDir::open(base, &[name, sub], create)
}

fn split_root(root: &Path) -> Result<(&Path, &str), OwnedPathError> {
    match (root.parent(), root.file_name().and_then(|n| n.to_str())) {
        (Some(base), Some(name)) if !base.as_os_str().is_empty() => Ok((base, name)),
        (Some(_), Some(name)) => Ok((Path::new("."), name)),
        _ => Err(OwnedPathError::new(root, Problem::BadName)),
    }
}

/// The file name of `key`'s entry.
pub(crate) fn entry_name(key: &CacheKey) -> String {
    format!("{}.json", key.stem())
}

fn is_stem(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A name entra-token gives its own files in `tokens/`: `<40 hex digits>.json`, or a temp file
/// of an atomic write of one.
fn is_our_name(name: &str) -> bool {
    if let Some(stem) = name.strip_suffix(".json") {
        return is_stem(stem);
    }
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.split_once(".json."))
        .is_some_and(|(stem, _)| is_stem(stem))
}

/// A lock file's name: `<40 hex digits>.lock`, or a temp file in `locks/`.
fn is_lock_name(name: &str) -> bool {
    name.strip_suffix(".lock").is_some_and(is_stem)
}

/// Why an entry was not served.
pub(crate) enum Unusable {
    /// The file is not safe to read (a link, another owner, writable by others, not a
    /// regular file): a warning, and never removed or overwritten if it is not ours.
    Refused(OwnedPathError),
    /// Unreadable, corrupt, too large, another version, another key, undecryptable: an
    /// ordinary miss, rewritten by the next fetch.
    Other(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Refused(e) => write!(f, "{e}"),
            Unusable::Other(why) => f.write_str(why),
        }
    }
}

fn cipher(key: &Secret<Vec<u8>>) -> Result<LessSafeKey, String> {
    let unbound = UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| "bad cache key length".to_string())?;
    Ok(LessSafeKey::new(unbound))
}

fn encode_secret(part: &SecretPart, backend: &Backend, aad: &str) -> Result<Blob, String> {
    match backend {
        Backend::Keyring(key) => {
            let mut plain = serde_json::to_vec(part).map_err(|e| e.to_string())?;
            let mut nonce = [0u8; NONCE_LEN];
            getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
            let k = cipher(key)?;
            k.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut plain,
            )
            .map_err(|_| "encryption failed".to_string())?;
            Ok(Blob::Aes256Gcm {
                nonce: STANDARD.encode(nonce),
                ciphertext: STANDARD.encode(&plain),
            })
        }
        _ => Ok(Blob::Plain(SecretPart {
            access_token: part.access_token.clone(),
            refresh_token: part.refresh_token.clone(),
        })),
    }
}

fn decode_secret(blob: Blob, backend: &Backend, aad: &str) -> Result<SecretPart, String> {
    match (blob, backend) {
        (Blob::Aes256Gcm { nonce, ciphertext }, Backend::Keyring(key)) => {
            let nonce: [u8; NONCE_LEN] = STANDARD
                .decode(nonce)
                .ok()
                .and_then(|n| n.try_into().ok())
                .ok_or_else(|| "bad nonce".to_string())?;
            let mut data = STANDARD
                .decode(ciphertext)
                .map_err(|_| "bad ciphertext encoding".to_string())?;
            let k = cipher(key)?;
            let plain = k
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad.as_bytes()),
                    &mut data,
                )
                .map_err(|_| "cannot decrypt (the keyring key changed?)".to_string())?;
            let part: Result<SecretPart, String> = serde_json::from_slice(plain).map_err(|e| e.to_string());
            use zeroize::Zeroize;
            data.zeroize();
            part
        }
        (Blob::Aes256Gcm { .. }, _) => Err("entry is encrypted with the keyring key".into()),
        // A plain entry is never served by the keyring store: it is rewritten encrypted.
        (Blob::Plain(_), Backend::Keyring(_)) => Err("plain entry while the keyring store is in use".into()),
        (Blob::Plain(p), _) => Ok(p),
    }
}

/// The entry for `key` in the verified `tokens` directory (`Ok(None)`: there is none).
pub(crate) fn read_entry(
    tokens: &OwnedDir,
    key: &CacheKey,
    backend: &Backend,
) -> Result<Option<CachedToken>, Unusable> {
    // An entry is a few KiB (a 12 KB token included); anything far larger is not ours.
    let bytes = match tokens.read(&entry_name(key), MAX_ENTRY_BYTES) {
        Ok(Some(b)) => Secret::new(b),
        Ok(None) => return Ok(None),
        Err(e) if e.is_refusal() && !matches!(e.problem, Problem::TooLarge(_)) => return Err(Unusable::Refused(e)),
        Err(e) => return Err(Unusable::Other(e.to_string())),
    };
    decode_entry(bytes.expose(), key, backend)
        .map(Some)
        .map_err(Unusable::Other)
}

/// An entry file's content as the token stored for `key`, or why it cannot be served.
pub(crate) fn decode_entry(bytes: &[u8], key: &CacheKey, backend: &Backend) -> Result<CachedToken, String> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| format!("corrupt: {e}"))?;
    if record.v != FORMAT_VERSION {
        return Err(format!("format version {} is not {FORMAT_VERSION}", record.v));
    }
    if record.meta.key != *key {
        return Err("entry belongs to another key".into());
    }
    let stem = key.stem();
    let part = decode_secret(record.secret, backend, &stem)?;
    let safe = |t: &Option<String>| t.as_deref().is_none_or(crate::protocol::token::is_safe_token);
    if !safe(&part.access_token) || !safe(&part.refresh_token) {
        return Err("entry holds a value that is not a token".into());
    }
    Ok(CachedToken {
        meta: record.meta,
        access_token: part.access_token.clone().map(Secret::new),
        refresh_token: part.refresh_token.clone().map(Secret::new),
    })
}

/// Writes `token`'s entry atomically into the verified `tokens` directory (stale temp files
/// of killed writers are swept on the way). Something of another user in its place is left
/// alone (an error).
pub(crate) fn write_entry(tokens: &OwnedDir, token: &CachedToken, backend: &Backend, now: i64) -> Result<(), String> {
    let name = entry_name(&token.meta.key);
    tokens.may_replace(&name).map_err(|e| e.to_string())?;
    let stem = token.meta.key.stem();
    let part = SecretPart {
        access_token: token.access_token.as_ref().map(|s| s.expose().clone()),
        refresh_token: token.refresh_token.as_ref().map(|s| s.expose().clone()),
    };
    let record = Record {
        v: FORMAT_VERSION,
        meta: token.meta.clone(),
        secret: encode_secret(&part, backend, &stem)?,
    };
    let mut bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
    let r = tokens.write_atomic(&name, &bytes, now).map_err(|e| e.to_string());
    use zeroize::Zeroize;
    bytes.zeroize();
    r
}

/// Every entry's metadata (no secret is decoded), with its file name: only regular files of the
/// current user, in a verified directory. A directory that fails the check lists nothing (a
/// warning says why).
pub(crate) fn list(root: &Path) -> Vec<(String, Meta)> {
    let tokens = match open_dir(root, TOKENS, false) {
        Ok(d) => d,
        Err(e) if e.is_missing() => return Vec::new(),
        Err(e) => {
            crate::log::warn(format!("the token cache is not used: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for name in tokens.names().unwrap_or_default() {
        if !is_our_name(&name) || !name.ends_with(".json") {
            continue;
        }
        #[derive(Deserialize)]
        struct MetaOnly {
            v: u32,
            meta: Meta,
        }
        if let Ok(Some(bytes)) = tokens.read(&name, MAX_ENTRY_BYTES)
            && let Ok(m) = serde_json::from_slice::<MetaOnly>(&bytes)
            && m.v == FORMAT_VERSION
        {
            out.push((name, m.meta));
        }
    }
    out.sort_by(|a, b| {
        (&a.1.key.tenant, &a.1.key.client_id, &a.1.key.audience).cmp(&(
            &b.1.key.tenant,
            &b.1.key.client_id,
            &b.1.key.audience,
        ))
    });
    out
}

/// Removes the entries named `names` (as [`list`] gave them); returns how many were removed.
/// Only regular files of the current user are removed.
pub(crate) fn remove(root: &Path, names: &[String]) -> usize {
    let Ok(tokens) = open_dir(root, TOKENS, false) else {
        return 0;
    };
    names.iter().filter(|n| tokens.remove(n).unwrap_or(false)).count()
}

/// What [`clear`] did.
pub(crate) struct Cleared {
    /// Entries removed.
    pub(crate) removed: usize,
    /// Files that looked like ours but were left alone, with the reason.
    pub(crate) skipped: Vec<String>,
}

/// Removes every entry (and temp file) of ours in `tokens/` and every lock file in `locks/`.
/// Anything else there (a link, a directory, a file of another user, a name entra-token does
/// not give) is left alone; a directory that fails the check is not touched at all.
pub(crate) fn clear(root: &Path) -> Result<Cleared, OwnedPathError> {
    let mut done = Cleared {
        removed: 0,
        skipped: Vec::new(),
    };
    for (sub, is_ours) in [(TOKENS, is_our_name as fn(&str) -> bool), (LOCKS, is_lock_name)] {
        let dir = match open_dir(root, sub, false) {
            Ok(d) => d,
            Err(e) if e.is_missing() => continue,
            Err(e) => return Err(e),
        };
        let r = dir.remove_matching(is_ours)?;
        if sub == TOKENS {
            done.removed = r.removed.iter().filter(|n| n.ends_with(".json")).count();
        }
        done.skipped.extend(
            r.skipped
                .into_iter()
                .map(|(n, why)| format!("{} {why}", dir.path().join(n).display())),
        );
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_our_files() {
        let stem = "0123456789abcdef0123456789abcdef01234567";
        assert!(is_our_name(&format!("{stem}.json")));
        assert!(is_our_name(&format!(".{stem}.json.123.00ff00ff00ff00ff.tmp")));
        let bak = format!("{stem}.json.bak");
        for other in ["notes.txt", "abc.json", ".abc.json.1.2.tmp", "x.tmp", bak.as_str()] {
            assert!(!is_our_name(other), "{other}");
        }
        assert!(is_lock_name(&format!("{stem}.lock")));
        assert!(!is_lock_name("x.lock"));
    }

    #[test]
    fn roots_split_into_base_and_name() {
        let (b, n) = split_root(Path::new("/home/u/.cache/entra-token")).unwrap();
        assert_eq!((b, n), (Path::new("/home/u/.cache"), "entra-token"));
        assert_eq!(split_root(Path::new("rel")).unwrap(), (Path::new("."), "rel"));
        assert!(split_root(Path::new("/")).is_err());
    }
}
