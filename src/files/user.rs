//! Reading a file the user named (a flag, a variable or a config key): followed as given, a
//! regular file, stdin (`-`) or a pipe, never a device or socket, size-capped, and bounded by a
//! deadline so that a FIFO nobody writes to ends the command instead of hanging it. Every
//! failure is exit 2 naming the flag or variable. Must not interpret the content.

use crate::error::{Error, Result};
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What kind of thing a user-named path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regular,
    /// A FIFO (Unix); on Windows, named pipes are not reached by a path the user names.
    #[cfg_attr(not(unix), allow(dead_code))]
    Pipe,
    Directory,
    /// A character or block device, a socket, or anything else that is not a file.
    Refused(&'static str),
}

fn kind(meta: &Metadata) -> Kind {
    let ft = meta.file_type();
    if ft.is_file() {
        return Kind::Regular;
    }
    if ft.is_dir() {
        return Kind::Directory;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Kind::Pipe;
        }
        if ft.is_char_device() {
            return Kind::Refused("character device");
        }
        if ft.is_block_device() {
            return Kind::Refused("block device");
        }
        if ft.is_socket() {
            return Kind::Refused("socket");
        }
    }
    Kind::Refused("special file")
}

/// `1048576` → `1 MiB`, for messages about caps.
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn too_large(what: &str, shown: &str, cap: u64) -> Error {
    Error::usage(format!("{what} '{shown}' is larger than {}: refused", human(cap)))
        .hint("point it at the intended file; entra-token reads no input this large")
}

fn unreadable(what: &str, shown: &str, e: &std::io::Error) -> Error {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "is not readable (permission denied)".to_string(),
        _ => format!("could not be read: {e}"),
    };
    Error::usage(format!("{what} '{shown}' {reason}"))
}

/// Reads the file at `path` (`-`: stdin) that the user named with `what` (a flag or variable
/// name, used in every message), at most `cap` bytes, giving up at `deadline`.
///
/// Followed as given (symlinks included: the user chose the path). A regular file is read on
/// this thread after its size is checked; stdin and pipes are read on a helper thread that is
/// abandoned at the deadline. Directories, devices and sockets are refused without being read.
pub(crate) fn read_user_file(path: &Path, what: &str, cap: u64, deadline: Instant) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        return read_with_deadline(Source::Stdin, what, "-", cap, deadline);
    }
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| unreadable(what, &shown, &e))?;
    match kind(&meta) {
        Kind::Regular => read_regular(path, what, &shown, cap, deadline),
        Kind::Pipe => read_with_deadline(Source::Path(path.to_path_buf()), what, &shown, cap, deadline),
        Kind::Directory => Err(Error::usage(format!(
            "{what} '{shown}' could not be read: it is a directory, not a file"
        ))),
        Kind::Refused(k) => Err(Error::usage(format!("{what} '{shown}' is a {k}, not a file: refused"))),
    }
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // A path swapped for a FIFO between the check and the open must not block the open.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, rustix::fs::OFlags::NONBLOCK.bits() as i32);
    options.open(path)
}

