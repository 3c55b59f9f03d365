//! Owned paths on Unix: a verified directory file descriptor and `openat`/`renameat`/`unlinkat`
//! relative to it with `O_NOFOLLOW`, ownership and mode checked with `fstat` on what was opened
//! (no check-then-open race). Must not follow a link or chmod anything it has not opened itself.

use super::{OwnedPathError, Problem, Removal, is_plain_name, is_stale_temp, temp_name};
use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Files are opened non-blocking so that a FIFO planted in place of an entry cannot block the
/// open; `fstat` then refuses it because it is not a regular file.
const READ_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK);

const S_ISVTX: u32 = 0o1000;
const GROUP_OR_OTHER_WRITE: u32 = 0o022;

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// A directory entra-token owns, held open: every file operation is relative to this verified
/// descriptor, so renaming or replacing a path component afterwards changes nothing.
#[derive(Debug)]
pub(crate) struct OwnedDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// The facts the checks need, from `fstat` or `fstatat`.
struct Facts {
    mode: u32,
    uid: u32,
    mtime: i64,
}

impl Facts {
    fn of_open(file: &File) -> std::io::Result<Facts> {
        let m = file.metadata()?;
        Ok(Facts {
            mode: m.mode(),
            uid: m.uid(),
            mtime: m.mtime(),
        })
    }

    // `st_mode` is `u16` on some platforms and the sizes' signedness differs, so the casts are
    // needed there and redundant here.
    #[allow(clippy::unnecessary_cast)]
    fn of_stat(st: &rustix::fs::Stat) -> Facts {
        Facts {
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            mtime: st.st_mtime as i64,
        }
    }

    fn file_type(&self) -> rustix::fs::FileType {
        rustix::fs::FileType::from_raw_mode(self.mode as rustix::fs::RawMode)
    }

    /// Owned by the current user and writable by nobody else.
    fn check_private(&self) -> Result<(), Problem> {
        if self.uid != euid() {
            return Err(Problem::ForeignOwner(Some(self.uid)));
        }
        if self.mode & GROUP_OR_OTHER_WRITE != 0 {
            return Err(Problem::WritableByOthers(Some(self.mode)));
        }
        Ok(())
    }
}

fn to_io(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from(e)
}

