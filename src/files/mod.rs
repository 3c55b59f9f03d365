//! Every file entra-token opens, in three kinds; nothing here decides what a file means. (The one
//! exception is the Azure Arc agent's key file, whose rules — root-owned, in the agent's folder —
//! are the managed identity's: `credential/arc_key.rs`.)
//!
//! - Paths entra-token OWNS (the cache directory and its entries, lock files, temp files, state
//!   files): [`OwnedDir`] opens a directory chain without following symlinks, checks that each
//!   directory it creates or reuses belongs to the current user and is not writable by anyone
//!   else, and then opens files only relative to that verified directory, again without
//!   following symlinks, checking the open file (regular, same owner, not writable by others)
//!   and reading it with a size cap. Writes are atomic (private temp file, fsync, rename, fsync
//!   of the directory); removal touches only regular files whose names the caller recognizes.
//! - Files entra-token owns at a path the USER chose (`activity pull --state`): [`owned_file`]
//!   opens each without following a symlink and with the same ownership checks.
//! - Paths the USER names (certificates, secret, password and federated token files,
//!   `SSL_CERT_FILE`, `config.toml`, `api --input`): [`read_user_file`] follows them as given
//!   (a federated token file is often a symlink into a Kubernetes projected volume owned by
//!   root), accepts a regular file, stdin (`-`) or a pipe, refuses devices and sockets, caps the
//!   size and gives up at a deadline (a FIFO nobody writes to is an error, not a hang).
//!
//! Threat model: other local users are not trusted (they may plant files, symlinks or FIFOs in
//! shared directories); the current user and root are.
//!
//! A state file of entra-token's own (the cache uses the same calls in `cache/file.rs`):
//!
//! ```text
//! let dir = files::OwnedDir::open(&cache_home, &["entra-token", "activity"], true)?; // 0700, verified
//! let state = dir.read("state.json", CAP)?;              // Ok(None): missing; a link/FIFO/foreign file: Err
//! let _lock = dir.open_lock("state.lock")?.lock();       // never created through a link
//! dir.write_atomic("state.json", &bytes, rt::now())?;    // 0600 temp + fsync + rename; sweeps stale *.tmp
//! ```
//!
//! `OwnedPathError::is_missing` is an ordinary absence; `is_refusal` means "not safe to use":
//! warn and go on without it, or exit 2 when the user asked for it explicitly.

pub(crate) mod owned_file;
mod user;

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub(crate) use unix::OwnedDir;
#[cfg(windows)]
pub(crate) use windows::OwnedDir;

