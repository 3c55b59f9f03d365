//! Owned paths on Windows: directories and files are opened with `FILE_FLAG_OPEN_REPARSE_POINT`
//! so a symlink or junction is seen, not followed, and refused; a directory's owner must be the
//! current user (or SYSTEM / Administrators) and its DACL must grant write access to nobody
//! else. A verified directory is held open without `FILE_SHARE_DELETE`, so it cannot be renamed
//! or replaced while entra-token works in it; files below it are then opened by path, each
//! re-checked. The only `unsafe` code of entra-token's file handling (Win32 security calls).

use super::{OwnedPathError, Problem, Removal, is_plain_name, is_stale_temp, temp_name};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};
use windows_sys::Win32::Foundation::{GENERIC_ALL, GENERIC_WRITE, LocalFree};
use windows_sys::Win32::Security::Authorization::{GetSecurityInfo, SE_FILE_OBJECT};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, DACL_SECURITY_INFORMATION, EqualSid, GetAce, GetTokenInformation,
    INHERIT_ONLY_ACE, IsWellKnownSid, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, TOKEN_QUERY, TOKEN_USER,
    TokenUser, WinBuiltinAdministratorsSid, WinLocalSystemSid,
};
use windows_sys::Win32::Storage::FileSystem::{
    DELETE, FILE_APPEND_DATA, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT, FILE_DELETE_CHILD,
    FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_WRITE_DATA,
    WRITE_DAC, WRITE_OWNER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// `ACCESS_ALLOWED_ACE_TYPE` (winnt.h).
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;

/// Rights that let someone change a directory's content or its protection.
const WRITE_RIGHTS: u32 = FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | FILE_DELETE_CHILD
    | DELETE
    | WRITE_DAC
    | WRITE_OWNER
    | GENERIC_WRITE
    | GENERIC_ALL;

/// A directory entra-token owns, held open so it cannot be renamed or replaced meanwhile.
#[derive(Debug)]
pub(crate) struct OwnedDir {
    /// Held open: pins the directory (no rename or removal) while entra-token works in it.
    #[allow(dead_code)]
    handle: File,
    path: PathBuf,
}

/// The current user's `TOKEN_USER` (its SID points into the buffer), read once.
fn current_user() -> Option<&'static [u64]> {
    static USER: std::sync::OnceLock<Option<Box<[u64]>>> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        // SAFETY: plain Win32 calls with out-pointers to locals; the buffer is u64-aligned
        // (TOKEN_USER needs pointer alignment) and its length is passed in bytes.
        unsafe {
            let mut token = std::ptr::null_mut();
            if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
                return None;
            }
            let token = OwnedHandle(token);
            let mut buf = vec![0u64; 64];
            let mut len = 0u32;
            let ok = GetTokenInformation(
                token.0,
                TokenUser,
                buf.as_mut_ptr().cast(),
                (buf.len() * 8) as u32,
                &mut len,
            );
            (ok != 0).then(|| buf.into_boxed_slice())
        }
    })
    .as_deref()
}

struct OwnedHandle(windows_sys::Win32::Foundation::HANDLE);

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenProcessToken and is closed once.
        unsafe {
            windows_sys::Win32::Foundation::CloseHandle(self.0);
        }
    }
}

/// Frees a security descriptor returned by `GetSecurityInfo`.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Drop for Descriptor {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by GetSecurityInfo with LocalAlloc; freed once.
            unsafe {
                LocalFree(self.0);
            }
        }
    }
}

/// The current user, SYSTEM or the Administrators group: the principals trusted like root.
///
/// SAFETY: `sid` must point to a valid SID.
unsafe fn is_trusted(sid: PSID) -> bool {
    unsafe {
        if let Some(user) = current_user() {
            let tu = user.as_ptr() as *const TOKEN_USER;
            if EqualSid(sid, (*tu).User.Sid) != 0 {
                return true;
            }
        }
        IsWellKnownSid(sid, WinLocalSystemSid) != 0 || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) != 0
    }
}