impl OwnedDir {
    /// Opens `base` (a path the user chose, e.g. `$XDG_CACHE_HOME`: followed as given, created
    /// with mode 0700 if missing and `create`), then each of `chain` below it without following
    /// links, creating missing ones (mode 0700) when `create`. `base` may be writable by others
    /// only when it has the sticky bit (like /tmp) or belongs to the current user; every
    /// directory of `chain` must be owned by the current user and not writable by group or
    /// others (read bits for others are removed, through the verified descriptor).
    pub(crate) fn open(base: &Path, chain: &[&str], create: bool) -> Result<OwnedDir, OwnedPathError> {
        if chain.is_empty() {
            return Err(OwnedPathError::new(base, Problem::BadName));
        }
        if create && !base.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(base)
                .map_err(|e| OwnedPathError::io(base, e))?;
        }
        let base_fd = rustix::fs::open(
            base,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| OwnedPathError::io(base, to_io(e)))?;
        let base_file = File::from(base_fd);
        let facts = Facts::of_open(&base_file).map_err(|e| OwnedPathError::io(base, e))?;
        let first = base.join(chain[0]);
        let sticky = facts.mode & S_ISVTX != 0;
        let others_write = facts.mode & 0o002 != 0;
        let group_write = facts.mode & 0o020 != 0;
        if !sticky && (others_write || (group_write && facts.uid != euid())) {
            return Err(OwnedPathError::new(first, Problem::UnsafeParent(Some(facts.mode))));
        }
        let mut dir = OwnedDir {
            fd: OwnedFd::from(base_file),
            path: base.to_path_buf(),
        };
        for name in chain {
            dir = dir.subdir(name, create)?;
        }
        Ok(dir)
    }

    /// The directory `name` inside this one, verified like the chain of [`OwnedDir::open`].
    pub(crate) fn subdir(&self, name: &str, create: bool) -> Result<OwnedDir, OwnedPathError> {
        let path = self.child(name)?;
        let fd = match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(OwnedPathError::io(path, to_io(e))),
                }
                rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty())
                    .map_err(|e| self.describe_open_failure(name, path.clone(), e, "a directory"))?
            }
            Err(e) => return Err(self.describe_open_failure(name, path, e, "a directory")),
        };
        let file = File::from(fd);
        let facts = Facts::of_open(&file).map_err(|e| OwnedPathError::io(&path, e))?;
        facts.check_private().map_err(|p| OwnedPathError::new(&path, p))?;
        if facts.mode & 0o077 != 0 {
            rustix::fs::fchmod(&file, Mode::from_raw_mode(0o700)).map_err(|e| OwnedPathError::io(&path, to_io(e)))?;
        }
        Ok(OwnedDir {
            fd: OwnedFd::from(file),
            path,
        })
    }

    /// The directory's path (for messages; never used to open anything below it).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn child(&self, name: &str) -> Result<PathBuf, OwnedPathError> {
        let path = self.path.join(name);
        if is_plain_name(name) {
            Ok(path)
        } else {
            Err(OwnedPathError::new(path, Problem::BadName))
        }
    }

    /// Turns `ELOOP`/`ENOTDIR` into what is actually there (a link, the wrong kind of file).
    fn describe_open_failure(
        &self,
        name: &str,
        path: PathBuf,
        err: rustix::io::Errno,
        expected: &'static str,
    ) -> OwnedPathError {
        if let Ok(st) = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            let ft = Facts::of_stat(&st).file_type();
            if ft == rustix::fs::FileType::Symlink {
                return OwnedPathError::new(path, Problem::Link);
            }
            if matches!(err, rustix::io::Errno::NOTDIR | rustix::io::Errno::ISDIR) {
                return OwnedPathError::new(path, Problem::NotA(expected));
            }
        }
        OwnedPathError::io(path, to_io(err))
    }

    /// Opens the regular file `name` for reading and checks it: not a link, a regular file,
    /// owned by the current user, not writable by group or others.
    fn open_checked(&self, name: &str, flags: OFlags, mode: u32) -> Result<File, OwnedPathError> {
        let path = self.child(name)?;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(mode))
            .map_err(|e| self.describe_open_failure(name, path.clone(), e, "a regular file"))?;
        let file = File::from(fd);
        let facts = Facts::of_open(&file).map_err(|e| OwnedPathError::io(&path, e))?;
        if facts.file_type() != rustix::fs::FileType::RegularFile {
            return Err(OwnedPathError::new(path, Problem::NotA("a regular file")));
        }
        facts.check_private().map_err(|p| OwnedPathError::new(&path, p))?;
        Ok(file)
    }

    /// The content of `name`, at most `cap` bytes (`Ok(None)`: there is no such file). A link,
    /// a FIFO, a device, a file of another user or one others may write is refused.
    pub(crate) fn read(&self, name: &str, cap: u64) -> Result<Option<Vec<u8>>, OwnedPathError> {
        let file = match self.open_checked(name, READ_FLAGS, 0) {
            Ok(f) => f,
            Err(e) if e.is_missing() => return Ok(None),
            Err(e) => return Err(e),
        };
        let path = self.path.join(name);
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > cap {
            return Err(OwnedPathError::new(path, Problem::TooLarge(cap)));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| OwnedPathError::io(&path, e))?;
        if bytes.len() as u64 > cap {
            return Err(OwnedPathError::new(path, Problem::TooLarge(cap)));
        }
        Ok(Some(bytes))
    }

    /// Creates the new file `name` (mode `mode`, never an existing file or through a link).
    pub(crate) fn create_new(&self, name: &str, mode: u32) -> Result<File, OwnedPathError> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        self.open_checked(name, flags, mode)
    }

    /// Opens (creating it, mode 0600) the lock file `name` for `File::lock`/`try_lock`: a link
    /// in its place (even a dangling one) is refused, never created through.
    pub(crate) fn open_lock(&self, name: &str) -> Result<File, OwnedPathError> {
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        self.open_checked(name, flags, 0o600)
    }

    /// Replaces `name` with `bytes` atomically: a new private (0600) temp file in this
    /// directory, written and fsync'ed, renamed over `name`, then the directory fsync'ed. Stale
    /// temp files of killed writers are swept first (`now`: epoch seconds).
    pub(crate) fn write_atomic(&self, name: &str, bytes: &[u8], now: i64) -> Result<(), OwnedPathError> {
        let path = self.child(name)?;
        let _ = self.sweep_stale_temp(now);
        let tmp = temp_name(name).map_err(|e| OwnedPathError::io(&path, e))?;
        let result = (|| {
            let mut file = self.create_new(&tmp, 0o600)?;
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| OwnedPathError::io(self.path.join(&tmp), e))?;
            drop(file);
            rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name)
                .map_err(|e| OwnedPathError::io(&path, to_io(e)))?;
            rustix::fs::fsync(&self.fd).map_err(|e| OwnedPathError::io(&self.path, to_io(e)))
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        }
        result
    }

    /// The names in this directory (UTF-8 names only; `.` and `..` left out).
    pub(crate) fn names(&self) -> Result<Vec<String>, OwnedPathError> {
        let dir = Dir::read_from(self.fd.as_fd()).map_err(|e| OwnedPathError::io(&self.path, to_io(e)))?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| OwnedPathError::io(&self.path, to_io(e)))?;
            if let Ok(name) = entry.file_name().to_str()
                && name != "."
                && name != ".."
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The facts of `name` when it is a regular file of the current user (not a link).
    fn own_regular_file(&self, name: &str) -> Result<Facts, Problem> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Problem::Io(to_io(e)))?;
        let facts = Facts::of_stat(&st);
        match facts.file_type() {
            rustix::fs::FileType::RegularFile => {}
            rustix::fs::FileType::Symlink => return Err(Problem::Link),
            _ => return Err(Problem::NotA("a regular file")),
        }
        if facts.uid != euid() {
            return Err(Problem::ForeignOwner(Some(facts.uid)));
        }
        Ok(facts)
    }

    /// Removes the regular file `name` if it is ours (`Ok(false)`: there was none). A link or
    /// anything else in its place is refused, not removed.
    pub(crate) fn remove(&self, name: &str) -> Result<bool, OwnedPathError> {
        let path = self.child(name)?;
        match self.own_regular_file(name) {
            Ok(_) => {}
            Err(Problem::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(p) => return Err(OwnedPathError::new(path, p)),
        }
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(OwnedPathError::io(path, to_io(e))),
        }
    }

    /// Removes every regular file of the current user whose name `is_ours` recognizes; links,
    /// directories, FIFOs and files of other users are left alone (and reported).
    pub(crate) fn remove_matching(&self, is_ours: impl Fn(&str) -> bool) -> Result<Removal, OwnedPathError> {
        let mut report = Removal::default();
        for name in self.names()? {
            if !is_ours(&name) {
                continue;
            }
            match self.own_regular_file(&name) {
                Ok(_) => match rustix::fs::unlinkat(&self.fd, name.as_str(), AtFlags::empty()) {
                    Ok(()) => report.removed.push(name),
                    Err(e) => report.skipped.push((name, e.to_string())),
                },
                Err(why) => report.skipped.push((name, why.to_string())),
            }
        }
        Ok(report)
    }

    /// Removes `*.tmp` files of the current user last modified a minute or more before `now`
    /// (epoch seconds): what a writer killed between create and rename leaves. Returns the
    /// names removed.
    pub(crate) fn sweep_stale_temp(&self, now: i64) -> Result<Vec<String>, OwnedPathError> {
        let mut removed = Vec::new();
        for name in self.names()? {
            if !name.ends_with(".tmp") {
                continue;
            }
            if let Ok(facts) = self.own_regular_file(&name)
                && is_stale_temp(&name, facts.mtime, now)
                && rustix::fs::unlinkat(&self.fd, name.as_str(), AtFlags::empty()).is_ok()
            {
                removed.push(name);
            }
        }
        Ok(removed)
    }

    /// Whether `name` may be replaced by a write: it is missing, or it is ours (a file or a
    /// link of the current user; a link is replaced, never followed). Something of another user
    /// is left alone.
    pub(crate) fn may_replace(&self, name: &str) -> Result<(), OwnedPathError> {
        let path = self.child(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let facts = Facts::of_stat(&st);
                if facts.uid != euid() {
                    return Err(OwnedPathError::new(path, Problem::ForeignOwner(Some(facts.uid))));
                }
                if facts.file_type() == rustix::fs::FileType::Directory {
                    return Err(OwnedPathError::new(path, Problem::NotA("a regular file")));
                }
                Ok(())
            }
            Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(OwnedPathError::io(path, to_io(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn set_mode(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    /// A base directory of the current user (0700) under a fresh temp dir.
    fn base() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let b = t.path().join("cache-home");
        std::fs::create_dir(&b).unwrap();
        set_mode(&b, 0o700);
        (t, b)
    }

    fn nobody() -> Option<u32> {
        // Ownership changes need root; as another user these cases are covered by mode checks.
        (euid() == 0).then_some(65534)
    }

    #[test]
    fn creates_a_private_chain_and_reuses_it() {
        let (_t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token", "tokens"], true).unwrap();
        assert_eq!(d.path(), b.join("entra-token").join("tokens"));
        assert_eq!(mode_of(&b.join("entra-token")), 0o700);
        assert_eq!(mode_of(&b.join("entra-token/tokens")), 0o700);
        let again = OwnedDir::open(&b, &["entra-token", "tokens"], false).unwrap();
        assert_eq!(again.names().unwrap(), Vec::<String>::new());
        // a missing chain without `create` is a miss, not a refusal
        let e = OwnedDir::open(&b, &["other"], false).unwrap_err();
        assert!(e.is_missing(), "{e}");
    }

    #[test]
    fn creates_a_missing_base() {
        let (_t, b) = base();
        let deep = b.join("a/b");
        let d = OwnedDir::open(&deep, &["entra-token"], true).unwrap();
        assert!(d.path().is_dir());
        assert_eq!(mode_of(&deep), 0o700);
    }

    #[test]
    fn readable_dir_is_tightened_but_writable_one_is_refused() {
        let (_t, b) = base();
        let own = b.join("entra-token");
        std::fs::create_dir(&own).unwrap();
        set_mode(&own, 0o755);
        OwnedDir::open(&b, &["entra-token"], false).unwrap();
        assert_eq!(mode_of(&own), 0o700);
        for mode in [0o777, 0o1777, 0o770, 0o702] {
            set_mode(&own, mode);
            let e = OwnedDir::open(&b, &["entra-token"], true).unwrap_err();
            assert!(matches!(e.problem, Problem::WritableByOthers(_)), "{mode:o}: {e}");
            assert!(e.is_refusal());
            assert_eq!(mode_of(&own), mode, "a refused directory is never chmod'ed");
        }
    }

    #[test]
    fn a_symlinked_directory_is_refused_and_its_target_untouched() {
        let (t, b) = base();
        let elsewhere = t.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        set_mode(&elsewhere, 0o755);
        std::fs::write(elsewhere.join("unrelated.json"), b"keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, b.join("entra-token")).unwrap();
        let e = OwnedDir::open(&b, &["entra-token", "tokens"], true).unwrap_err();
        assert!(matches!(e.problem, Problem::Link), "{e}");
        assert_eq!(mode_of(&elsewhere), 0o755, "target not chmod'ed");
        assert!(!elsewhere.join("tokens").exists(), "nothing created through the link");
        // the same one level down
        let own = OwnedDir::open(&b.join("sub"), &["entra-token"], true).unwrap();
        std::os::unix::fs::symlink(&elsewhere, own.path().join("tokens")).unwrap();
        let e = own.subdir("tokens", true).unwrap_err();
        assert!(matches!(e.problem, Problem::Link), "{e}");
        assert_eq!(std::fs::read(elsewhere.join("unrelated.json")).unwrap(), b"keep");
    }

    #[test]
    fn a_file_in_place_of_a_directory_is_refused() {
        let (_t, b) = base();
        std::fs::write(b.join("entra-token"), b"x").unwrap();
        let e = OwnedDir::open(&b, &["entra-token"], true).unwrap_err();
        assert!(matches!(e.problem, Problem::NotA("a directory")), "{e}");
    }

    #[test]
    fn base_rules_sticky_and_foreign_writable() {
        let (_t, b) = base();
        set_mode(&b, 0o777);
        let e = OwnedDir::open(&b, &["entra-token"], true).unwrap_err();
        assert!(matches!(e.problem, Problem::UnsafeParent(_)), "{e}");
        assert!(!b.join("entra-token").exists());
        set_mode(&b, 0o1777);
        OwnedDir::open(&b, &["entra-token"], true).unwrap();
        // group-writable but ours (a user-private-group umask of 002): accepted
        set_mode(&b, 0o775);
        OwnedDir::open(&b, &["entra-token"], true).unwrap();
        if let Some(uid) = nobody() {
            // group-writable and someone else's: refused
            std::os::unix::fs::chown(&b, Some(uid), None).unwrap();
            let e = OwnedDir::open(&b, &["entra-token"], false).unwrap_err();
            assert!(matches!(e.problem, Problem::UnsafeParent(_)), "{e}");
            std::os::unix::fs::chown(&b, Some(0), None).unwrap();
        }
        // a base that is a symlink is the user's choice: followed
        set_mode(&b, 0o700);
        let link = b.parent().unwrap().join("link-to-base");
        std::os::unix::fs::symlink(&b, &link).unwrap();
        OwnedDir::open(&link, &["entra-token"], false).unwrap();
    }

    #[test]
    fn foreign_owned_directory_and_entries_are_refused() {
        let Some(uid) = nobody() else { return };
        let (_t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token"], true).unwrap();
        std::fs::create_dir(d.path().join("tokens")).unwrap();
        std::os::unix::fs::chown(d.path().join("tokens"), Some(uid), None).unwrap();
        let e = d.subdir("tokens", true).unwrap_err();
        assert!(matches!(e.problem, Problem::ForeignOwner(Some(65534))), "{e}");
        std::fs::write(d.path().join("planted.json"), b"{}").unwrap();
        set_mode(&d.path().join("planted.json"), 0o600);
        std::os::unix::fs::chown(d.path().join("planted.json"), Some(uid), None).unwrap();
        let e = d.read("planted.json", 1024).unwrap_err();
        assert!(matches!(e.problem, Problem::ForeignOwner(_)), "{e}");
        // clear leaves a foreign file alone and says so
        let r = d.remove_matching(|n| n.ends_with(".json")).unwrap();
        assert!(r.removed.is_empty() && r.skipped.len() == 1, "{r:?}");
        assert!(d.path().join("planted.json").exists());
    }

    #[test]
    fn read_refuses_links_special_files_writable_and_large() {
        let (t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token"], true).unwrap();
        assert_eq!(d.read("missing.json", 10).unwrap(), None);
        d.write_atomic("ok.json", b"{\"a\":1}", 0).unwrap();
        assert_eq!(d.read("ok.json", 100).unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(mode_of(&d.path().join("ok.json")), 0o600);
        // 0666: refused
        set_mode(&d.path().join("ok.json"), 0o666);
        let e = d.read("ok.json", 100).unwrap_err();
        assert!(matches!(e.problem, Problem::WritableByOthers(_)), "{e}");
        set_mode(&d.path().join("ok.json"), 0o600);
        // cap
        let e = d.read("ok.json", 3).unwrap_err();
        assert!(matches!(e.problem, Problem::TooLarge(3)), "{e}");
        // a symlink to a file (even one we own) and to /dev/zero
        let target = t.path().join("target.json");
        std::fs::write(&target, b"{}").unwrap();
        std::os::unix::fs::symlink(&target, d.path().join("link.json")).unwrap();
        let e = d.read("link.json", 100).unwrap_err();
        assert!(matches!(e.problem, Problem::Link), "{e}");
        std::os::unix::fs::symlink("/dev/zero", d.path().join("zero.json")).unwrap();
        let e = d.read("zero.json", 100).unwrap_err();
        assert!(matches!(e.problem, Problem::Link), "{e}");
        // a FIFO neither blocks the open nor is read
        rustix::fs::mkfifoat(&d.fd, "fifo.json", Mode::from_raw_mode(0o600)).unwrap();
        let e = d.read("fifo.json", 100).unwrap_err();
        assert!(matches!(e.problem, Problem::NotA("a regular file")), "{e}");
        // a directory
        std::fs::create_dir(d.path().join("dir.json")).unwrap();
        let e = d.read("dir.json", 100).unwrap_err();
        assert!(matches!(e.problem, Problem::NotA(_)), "{e}");
        // names with separators are refused before any system call
        let e = d.read("../x", 100).unwrap_err();
        assert!(matches!(e.problem, Problem::BadName), "{e}");
    }

    #[test]
    fn lock_files_refuse_dangling_links() {
        let (t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token", "locks"], true).unwrap();
        let target = t.path().join("created-by-attack");
        std::os::unix::fs::symlink(&target, d.path().join("k.lock")).unwrap();
        let e = d.open_lock("k.lock").unwrap_err();
        assert!(matches!(e.problem, Problem::Link), "{e}");
        assert!(!target.exists(), "the link target was not created");
        let f = d.open_lock("k2.lock").unwrap();
        f.try_lock().unwrap();
        assert_eq!(mode_of(&d.path().join("k2.lock")), 0o600);
        // reopening an existing lock file works
        let g = d.open_lock("k2.lock").unwrap();
        assert!(g.try_lock().is_err(), "flock is per open file description");
        drop(f);
        g.try_lock().unwrap();
    }

    #[test]
    fn atomic_write_replaces_a_link_instead_of_following_it() {
        let (t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token"], true).unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, b"original").unwrap();
        std::os::unix::fs::symlink(&victim, d.path().join("e.json")).unwrap();
        d.write_atomic("e.json", b"new", 0).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        assert_eq!(d.read("e.json", 10).unwrap().unwrap(), b"new");
        assert_eq!(d.names().unwrap(), vec!["e.json".to_string()], "no temp file left");
    }

    #[test]
    fn create_new_never_reuses() {
        let (_t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token"], true).unwrap();
        d.create_new("x", 0o600).unwrap();
        let e = d.create_new("x", 0o600).unwrap_err();
        assert!(
            matches!(&e.problem, Problem::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists),
            "{e}"
        );
    }

    #[test]
    fn stale_temp_files_are_swept_fresh_ones_kept() {
        let (_t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token"], true).unwrap();
        for n in [".a.json.1.x.tmp", ".b.json.2.y.tmp", "c.json"] {
            drop(d.create_new(n, 0o600).unwrap());
        }
        let mtime = std::fs::metadata(d.path().join("c.json")).unwrap().mtime();
        assert!(d.sweep_stale_temp(mtime + 30).unwrap().is_empty());
        // a symlink named like a temp file is not ours to remove
        std::os::unix::fs::symlink("/etc/hostname", d.path().join(".l.tmp")).unwrap();
        let swept = d.sweep_stale_temp(mtime + 61).unwrap();
        assert_eq!(
            swept,
            vec![".a.json.1.x.tmp".to_string(), ".b.json.2.y.tmp".to_string()]
        );
        assert_eq!(d.names().unwrap(), vec![".l.tmp".to_string(), "c.json".to_string()]);
        // a write sweeps too
        drop(d.create_new(".old.tmp", 0o600).unwrap());
        d.write_atomic("c.json", b"x", mtime + 3600).unwrap();
        assert!(!d.path().join(".old.tmp").exists());
    }

    #[test]
    fn remove_matching_removes_only_our_regular_files() {
        let (t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token", "tokens"], true).unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep.json"), b"x").unwrap();
        d.write_atomic("0123abcd.json", b"{}", 0).unwrap();
        std::fs::write(d.path().join("notes.txt"), b"user file").unwrap();
        std::os::unix::fs::symlink(&outside, d.path().join("abcdef01.json")).unwrap();
        std::fs::create_dir(d.path().join("feedbeef.json")).unwrap();
        let is_entry = |n: &str| n.ends_with(".json") && n[..n.len() - 5].bytes().all(|c| c.is_ascii_hexdigit());
        let r = d.remove_matching(is_entry).unwrap();
        assert_eq!(r.removed, vec!["0123abcd.json".to_string()]);
        assert_eq!(r.skipped.len(), 2, "{r:?}");
        assert!(d.path().join("notes.txt").exists());
        assert!(outside.join("keep.json").exists());
        assert!(d.path().join("feedbeef.json").is_dir());
        assert!(!d.remove("0123abcd.json").unwrap());
        let e = d.remove("abcdef01.json").unwrap_err();
        assert!(
            matches!(e.problem, Problem::Link) && e.is_refusal(),
            "a link is not removed: {e}"
        );
        assert!(d.path().join("abcdef01.json").symlink_metadata().is_ok());
    }

    #[test]
    fn replaced_path_does_not_redirect_an_open_dir() {
        let (t, b) = base();
        let d = OwnedDir::open(&b, &["entra-token"], true).unwrap();
        // someone renames our directory away and puts a link in its place: the open
        // descriptor still writes into the verified directory
        let moved = t.path().join("moved");
        std::fs::rename(b.join("entra-token"), &moved).unwrap();
        let decoy = t.path().join("decoy");
        std::fs::create_dir(&decoy).unwrap();
        std::os::unix::fs::symlink(&decoy, b.join("entra-token")).unwrap();
        d.write_atomic("e.json", b"x", 0).unwrap();
        assert!(moved.join("e.json").exists());
        assert!(!decoy.join("e.json").exists());
    }
}
