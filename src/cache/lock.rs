//! The per-key cross-process lock of single flight: `<cache>/locks/<stem>.lock`, taken with
//! std's `File::lock` (flock: released by the OS if the holder dies).

use super::file::ensure_private_dir;
use std::fs::{File, OpenOptions};
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

/// Takes `<cache>/locks/<stem>.lock`, polling `try_lock` until `wait` has passed (`Ok(None)`).
pub(crate) fn lock(dir: &Path, stem: &str, wait: Duration) -> std::io::Result<Option<KeyLock>> {
    let ldir = dir.join("locks");
    ensure_private_dir(dir)?;
    ensure_private_dir(&ldir)?;
    let path = ldir.join(format!("{stem}.lock"));
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let file = o.open(&path)?;
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
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}