/// The owner is trusted and (with `dacl`) no ACE grants write rights to anyone else.
fn check_security(file: &File, dacl: bool) -> Result<(), Problem> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut acl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    let what = OWNER_SECURITY_INFORMATION | if dacl { DACL_SECURITY_INFORMATION } else { 0 };
    // SAFETY: the handle is open for the duration of the call; the out-pointers point into
    // `sd`, which is kept alive (and freed) by `Descriptor` until the checks are done.
    unsafe {
        let rc = GetSecurityInfo(
            file.as_raw_handle(),
            SE_FILE_OBJECT,
            what,
            &mut owner,
            std::ptr::null_mut(),
            if dacl { &mut acl } else { std::ptr::null_mut() },
            std::ptr::null_mut(),
            &mut sd,
        );
        let _guard = Descriptor(sd);
        if rc != 0 {
            return Err(Problem::Io(std::io::Error::from_raw_os_error(rc as i32)));
        }
        if owner.is_null() || !is_trusted(owner) {
            return Err(Problem::ForeignOwner(None));
        }
        if !dacl {
            return Ok(());
        }
        if acl.is_null() {
            // a NULL DACL grants everyone full access
            return Err(Problem::WritableByOthers(None));
        }
        for i in 0..u32::from((*acl).AceCount) {
            let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
            if GetAce(acl, i, &mut ace) == 0 || ace.is_null() {
                return Err(Problem::Io(std::io::Error::last_os_error()));
            }
            let header = &*(ace as *const ACE_HEADER);
            if u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0 || header.AceType != ACCESS_ALLOWED_ACE_TYPE {
                continue;
            }
            let allowed = &*(ace as *const ACCESS_ALLOWED_ACE);
            let sid = &allowed.SidStart as *const u32 as PSID;
            if allowed.Mask & WRITE_RIGHTS != 0 && !is_trusted(sid) {
                return Err(Problem::WritableByOthers(None));
            }
        }
    }
    Ok(())
}

fn open_nofollow(path: &Path, options: &mut OpenOptions, dir: bool) -> std::io::Result<File> {
    let mut flags = FILE_FLAG_OPEN_REPARSE_POINT;
    if dir {
        flags |= FILE_FLAG_BACKUP_SEMANTICS;
        // no FILE_SHARE_DELETE: the directory cannot be renamed or removed while held
        options.share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE);
    }
    options.custom_flags(flags).open(path)
}

/// Refuses reparse points (symlinks, junctions) and the wrong kind of object.
fn check_kind(file: &File, dir: bool) -> Result<std::fs::Metadata, Problem> {
    let meta = file.metadata().map_err(Problem::Io)?;
    let attrs = meta.file_attributes();
    if attrs & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err(Problem::Link);
    }
    let is_dir = attrs & FILE_ATTRIBUTE_DIRECTORY != 0;
    if dir && !is_dir {
        return Err(Problem::NotA("a directory"));
    }
    if !dir && (is_dir || !meta.is_file()) {
        return Err(Problem::NotA("a regular file"));
    }
    Ok(meta)
}

