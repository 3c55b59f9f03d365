//! HTTPS for the emulator: a test CA generated at startup, the certificates it issues (for the
//! loopback names, and for each host the proxy intercepts), and the CA file clients are pointed
//! at (`SSL_CERT_FILE`), written without following or reusing anything someone else put at its
//! path.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// The emulator's TLS: an acceptor for its own loopback names, and the test CA that also issues
/// the proxy's certificates for the hosts it intercepts.
#[derive(Clone)]
pub(crate) struct TestTls {
    /// For connections to the emulator's own address (`127.0.0.1`, `localhost`, `::1`).
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) ca: Arc<TestCa>,
}

pub(crate) fn make_tls() -> Result<TestTls> {
    let ca = TestCa::generate()?;
    let acceptor = ca.acceptor(&["127.0.0.1", "localhost", "::1"])?;
    Ok(TestTls {
        acceptor,
        ca: Arc::new(ca),
    })
}

/// A certificate authority generated at startup (a new key each run) that only the emulator's
/// clients are told to trust, and the leaf certificates it issued, one per intercepted host.
pub(crate) struct TestCa {
    pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaves: Mutex<HashMap<&'static str, TlsAcceptor>>,
}

fn fail(what: &str, e: &dyn std::fmt::Display) -> Error {
    Error::internal(format!("emulator: cannot set up TLS ({what})")).cause(e)
}

impl TestCa {
    pub(crate) fn generate() -> Result<TestCa> {
        let key = KeyPair::generate().map_err(|e| fail("CA key", &e))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA", &e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            DnType::CommonName,
            "entra-token emulator test CA (test double, local use only)",
        );
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(|e| fail("CA certificate", &e))?;
        Ok(TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate, PEM: what clients must trust.
    pub(crate) fn pem(&self) -> &str {
        &self.pem
    }

    /// A TLS acceptor presenting a new leaf certificate for `names` (DNS names or IP addresses),
    /// chained to this CA.
    pub(crate) fn acceptor(&self, names: &[&str]) -> Result<TlsAcceptor> {
        let key = KeyPair::generate().map_err(|e| fail("server key", &e))?;
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(sans).map_err(|e| fail("server certificate", &e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| fail("server certificate", &e))?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("protocol versions", &e))?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), self.der.clone()], private)
            .map_err(|e| fail("server certificate", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// The acceptor for an intercepted host: made on first use, then reused.
    pub(crate) fn acceptor_for_host(&self, host: &'static str) -> Result<TlsAcceptor> {
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = leaves.get(host) {
            return Ok(a.clone());
        }
        let a = self.acceptor(&[host])?;
        leaves.insert(host, a.clone());
        Ok(a)
    }
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
