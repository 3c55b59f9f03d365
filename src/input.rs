//! Reading a file the user named on the command line (or in a profile or variable), where `-`
//! means stdin: followed as given, size-capped and bounded by `--timeout` (see
//! `files::read_user_file`), with errors that name the flag or file (exit 2). The caps for each
//! kind of input live here.

use crate::error::{Error, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// A client secret, a certificate or PFX password, a code verifier: a line of text.
pub(crate) const SECRET_CAP: u64 = 64 * 1024;
/// A certificate file (PEM or PFX: a key and a chain of a few certificates).
pub(crate) const CERTIFICATE_CAP: u64 = 1024 * 1024;
/// A federated token file (one JWT, a few KiB).
pub(crate) const TOKEN_FILE_CAP: u64 = 1024 * 1024;
/// `config.toml` (a few profiles).
pub(crate) const CONFIG_CAP: u64 = 1024 * 1024;
/// `SSL_CERT_FILE` (a CA bundle: the system's is a few hundred KiB).
pub(crate) const CA_BUNDLE_CAP: u64 = 64 * 1024 * 1024;
/// `api --input` (a request body).
pub(crate) const BODY_CAP: u64 = 256 * 1024 * 1024;

/// The content of `path` (`-`: stdin), at most `cap` bytes, waiting at most `timeout` for a
/// pipe; `what` names it in errors, e.g. "--input". A device, socket or directory is refused.
pub(crate) fn read(path: &Path, what: &str, cap: u64, timeout: Duration) -> Result<Vec<u8>> {
    crate::files::read_user_file(path, what, cap, Instant::now() + timeout)
}

/// A secret kept in a file (`--auth-id-file` and the like; `-` = stdin): UTF-8 text with exactly
/// one trailing newline removed (files written by `echo`), not empty, and registered with the log
/// so that it is redacted wherever it would appear. `what` names it in errors (exit 2); `timeout`
/// bounds the wait for a pipe (`--timeout`).
pub(crate) fn read_secret(path: &Path, what: &str, timeout: Duration) -> Result<crate::secret::Secret<String>> {
    let bytes = crate::secret::Secret::new(read(path, what, SECRET_CAP, timeout)?);
    let mut text = String::from_utf8(bytes.expose().clone())
        .map_err(|_| Error::usage(format!("{what} '{}' is not UTF-8 text", path.display())))?;
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
    }
    let text = crate::secret::Secret::new(text);
    if text.expose().trim().is_empty() {
        return Err(Error::usage(format!("{what} '{}' is empty", path.display())));
    }
    crate::log::register_secret(text.expose());
    Ok(text)
}
