//! Files entra-token owns at a path the user chose (`activity pull --state PATH`: the state file,
//! its lock and temp file beside it), where there is no directory of its own to verify: each file
//! is opened without following a symlink in the last component, refused unless it is a regular
//! file owned by the current user and not writable by others, created 0600 (the temp file with
//! `O_EXCL`), and the directory synced after a rename. Every failure is exit 2 naming the file.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;

#[cfg(unix)]
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).mode(0o600)
}

#[cfg(not(unix))]
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options
}

fn open_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    // ELOOP is what O_NOFOLLOW reports for a symlink
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Error::usage(format!(
            "{what} {} is a symbolic link; refusing to follow it",
            path.display()
        ))
        .hint("give the path of the file itself");
    }
    Error::usage(format!("cannot open {what} {}", path.display())).cause(e)
}

/// Checks an open file: a regular file, owned by the current user, not writable by group or
/// others.
pub(crate) fn check_owned(file: &File, path: &Path, what: &str) -> Result<()> {
    let meta = file
        .metadata()
        .map_err(|e| Error::usage(format!("cannot read {what} {}", path.display())).cause(e))?;
    if !meta.is_file() {
        return Err(Error::usage(format!("{what} {} is not a regular file", path.display())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(Error::usage(format!(
                "{what} {} belongs to another user (uid {}); refusing to use it",
                path.display(),
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(Error::usage(format!(
                "{what} {} is writable by other users (mode {:o}); refusing to use it",
                path.display(),
                meta.mode() & 0o777
            ))
            .hint(format!("chmod 600 {}", path.display())));
        }
    }
    Ok(())
}

/// Opens an existing owned file for reading; `None` when it does not exist.
pub(crate) fn open_existing(path: &Path, what: &str) -> Result<Option<File>> {
    match no_follow(OpenOptions::new().read(true)).open(path) {
        Ok(f) => {
            check_owned(&f, path, what)?;
            Ok(Some(f))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(open_error(path, what, e)),
    }
}

/// Opens (creating it 0600 if needed) an owned file for reading and writing, e.g. a lock file.
pub(crate) fn open_or_create(path: &Path, what: &str) -> Result<File> {
    let f = no_follow(OpenOptions::new().read(true).write(true).create(true).truncate(false))
        .open(path)
        .map_err(|e| open_error(path, what, e))?;
    check_owned(&f, path, what)?;
    Ok(f)
}

/// Creates `path` anew, 0600, failing if anything (a file, a symlink) is already there.
pub(crate) fn create_new(path: &Path, what: &str) -> Result<File> {
    no_follow(OpenOptions::new().write(true).create_new(true))
        .open(path)
        .map_err(|e| open_error(path, what, e))
}

/// Removes `path` if it exists (a symlink is removed itself, never its target).
pub(crate) fn remove_if_present(path: &Path, what: &str) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::usage(format!("cannot remove the stale {what} {}", path.display())).cause(e)),
    }
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened, e.g. Windows).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir)
            .map_err(|e| Error::usage(format!("cannot open the directory {}", dir.display())).cause(e))?;
        d.sync_all()
            .map_err(|e| Error::usage(format!("cannot sync the directory {}", dir.display())).cause(e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "x").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();

        let e = open_existing(&link, "state file").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("symbolic link"), "{}", e.message);
        assert!(open_or_create(&link, "lock file").is_err());
        assert!(create_new(&link, "temp file").is_err());
        // the target was neither truncated nor rewritten
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
        // removing the link leaves the target
        remove_if_present(&link, "temp file").unwrap();
        assert!(target.exists() && !link.exists());
    }

    #[test]
    fn created_private_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        assert!(open_existing(&p, "state file").unwrap().is_none());
        let mut f = create_new(&p, "temp file").unwrap();
        f.write_all(b"{}").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(create_new(&p, "temp file").is_err(), "O_EXCL");
        assert!(open_existing(&p, "state file").unwrap().is_some());

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = open_existing(&p, "state file").unwrap_err();
        assert!(e.message.contains("writable by other users"), "{}", e.message);

        let lock = dir.path().join("f.lock");
        open_or_create(&lock, "lock file").unwrap();
        assert_eq!(std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777, 0o600);
        sync_dir(dir.path()).unwrap();

        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        assert!(
            open_existing(&sub, "state file")
                .unwrap_err()
                .message
                .contains("not a regular file")
        );
    }
}
