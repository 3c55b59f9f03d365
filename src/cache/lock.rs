//! The per-key cross-process lock of single flight: `<cache>/locks/<stem>.lock`, opened through
//! `files::OwnedDir` (never through a link, even a dangling one) and taken with std's
//! `File::lock` (flock: released by the OS if the holder dies).

use super::file::{LOCKS, open_dir};
use crate::files::OwnedPathError;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// A held per-key lock; released on drop (and by the OS if the process dies).
pub(crate) struct KeyLock {
    file: File,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Why the lock was not taken.
pub(crate) enum LockError {
    /// The directory or the lock file is not safe to use (a link, another owner, ...).
    Refused(OwnedPathError),
    Io(String),
}

/// Takes `<cache>/locks/<stem>.lock`, polling `try_lock` until `wait` has passed (`Ok(None)`).
pub(crate) fn lock(root: &Path, stem: &str, wait: Duration) -> Result<Option<KeyLock>, LockError> {
    let classify = |e: OwnedPathError| {
        if e.is_refusal() {
            LockError::Refused(e)
        } else {
            LockError::Io(e.to_string())
        }
    };
    let dir = open_dir(root, LOCKS, true).map_err(classify)?;
    let file = dir.open_lock(&format!("{stem}.lock")).map_err(classify)?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(KeyLock { file })),
            Err(std::fs::TryLockError::WouldBlock) => {
                if start.elapsed() >= wait {
                    crate::log::info("waited too long for the cache lock: going on without it");
                    return Ok(None);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(LockError::Io(e.to_string())),
        }
    }
}
