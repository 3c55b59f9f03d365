//! Reads the key file an Azure Arc challenge names, and only when it is the agent's: a regular
//! file (never a link: opened with `O_NOFOLLOW`, then checked on the open descriptor) directly in
//! the agent's folder, named `*.key`, at most 4096 bytes, owned by root or the current user.
//! Anything else is exit 4 with nothing read. The key is a secret: boxed, registered for log
//! redaction, never written anywhere.
//!
//! The agent's side: <https://learn.microsoft.com/azure/azure-arc/servers/managed-identity-authentication>.

use crate::error::{Error, Result};
use crate::protocol::managed_identity::request::{ARC_KEY_MAX_BYTES, arc_challenge_key_path, check_key_path};
use crate::secret::Secret;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

/// Reads the key a `WWW-Authenticate: Basic realm=PATH` challenge names, checking the path
/// (lexically, before any I/O) and then the file.
pub(crate) fn read_challenged_key(www_authenticate: Option<&str>, folder: &Path) -> Result<Secret<String>> {
    let path = arc_challenge_key_path(www_authenticate, folder)?;
    read_key_file(&path, folder)
}

fn refuse(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::network(format!("refusing the Azure Arc challenge: {} {why}", path.display()))
        .hint("the Arc agent names a key file in its own folder; nothing was sent")
}

/// Reads an Arc key file at `path`, which must be directly in `folder` (see the module comment).
pub(crate) fn read_key_file(path: &Path, folder: &Path) -> Result<Secret<String>> {
    let text = path.to_str().ok_or_else(|| refuse(path, "is not a UTF-8 path"))?;
    let path = check_key_path(text, folder)?;
    let before =
        std::fs::symlink_metadata(&path).map_err(|e| refuse(&path, format_args!("cannot be examined: {e}")))?;
    check_metadata(&path, &before)?;
    let mut file = open_no_follow(&path).map_err(|e| refuse(&path, format_args!("cannot be opened: {e}")))?;
    let opened = file
        .metadata()
        .map_err(|e| refuse(&path, format_args!("cannot be examined: {e}")))?;
    check_metadata(&path, &opened)?;
    if !same_file(&before, &opened) {
        return Err(refuse(&path, "changed while it was being opened"));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(ARC_KEY_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(&path, format_args!("cannot be read: {e}")))?;
    if bytes.len() as u64 > ARC_KEY_MAX_BYTES {
        return Err(refuse(&path, format_args!("is larger than {ARC_KEY_MAX_BYTES} bytes")));
    }
    let key = String::from_utf8(bytes).map_err(|_| refuse(&path, "is not text"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(refuse(&path, "is empty"));
    }
    // It goes into an `Authorization` header: visible ASCII only.
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse(&path, "holds characters a key does not have"));
    }
    crate::log::register_secret(key);
    Ok(Secret::new(key.to_string()))
}

/// Whether a file owned by `owner` may hold the key when running as `euid`.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn owner_allowed(owner: u32, euid: u32) -> bool {
    owner == 0 || owner == euid
}

fn check_metadata(path: &Path, m: &Metadata) -> Result<()> {
    if m.file_type().is_symlink() || is_reparse_point(m) {
        return Err(refuse(path, "is a link"));
    }
    if !m.is_file() {
        return Err(refuse(path, "is not a regular file"));
    }
    if m.len() > ARC_KEY_MAX_BYTES {
        return Err(refuse(path, format_args!("is larger than {ARC_KEY_MAX_BYTES} bytes")));
    }
    check_owner(path, m)
}

#[cfg(unix)]
fn check_owner(path: &Path, m: &Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if owner_allowed(m.uid(), euid) {
        Ok(())
    } else {
        Err(refuse(
            path,
            format_args!("is owned by uid {}, neither root nor the current user", m.uid()),
        ))
    }
}

/// On Windows the agent's folder is writable only by administrators and the agent; its ACL is
/// what protects the key.
#[cfg(not(unix))]
fn check_owner(_path: &Path, _m: &Metadata) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: a FIFO swapped in after the check cannot make the open hang.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(windows)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    /// Win32 `FILE_FLAG_OPEN_REPARSE_POINT`: open a link itself, not its target.
    const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

#[cfg(not(any(unix, windows)))]
fn open_no_follow(_path: &Path) -> std::io::Result<File> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "Azure Arc is not supported on this platform",
    ))
}

#[cfg(windows)]
fn is_reparse_point(m: &Metadata) -> bool {
    use std::os::windows::fs::MetadataExt;
    /// Win32 `FILE_ATTRIBUTE_REPARSE_POINT`.
    const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
    m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0
}