fn read_regular(path: &Path, what: &str, shown: &str, cap: u64, deadline: Instant) -> Result<Vec<u8>> {
    let file = open_nonblocking(path).map_err(|e| unreadable(what, shown, &e))?;
    let meta = file.metadata().map_err(|e| unreadable(what, shown, &e))?;
    match kind(&meta) {
        Kind::Regular => {}
        // replaced between the check and the open: treat it as what it is now
        Kind::Pipe => {
            drop(file);
            return read_with_deadline(Source::Path(path.to_path_buf()), what, shown, cap, deadline);
        }
        Kind::Directory => {
            return Err(Error::usage(format!(
                "{what} '{shown}' could not be read: it is a directory, not a file"
            )));
        }
        Kind::Refused(k) => return Err(Error::usage(format!("{what} '{shown}' is a {k}, not a file: refused"))),
    }
    if meta.len() > cap {
        return Err(too_large(what, shown, cap));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(cap.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| unreadable(what, shown, &e))?;
    if buf.len() as u64 > cap {
        return Err(too_large(what, shown, cap));
    }
    Ok(buf)
}

enum Source {
    Stdin,
    Path(PathBuf),
}

/// Reads `source` on a helper thread, waiting for it until `deadline`. Past the deadline the
/// thread is left blocked (the process is about to exit with the error).
fn read_with_deadline(source: Source, what: &str, shown: &str, cap: u64, deadline: Instant) -> Result<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let limit = cap.saturating_add(1);
    let spawned = std::thread::Builder::new()
        .name("read-user-file".into())
        .spawn(move || {
            let result = (|| -> std::io::Result<Vec<u8>> {
                let mut buf = Vec::new();
                match source {
                    Source::Stdin => {
                        std::io::stdin().lock().take(limit).read_to_end(&mut buf)?;
                    }
                    Source::Path(p) => {
                        // blocking open: a FIFO's open waits for its writer
                        let file = File::open(&p)?;
                        if matches!(kind(&file.metadata()?), Kind::Refused(_) | Kind::Directory) {
                            return Err(std::io::Error::other("it is no longer a file or pipe"));
                        }
                        file.take(limit).read_to_end(&mut buf)?;
                    }
                }
                Ok(buf)
            })();
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(Error::internal("could not start a thread to read input").cause(e));
    }
    let shown_for = |s: &str| {
        if s == "-" {
            "stdin".to_string()
        } else {
            format!("'{s}'")
        }
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(Ok(buf)) if buf.len() as u64 > cap => Err(too_large(what, shown, cap)),
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) if shown == "-" => Err(Error::usage(format!("could not read {what} from stdin")).cause(e)),
        Ok(Err(e)) => Err(unreadable(what, shown, &e)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Error::usage(format!(
            "{what}: nothing (or not all) arrived from {} before the time limit",
            shown_for(shown)
        ))
        .hint("a pipe or FIFO needs a writer that finishes; --timeout bounds the wait")),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Error::internal(format!(
            "the thread reading {what} stopped unexpectedly"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    #[test]
    fn regular_file_is_read_and_capped() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("secret.txt");
        std::fs::write(&p, b"s3cret\n").unwrap();
        assert_eq!(
            read_user_file(&p, "--client-secret-file", 64, soon()).unwrap(),
            b"s3cret\n"
        );
        let e = read_user_file(&p, "--client-secret-file", 4, soon()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message.contains("--client-secret-file") && e.message.contains("larger than 4 bytes"),
            "{}",
            e.message
        );
        let big = t.path().join("big.pem");
        std::fs::write(&big, vec![b'a'; 2 << 20]).unwrap();
        let e = read_user_file(&big, "--certificate", 1 << 20, soon()).unwrap_err();
        assert!(e.message.contains("larger than 1 MiB"), "{}", e.message);
    }

    #[test]
    fn missing_and_directory_are_exit_2_naming_the_source() {
        let t = tempfile::tempdir().unwrap();
        let e = read_user_file(&t.path().join("nope"), "AZURE_FEDERATED_TOKEN_FILE", 10, soon()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.starts_with("AZURE_FEDERATED_TOKEN_FILE '") && e.message.ends_with("does not exist"));
        let e = read_user_file(t.path(), "--input", 10, soon()).unwrap_err();
        assert!(e.message.contains("is a directory"), "{}", e.message);
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_sockets_are_refused_without_reading() {
        let start = Instant::now();
        for dev in ["/dev/zero", "/dev/urandom", "/dev/null"] {
            let e = read_user_file(Path::new(dev), "--certificate", 1 << 20, soon()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{dev}");
            assert!(
                e.message.contains("character device") && e.message.contains(dev),
                "{}",
                e.message
            );
        }
        let t = tempfile::tempdir().unwrap();
        let sock = t.path().join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = read_user_file(&sock, "SSL_CERT_FILE", 10, soon()).unwrap_err();
        assert!(e.message.contains("is a socket"), "{}", e.message);
        assert!(start.elapsed() < Duration::from_secs(15), "hang guard");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_like_a_projected_volume() {
        // Kubernetes: token -> ..data/token, ..data -> ..2024_01_01_xxx (owned by root)
        let t = tempfile::tempdir().unwrap();
        let stamp = t.path().join("..2024_01_01_00_00_00.1");
        std::fs::create_dir(&stamp).unwrap();
        std::fs::write(stamp.join("azure-identity-token"), b"eyJ.token").unwrap();
        std::os::unix::fs::symlink("..2024_01_01_00_00_00.1", t.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/azure-identity-token", t.path().join("azure-identity-token")).unwrap();
        let got = read_user_file(
            &t.path().join("azure-identity-token"),
            "AZURE_FEDERATED_TOKEN_FILE",
            1 << 16,
            soon(),
        );
        assert_eq!(got.unwrap(), b"eyJ.token");
        // a link to a device is refused like the device
        std::os::unix::fs::symlink("/dev/zero", t.path().join("zero")).unwrap();
        let e = read_user_file(&t.path().join("zero"), "--input", 1 << 16, soon()).unwrap_err();
        assert!(e.message.contains("character device"), "{}", e.message);
    }

    #[cfg(unix)]
    #[test]
    fn fifo_with_a_writer_is_read_and_capped() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("in.fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || std::fs::write(writer_path, b"{\"a\":1}").unwrap());
        assert_eq!(read_user_file(&fifo, "--input", 100, soon()).unwrap(), b"{\"a\":1}");
        writer.join().unwrap();
        // an endless writer is cut at the cap, not read into memory without bound
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(writer_path).unwrap();
            let chunk = [b'x'; 4096];
            while f.write_all(&chunk).is_ok() {}
        });
        let e = read_user_file(&fifo, "--input", 64 * 1024, soon()).unwrap_err();
        assert!(e.message.contains("larger than 64 KiB"), "{}", e.message);
        // the reader is gone once the helper thread returns: the writer sees EPIPE and stops
        writer.join().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn fifo_without_a_writer_ends_at_the_deadline() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("never.fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let start = Instant::now();
        let e = read_user_file(
            &fifo,
            "--federated-token-file",
            100,
            Instant::now() + Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message.contains("--federated-token-file") && e.message.contains("time limit"),
            "{}",
            e.message
        );
        assert!(start.elapsed() < Duration::from_secs(15), "hang guard");
        // release the abandoned helper thread
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(64 * 1024), "64 KiB");
        assert_eq!(human(4 << 20), "4 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
