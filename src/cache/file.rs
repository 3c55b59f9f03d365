//! Cache files: one JSON record per key in `<cache>/tokens/`, written atomically (private temp
//! file + rename) with mode 0600 in a 0700 directory; the token part in clear (`file` store) or
//! AES-256-GCM encrypted with the keyring's key (`keyring` store).

use super::{Backend, CacheKey, CachedToken, FORMAT_VERSION, Meta};
use crate::secret::Secret;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

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

pub(crate) fn tokens_dir(dir: &Path) -> PathBuf {
    dir.join("tokens")
}

fn entry_path(dir: &Path, key: &CacheKey) -> PathBuf {
    tokens_dir(dir).join(format!("{}.json", key.stem()))
}

/// Creates `path` (and missing parents below the cache root) with mode 0700, and tightens an
/// existing one.
pub(crate) fn ensure_private_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !path.exists() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
        }
        let meta = fs::metadata(path)?;
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(path)
    }
}

fn private_create_new(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Writes `bytes` to `path` atomically: a private temp file in the same directory, then rename.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp_name = format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id(),
        rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let tmp = parent.join(tmp_name);
    let result = (|| {
        let mut f = private_create_new(&tmp)?;
        f.write_all(bytes)?;
        f.flush()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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

pub(crate) fn read_entry(dir: &Path, key: &CacheKey, backend: &Backend) -> Result<Option<CachedToken>, String> {
    let path = entry_path(dir, key);
    // An entry is a few KiB (a 12 KB token included); anything far larger is not ours.
    if fs::metadata(&path).is_ok_and(|m| m.len() > MAX_ENTRY_BYTES) {
        return Err("entry file is too large".into());
    }
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    decode_entry(&bytes, key, backend).map(Some)
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

pub(crate) fn write_entry(dir: &Path, token: &CachedToken, backend: &Backend) -> Result<(), String> {
    let tdir = tokens_dir(dir);
    ensure_private_dir(dir)
        .and_then(|_| ensure_private_dir(&tdir))
        .map_err(|e| e.to_string())?;
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
    let r = atomic_write(&tdir.join(format!("{stem}.json")), &bytes).map_err(|e| e.to_string());
    use zeroize::Zeroize;
    bytes.zeroize();
    r
}

/// Every readable entry's metadata (no secret is decoded), with its file path.
pub(crate) fn list(dir: &Path) -> Vec<(PathBuf, Meta)> {
    let Ok(rd) = fs::read_dir(tokens_dir(dir)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        #[derive(Deserialize)]
        struct MetaOnly {
            v: u32,
            meta: Meta,
        }
        if let Ok(bytes) = fs::read(&p)
            && let Ok(m) = serde_json::from_slice::<MetaOnly>(&bytes)
            && m.v == FORMAT_VERSION
        {
            out.push((p, m.meta));
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

/// Every file in the tokens directory (entries, leftovers, corrupt ones).
pub(crate) fn all_files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(tokens_dir(dir))
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default()
}
