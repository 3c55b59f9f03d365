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