pub(crate) use user::read_user_file;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Temp files (`*.tmp`) older than this are left-overs of a killed writer and are swept.
pub(crate) const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Why an owned path was not used.
#[derive(Debug)]
pub(crate) enum Problem {
    /// A symbolic link (or, on Windows, a reparse point) where a file or directory of ours
    /// should be.
    Link,
    /// Owned by someone other than the current user (the owner's id, when known).
    ForeignOwner(Option<u32>),
    /// Writable by group or others (the mode on Unix; `None` where modes do not exist).
    WritableByOthers(Option<u32>),
    /// The parent of the first directory we own is writable by others without the sticky bit,
    /// so others could rename our directory away and put theirs in its place.
    /// (Unix: on Windows the DACL of each directory is checked instead.)
    #[cfg_attr(windows, allow(dead_code))]
    UnsafeParent(Option<u32>),
    /// Something other than what was expected (`"a regular file"`, `"a directory"`).
    NotA(&'static str),
    /// Larger than the cap (in bytes).
    TooLarge(u64),
    /// A name with a path separator, `.` or `..` (a bug in the caller).
    BadName,
    /// The operating system refused (not found, permission denied, ...).
    Io(std::io::Error),
}

/// An owned path that could not be used, and why.
#[derive(Debug)]
pub(crate) struct OwnedPathError {
    pub(crate) path: PathBuf,
    pub(crate) problem: Problem,
}

impl OwnedPathError {
    pub(crate) fn new(path: impl Into<PathBuf>, problem: Problem) -> Self {
        OwnedPathError {
            path: path.into(),
            problem,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Self::new(path, Problem::Io(err))
    }

    /// The path does not exist (an ordinary cache miss, not a refusal).
    pub(crate) fn is_missing(&self) -> bool {
        matches!(&self.problem, Problem::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    /// The path exists but is not safe to use: a link, another owner, writable by others, the
    /// wrong kind of file. Under `--cache auto` the cache is then not used (a warning); with
    /// `--cache file` it is exit 2.
    pub(crate) fn is_refusal(&self) -> bool {
        !matches!(self.problem, Problem::Io(_))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Link => {
                f.write_str("is a symbolic link (or another kind of link), which entra-token never follows here")
            }
            Problem::ForeignOwner(Some(uid)) => write!(f, "is owned by another user (uid {uid})"),
            Problem::ForeignOwner(None) => f.write_str("is owned by another user"),
            Problem::WritableByOthers(Some(mode)) => {
                write!(f, "is writable by group or others (mode {:04o})", mode & 0o7777)
            }
            Problem::WritableByOthers(None) => f.write_str("is writable by other users"),
            Problem::UnsafeParent(Some(mode)) => write!(
                f,
                "is in a directory other users can write to without the sticky bit (mode {:04o})",
                mode & 0o7777
            ),
            Problem::UnsafeParent(None) => f.write_str("is in a directory other users can write to"),
            Problem::NotA(what) => write!(f, "is not {what}"),
            Problem::TooLarge(cap) => write!(f, "is larger than {cap} bytes"),
            Problem::BadName => f.write_str("is not a plain file name"),
            Problem::Io(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for OwnedPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for OwnedPathError {}

/// What [`OwnedDir::remove_matching`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Removal {
    /// Names removed.
    pub(crate) removed: Vec<String>,
    /// Names that matched but were left alone, with the reason (not a regular file, not ours).
    pub(crate) skipped: Vec<(String, String)>,
}

/// A single path component: no separator, not `.` or `..`, not empty, no NUL.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !(cfg!(windows) && name.contains(':'))
}

/// The temp-file name for an atomic write of `name`: hidden, unique, ending in `.tmp`.
pub(crate) fn temp_name(name: &str) -> std::io::Result<String> {
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).map_err(|e| std::io::Error::other(e.to_string()))?;
    let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(".{name}.{}.{hex}.tmp", std::process::id()))
}

/// Whether a directory entry is a temp file of ours whose writer is gone: a `*.tmp` name last
/// modified [`STALE_TEMP_AGE`] or more before `now` (epoch seconds).
pub(crate) fn is_stale_temp(name: &str, mtime: i64, now: i64) -> bool {
    name.ends_with(".tmp") && now.saturating_sub(mtime) >= STALE_TEMP_AGE.as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for ok in ["tokens", "abc.json", ".x.tmp", "a b"] {
            assert!(is_plain_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "/abs", "a\0b", "a\\b"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn temp_names_are_unique_hidden_and_swept() {
        let a = temp_name("k.json").unwrap();
        let b = temp_name("k.json").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(".k.json.") && a.ends_with(".tmp"), "{a}");
        assert!(is_stale_temp(&a, 1000, 1060));
        assert!(!is_stale_temp(&a, 1000, 1059));
        assert!(!is_stale_temp("k.json", 0, 1_000_000));
        // a clock far in the past or future never panics
        assert!(!is_stale_temp(&a, i64::MAX, i64::MIN));
        assert!(is_stale_temp(&a, i64::MIN, i64::MAX));
    }

    #[test]
    fn errors_say_what_and_classify() {
        let e = OwnedPathError::new("/c/tokens", Problem::WritableByOthers(Some(0o40777)));
        assert_eq!(e.to_string(), "/c/tokens is writable by group or others (mode 0777)");
        assert!(e.is_refusal() && !e.is_missing());
        let m = OwnedPathError::io("/c/x", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(m.is_missing() && !m.is_refusal());
    }
}
