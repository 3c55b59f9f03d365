//! HTTPS for the emulator: a test CA and a server certificate for the loopback names, generated
//! at startup, and the CA file clients are pointed at (`SSL_CERT_FILE`), written without following
//! or reusing anything someone else put at its path.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// A generated test CA and a leaf certificate for `127.0.0.1`, `localhost` and `::1`.
pub(crate) struct TestTls {
    pub(crate) acceptor: TlsAcceptor,
    /// The CA certificate, PEM (what clients must trust).
    pub(crate) ca_pem: String,
}

pub(crate) fn make_tls() -> Result<TestTls> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use tokio_rustls::rustls;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::internal(format!("emulator: cannot set up TLS ({what})")).cause(e)
    };
    let ca_key = KeyPair::generate().map_err(|e| fail("CA key", &e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA", &e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(
        DnType::CommonName,
        "entra-token emulator test CA (test double, local use only)",
    );
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| fail("CA certificate", &e))?;
    let issuer = Issuer::from_params(&ca, &ca_key);

    let leaf_key = KeyPair::generate().map_err(|e| fail("server key", &e))?;
    let sans = vec!["127.0.0.1".to_string(), "localhost".to_string(), "::1".to_string()];
    let mut leaf = CertificateParams::new(sans).map_err(|e| fail("server certificate", &e))?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| fail("server certificate", &e))?;

    let key =
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
        .map_err(|e| fail("server certificate", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TestTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca_cert.pem(),
    })
}

/// The test CA certificate (PEM) written for clients to trust.
#[derive(Debug, Clone)]
pub(crate) struct CaFile {
    pub(crate) path: PathBuf,
    /// The emulator chose the path (a new file in the temp dir), so it removes the file on stop.
    ours: bool,
}

impl CaFile {
    /// Writes `pem` to `chosen` (`--ca-file`, replacing what is there) or to a new file in the
    /// temp dir.
    pub(crate) fn write(chosen: Option<PathBuf>, pem: &str) -> Result<CaFile> {
        match chosen {
            Some(path) => replace_ca_file(&path, pem.as_bytes()).map(|()| CaFile { path, ours: false }),
            None => new_ca_file(&std::env::temp_dir(), pem.as_bytes()).map(|path| CaFile { path, ours: true }),
        }
    }

    /// Removes the file if the emulator chose its path.
    pub(crate) fn remove_if_ours(&self) {
        if self.ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes the test CA to a new file with an unguessable name in `dir` (the temp dir), removed
/// when the emulator stops. `create_new` never follows a symlink or reuses a file that someone
/// else (another local user, in a shared temp dir) put there first.
fn new_ca_file(dir: &Path, pem: &[u8]) -> Result<PathBuf> {
    let path = dir.join(format!("entra-token-emulator-ca-{}.pem", random_hex()?));
    create_ca_file(&path, pem)
        .map_err(|e| Error::usage(format!("cannot create the emulator CA file {}", path.display())).cause(e))?;
    Ok(path)
}

/// Writes the test CA to `--ca-file PATH`, replacing what is there (the user chose the path):
/// through a new file beside it, renamed into place, so a symlink at PATH is replaced, never
/// followed.
fn replace_ca_file(path: &Path, pem: &[u8]) -> Result<()> {
    let fail =
        |e: std::io::Error| Error::usage(format!("cannot write the emulator CA file {}", path.display())).cause(e);
    let name = path
        .file_name()
        .ok_or_else(|| Error::usage(format!("--ca-file {} names no file", path.display())))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), random_hex()?));
    create_ca_file(&tmp, pem).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

/// Creates `path` (0644: a certificate is public) and writes `pem`; fails if anything, a
/// symlink included, is already there.
fn create_ca_file(path: &Path, pem: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    let mut file = options.open(path)?;
    file.write_all(pem).and_then(|()| file.sync_all()).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

pub(crate) fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal("the OS random source failed").cause(e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_ca_file_is_new_and_unguessable() {
        let dir = tempfile::tempdir().unwrap();
        let a = new_ca_file(dir.path(), b"PEM A").unwrap();
        let b = new_ca_file(dir.path(), b"PEM B").unwrap();
        assert_ne!(a, b, "a random name each time, not the pid");
        assert_eq!(a.parent(), Some(dir.path()));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("entra-token-emulator-ca-") && name.len() > 50,
            "{name}"
        );
        assert_eq!(std::fs::read(&a).unwrap(), b"PEM A");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o022, 0, "writable by others: {mode:o}");
        }
    }

    #[test]
    fn creating_a_ca_file_refuses_an_existing_file_or_symlink() {
        let dir = tempfile::tempdir().unwrap();
        // a file someone created first is neither reused nor overwritten
        let planted = dir.path().join("planted.pem");
        std::fs::write(&planted, b"theirs").unwrap();
        let e = create_ca_file(&planted, b"ours").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&planted).unwrap(), b"theirs");
        // nor is a symlink followed, dangling or not
        #[cfg(unix)]
        {
            let target = dir.path().join("target");
            let link = dir.path().join("link.pem");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            assert!(create_ca_file(&link, b"ours").is_err());
            assert!(!target.exists(), "the dangling link's target was not created");
            std::fs::write(&target, b"victim").unwrap();
            assert!(create_ca_file(&link, b"ours").is_err());
            assert_eq!(std::fs::read(&target).unwrap(), b"victim");
        }
    }

    #[test]
    fn an_explicit_ca_file_is_replaced_not_written_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        replace_ca_file(&path, b"one").unwrap();
        replace_ca_file(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two", "the user's path is overwritten");
        #[cfg(unix)]
        {
            let victim = dir.path().join("victim");
            std::fs::write(&victim, b"keep").unwrap();
            let link = dir.path().join("link.pem");
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            replace_ca_file(&link, b"pem").unwrap();
            assert_eq!(std::fs::read(&victim).unwrap(), b"keep", "the symlink was not followed");
            assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
            assert_eq!(std::fs::read(&link).unwrap(), b"pem");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temporary file left behind: {names:?}");
    }
}