#[cfg(not(windows))]
fn is_reparse_point(_m: &Metadata) -> bool {
    false
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Windows: the open used `FILE_FLAG_OPEN_REPARSE_POINT` and the handle's metadata was checked;
/// std has no stable file id to compare.
#[cfg(not(unix))]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.len() == b.len()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::error::Kind;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn folder() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn write(dir: &Path, name: &str, content: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn refused(r: Result<Secret<String>>) -> Error {
        let e = r.expect_err("must be refused");
        assert_eq!(e.kind, Kind::Network, "{}", e.message);
        assert!(
            e.message.starts_with("refusing the Azure Arc challenge"),
            "{}",
            e.message
        );
        e
    }

    #[test]
    fn reads_the_agents_key() {
        let d = folder();
        let p = write(d.path(), "8c5e1a.key", b"3f9a0c1d2e4b5a6f\n");
        assert_eq!(read_key_file(&p, d.path()).unwrap().expose(), "3f9a0c1d2e4b5a6f");
        let header = format!("Basic realm={}", p.display());
        assert_eq!(
            read_challenged_key(Some(&header), d.path()).unwrap().expose(),
            "3f9a0c1d2e4b5a6f"
        );
        let max = write(d.path(), "max.key", &[b'k'; 4096]);
        assert_eq!(read_key_file(&max, d.path()).unwrap().expose().len(), 4096);
    }

    #[test]
    fn hostile_paths_are_refused_before_any_io() {
        let d = folder();
        for header in [
            "Basic realm=/etc/shadow".to_string(),
            format!("Basic realm={}/../../etc/shadow", d.path().display()),
            format!("Basic realm={}/sub/x.key", d.path().display()),
            format!("Basic realm={}/x.txt", d.path().display()),
        ] {
            let e = refused(read_challenged_key(Some(&header), d.path()));
            assert!(e.hint.unwrap().contains("nothing was read or sent"), "{header}");
        }
        // a *.key file outside the folder exists but is not read
        let other = folder();
        let outside = write(other.path(), "x.key", b"secret-outside");
        let e = refused(read_key_file(&outside, d.path()));
        assert!(
            e.message.contains("not directly in the agent's folder"),
            "{}",
            e.message
        );
    }

    #[test]
    fn links_and_special_files_are_refused() {
        let d = folder();
        let target = write(d.path(), "real.key", b"abc123");
        let link = d.path().join("link.key");
        symlink(&target, &link).unwrap();
        let e = refused(read_key_file(&link, d.path()));
        assert!(e.message.contains("is a link"), "{}", e.message);
        let outside = folder();
        let shadow = write(outside.path(), "shadow", b"root:x:0:0");
        let link2 = d.path().join("shadow.key");
        symlink(&shadow, &link2).unwrap();
        refused(read_key_file(&link2, d.path()));

        std::fs::create_dir(d.path().join("dir.key")).unwrap();
        let e = refused(read_key_file(&d.path().join("dir.key"), d.path()));
        assert!(e.message.contains("not a regular file"));

        let fifo = d.path().join("fifo.key");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = refused(read_key_file(&fifo, d.path()));
        assert!(e.message.contains("not a regular file"));

        let e = refused(read_key_file(&d.path().join("missing.key"), d.path()));
        assert!(e.message.contains("cannot be examined"));
    }

    #[test]
    fn size_and_content_are_checked() {
        let d = folder();
        let big = write(d.path(), "big.key", &[b'k'; 4097]);
        assert!(
            refused(read_key_file(&big, d.path()))
                .message
                .contains("larger than 4096")
        );
        for (name, content) in [
            ("empty.key", &b""[..]),
            ("blank.key", b" \n"),
            ("ctl.key", b"abc\r\nInjected: 1"),
            ("bin.key", &[0xff, 0xfe, 0x00]),
            ("space.key", b"a b"),
        ] {
            let p = write(d.path(), name, content);
            refused(read_key_file(&p, d.path()));
        }
    }

    #[test]
    fn owner_rule() {
        assert!(owner_allowed(0, 1000));
        assert!(owner_allowed(1000, 1000));
        assert!(!owner_allowed(1001, 1000));
        assert!(owner_allowed(0, 0));
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // as root, a file owned by someone else is refused
            let d = folder();
            let p = write(d.path(), "theirs.key", b"abc123");
            std::os::unix::fs::chown(&p, Some(4242), Some(4242)).unwrap();
            let e = refused(read_key_file(&p, d.path()));
            assert!(e.message.contains("uid 4242"), "{}", e.message);
        }
        // readable by the owner only is fine (the agent's files are 0600)
        let d = folder();
        let p = write(d.path(), "mine.key", b"abc123");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_key_file(&p, d.path()).is_ok());
    }
}