fn epoch_secs(t: std::io::Result<std::time::SystemTime>) -> i64 {
    t.ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl OwnedDir {
    /// See the Unix version: `base` is followed and created if missing; each directory of
    /// `chain` is opened without following links, created if missing (inheriting the parent's
    /// ACL, private under `%LOCALAPPDATA%`), and must pass the owner and DACL checks.
    pub(crate) fn open(base: &Path, chain: &[&str], create: bool) -> Result<OwnedDir, OwnedPathError> {
        if chain.is_empty() {
            return Err(OwnedPathError::new(base, Problem::BadName));
        }
        if create && !base.exists() {
            std::fs::create_dir_all(base).map_err(|e| OwnedPathError::io(base, e))?;
        }
        let handle = OpenOptions::new()
            .read(true)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(base)
            .map_err(|e| OwnedPathError::io(base, e))?;
        let mut dir = OwnedDir {
            handle,
            path: base.to_path_buf(),
        };
        for name in chain {
            dir = dir.subdir(name, create)?;
        }
        Ok(dir)
    }

    pub(crate) fn subdir(&self, name: &str, create: bool) -> Result<OwnedDir, OwnedPathError> {
        let path = self.child(name)?;
        let open = |p: &Path| open_nofollow(p, OpenOptions::new().read(true), true);
        let handle = match open(&path) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                match std::fs::create_dir(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(OwnedPathError::io(path, e)),
                }
                open(&path).map_err(|e| OwnedPathError::io(&path, e))?
            }
            Err(e) => return Err(OwnedPathError::io(path, e)),
        };
        check_kind(&handle, true).map_err(|p| OwnedPathError::new(&path, p))?;
        check_security(&handle, true).map_err(|p| OwnedPathError::new(&path, p))?;
        Ok(OwnedDir { handle, path })
    }

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

    fn open_checked(&self, name: &str, options: &mut OpenOptions) -> Result<(File, std::fs::Metadata), OwnedPathError> {
        let path = self.child(name)?;
        let file = open_nofollow(&path, options, false).map_err(|e| OwnedPathError::io(&path, e))?;
        let meta = check_kind(&file, false).map_err(|p| OwnedPathError::new(&path, p))?;
        check_security(&file, false).map_err(|p| OwnedPathError::new(&path, p))?;
        Ok((file, meta))
    }

    pub(crate) fn read(&self, name: &str, cap: u64) -> Result<Option<Vec<u8>>, OwnedPathError> {
        let (file, meta) = match self.open_checked(name, OpenOptions::new().read(true)) {
            Ok(f) => f,
            Err(e) if e.is_missing() => return Ok(None),
            Err(e) => return Err(e),
        };
        let path = self.path.join(name);
        if meta.len() > cap {
            return Err(OwnedPathError::new(path, Problem::TooLarge(cap)));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(cap.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| OwnedPathError::io(&path, e))?;
        if bytes.len() as u64 > cap {
            return Err(OwnedPathError::new(path, Problem::TooLarge(cap)));
        }
        Ok(Some(bytes))
    }

    /// Creates the new file `name` (never an existing file or a link). `_mode` is Unix-only:
    /// the file inherits the directory's private ACL.
    pub(crate) fn create_new(&self, name: &str, _mode: u32) -> Result<File, OwnedPathError> {
        self.open_checked(name, OpenOptions::new().write(true).create_new(true))
            .map(|(f, _)| f)
    }

    pub(crate) fn open_lock(&self, name: &str) -> Result<File, OwnedPathError> {
        self.open_checked(
            name,
            OpenOptions::new().read(true).write(true).create(true).truncate(false),
        )
        .map(|(f, _)| f)
    }

    pub(crate) fn write_atomic(&self, name: &str, bytes: &[u8], now: i64) -> Result<(), OwnedPathError> {
        let path = self.child(name)?;
        let _ = self.sweep_stale_temp(now);
        let tmp = temp_name(name).map_err(|e| OwnedPathError::io(&path, e))?;
        let tmp_path = self.path.join(&tmp);
        let result = (|| {
            let mut file = self.create_new(&tmp, 0o600)?;
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| OwnedPathError::io(&tmp_path, e))?;
            drop(file);
            // MoveFileEx replaces a link at `path` itself, never its target
            std::fs::rename(&tmp_path, &path).map_err(|e| OwnedPathError::io(&path, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp_path);
        }
        result
    }

    pub(crate) fn names(&self) -> Result<Vec<String>, OwnedPathError> {
        let rd = std::fs::read_dir(&self.path).map_err(|e| OwnedPathError::io(&self.path, e))?;
        let mut names: Vec<String> = rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
        names.sort();
        Ok(names)
    }

    fn own_regular_file(&self, name: &str) -> Result<std::fs::Metadata, Problem> {
        self.open_checked(name, OpenOptions::new().read(true))
            .map(|(_, m)| m)
            .map_err(|e| e.problem)
    }

    pub(crate) fn remove(&self, name: &str) -> Result<bool, OwnedPathError> {
        let path = self.child(name)?;
        match self.own_regular_file(name) {
            Ok(_) => {}
            Err(Problem::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(p) => return Err(OwnedPathError::new(path, p)),
        }
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(OwnedPathError::io(path, e)),
        }
    }

    pub(crate) fn remove_matching(&self, is_ours: impl Fn(&str) -> bool) -> Result<Removal, OwnedPathError> {
        let mut report = Removal::default();
        for name in self.names()? {
            if !is_ours(&name) {
                continue;
            }
            match self.own_regular_file(&name) {
                Ok(_) => match std::fs::remove_file(self.path.join(&name)) {
                    Ok(()) => report.removed.push(name),
                    Err(e) => report.skipped.push((name, e.to_string())),
                },
                Err(why) => report.skipped.push((name, why.to_string())),
            }
        }
        Ok(report)
    }

    pub(crate) fn sweep_stale_temp(&self, now: i64) -> Result<Vec<String>, OwnedPathError> {
        let mut removed = Vec::new();
        for name in self.names()? {
            if !name.ends_with(".tmp") {
                continue;
            }
            if let Ok(meta) = self.own_regular_file(&name)
                && is_stale_temp(&name, epoch_secs(meta.modified()), now)
                && std::fs::remove_file(self.path.join(&name)).is_ok()
            {
                removed.push(name);
            }
        }
        Ok(removed)
    }

    /// Whether `name` may be replaced by a write: missing, or a file of ours.
    pub(crate) fn may_replace(&self, name: &str) -> Result<(), OwnedPathError> {
        let path = self.child(name)?;
        match self.own_regular_file(name) {
            Err(p @ Problem::ForeignOwner(_)) => Err(OwnedPathError::new(path, p)),
            _ => Ok(()),
        }
    }
}
