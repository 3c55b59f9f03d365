//! Reading a file named on the command line (or in a profile or variable), where `-` means
//! stdin, with errors that name the flag or file (exit 2).

use crate::error::{Error, Result};
use std::path::Path;

/// The whole content of `path` (`-`: stdin); `what` names it in errors, e.g. "--input".
pub(crate) fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::usage(format!("could not read {what} from stdin")).cause(e))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "does not exist".to_string(),
            std::io::ErrorKind::PermissionDenied => "is not readable (permission denied)".to_string(),
            _ => format!("could not be read: {e}"),
        };
        Error::usage(format!("{what} '{}' {reason}", path.display()))
    })
}

/// A secret kept in a file (`--auth-id-file` and the like; `-` = stdin): UTF-8 text with exactly
/// one trailing newline removed (files written by `echo`), not empty, and registered with the log
/// so that it is redacted wherever it would appear. `what` names it in errors (exit 2).
pub(crate) fn read_secret(path: &Path, what: &str) -> Result<crate::secret::Secret<String>> {
    let bytes = crate::secret::Secret::new(read(path, what)?);
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
