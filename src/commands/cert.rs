//! `cert inspect | create | manifest`: the certificate chores of an app registration (instead of
//! makecert, New-SelfSignedCertificate and the PowerShell thumbprint snippets).

use crate::cli::{CertCommand, CertCreateArgs, CertInspectArgs, CertManifestArgs, CertOutputFormat};
use crate::credential::certificate::{self, KeyProblem, MIN_RSA_BITS, read_password};
use crate::credential::keyfile::{self, CertInfo, KeyMaterial, Need, PrivateKey};
use crate::credential::self_signed;
use crate::credential::source::PasswordSource;
use crate::error::{Error, Result};
use crate::input;
use crate::output;
use crate::rt;
use crate::secret::Secret;
use crate::settings::credential::certificate_password;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `env_password`: `AZURE_CLIENT_CERTIFICATE_PASSWORD`, used when no password file is given;
/// `timeout` bounds each file read (a FIFO without a writer).
pub(crate) fn run(cmd: &CertCommand, env_password: Option<Secret<String>>, timeout: Duration) -> Result<()> {
    match cmd {
        CertCommand::Inspect(a) => inspect(a, env_password, timeout),
        CertCommand::Create(a) => create(a, env_password, timeout),
        CertCommand::Manifest(a) => manifest(a, env_password, timeout),
    }
}

/// What `inspect` found about the private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyStatus {
    Absent,
    /// Encrypted and no password given.
    Locked,
    Matches,
    Mismatch,
    /// Unusable for Entra (non-RSA, short, invalid), with the reason.
    Unusable(String),
}

impl KeyStatus {
    fn code(&self) -> &'static str {
        match self {
            KeyStatus::Absent => "absent",
            KeyStatus::Locked => "encrypted",
            KeyStatus::Matches => "matches",
            KeyStatus::Mismatch => "mismatch",
            KeyStatus::Unusable(_) => "unusable",
        }
    }
    fn text(&self) -> String {
        match self {
            KeyStatus::Absent => "none in the file".into(),
            KeyStatus::Locked => "encrypted (give the password to check it)".into(),
            KeyStatus::Matches => "present, matches the certificate".into(),
            KeyStatus::Mismatch => "present, does NOT match the certificate".into(),
            KeyStatus::Unusable(r) => format!("present, unusable: {r}"),
        }
    }
}

/// A certificate file read for display: every certificate, the leaf, and the key's status.
pub(crate) struct Inspected {
    pub(crate) format: keyfile::Format,
    pub(crate) certs: Vec<CertInfo>,
    pub(crate) leaf: usize,
    pub(crate) key: KeyStatus,
}

fn file_label(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "certificate from stdin".to_string()
    } else {
        format!("certificate file '{}'", path.display())
    }
}

fn read_file(
    path: &Path,
    password_file: Option<&PathBuf>,
    env_password: Option<Secret<String>>,
    timeout: Duration,
) -> Result<Inspected> {
    if path.as_os_str() == "-" && password_file.is_some_and(|p| p.as_os_str() == "-") {
        return Err(Error::usage(
            "the certificate and its password cannot both come from stdin ('-')",
        ));
    }
    let password = certificate_password(password_file, "--certificate-password-file", env_password)
        .as_ref()
        .map(|p| read_password(p, timeout))
        .transpose()?;
    let file = file_label(path);
    let bytes = Secret::new(input::read(path, "certificate file", input::CERTIFICATE_CAP, timeout)?);
    let material = keyfile::read(bytes.expose(), &file, password.as_ref(), Need::Certificate)?;
    inspect_material(material, &file)
}

/// Parses the certificates, finds the leaf (the one for the key, else the end-entity one) and
/// checks the key against it.
pub(crate) fn inspect_material(material: KeyMaterial, file: &str) -> Result<Inspected> {
    if material.certs.is_empty() {
        return Err(Error::usage(format!("{file} has no certificate")));
    }
    let certs: Vec<CertInfo> = material
        .certs
        .iter()
        .map(|der| CertInfo::parse(der, file))
        .collect::<Result<_>>()?;
    let (key, leaf) = match &material.key {
        None if material.key_locked => (KeyStatus::Locked, keyfile::guess_leaf(&certs)),
        None => (KeyStatus::Absent, keyfile::guess_leaf(&certs)),
        Some(PrivateKey::Other(kind)) => (
            KeyStatus::Unusable(format!("{kind} key; Entra accepts only RSA keys")),
            keyfile::guess_leaf(&certs),
        ),
        Some(PrivateKey::Rsa(pkcs1)) => match certificate::public_key_der(pkcs1) {
            Ok(public) => match certs
                .iter()
                .position(|c| c.rsa_public_key.as_deref() == Some(public.as_slice()))
            {
                Some(i) => (KeyStatus::Matches, i),
                None => (KeyStatus::Mismatch, keyfile::guess_leaf(&certs)),
            },
            Err(KeyProblem::TooShort) => (
                KeyStatus::Unusable(format!("RSA key under {MIN_RSA_BITS} bits")),
                keyfile::guess_leaf(&certs),
            ),
            Err(KeyProblem::Invalid(r)) => (KeyStatus::Unusable(r), keyfile::guess_leaf(&certs)),
        },
    };
    Ok(Inspected {
        format: material.format,
        certs,
        leaf,
        key,
    })
}

/// Notes about what Entra will refuse, for stderr.
fn entra_notes(leaf: &CertInfo, now: i64) -> Vec<String> {
    let mut notes = Vec::new();
    if leaf.key_type != "RSA" {
        notes.push(format!(
            "the certificate has an {} key: Entra accepts only RSA keys",
            leaf.key_type
        ));
    } else if leaf.key_bits < MIN_RSA_BITS {
        notes.push(format!(
            "the RSA key is {} bits: Entra accepts only {MIN_RSA_BITS} bits or more",
            leaf.key_bits
        ));
    }
    if leaf.not_after < now {
        notes.push("the certificate has expired".into());
    }
    notes
}

pub(crate) fn describe_json(i: &Inspected, now: i64) -> serde_json::Value {
    let leaf = &i.certs[i.leaf];
    json!({
        "subject": leaf.subject,
        "issuer": leaf.issuer,
        "serialNumber": leaf.serial_hex,
        "notBefore": output::rfc3339(leaf.not_before, false),
        "notAfter": output::rfc3339(leaf.not_after, false),
        "expired": leaf.not_after < now,
        "keyType": leaf.key_type,
        "keySize": leaf.key_bits,
        "thumbprint": leaf.thumbprint_hex(),
        "thumbprintSha256": leaf.sha256_hex(),
        "x5t": leaf.x5t(),
        "x5t#S256": leaf.x5t_s256(),
        "format": i.format.label(),
        "privateKey": i.key.code(),
        "certificates": i.certs.len(),
    })
}

pub(crate) fn describe_text(i: &Inspected, now: i64) -> String {
    let leaf = &i.certs[i.leaf];
    let expiry = if leaf.not_after < now {
        " (EXPIRED)"
    } else if leaf.not_before > now {
        " (not yet valid)"
    } else {
        ""
    };
    let rows = [
        ("Subject", leaf.subject.clone()),
        ("Issuer", leaf.issuer.clone()),
        ("Serial", leaf.serial_hex.clone()),
        ("Not before", output::rfc3339(leaf.not_before, false)),
        (
            "Not after",
            format!("{}{expiry}", output::rfc3339(leaf.not_after, false)),
        ),
        ("Key", format!("{} {} bits", leaf.key_type, leaf.key_bits)),
        (
            "Thumbprint",
            format!("{} (SHA-1, as the Entra portal shows it)", leaf.thumbprint_hex()),
        ),
        ("SHA-256", leaf.sha256_hex()),
        ("x5t", leaf.x5t()),
        ("x5t#S256", leaf.x5t_s256()),
        ("Format", i.format.label().to_string()),
        ("Private key", i.key.text()),
        ("Certificates", i.certs.len().to_string()),
    ];
    rows.iter()
        .map(|(k, v)| format!("{:<13} {v}\n", format!("{k}:")))
        .collect()
}

fn print_inspected(i: &Inspected, format: CertOutputFormat) -> Result<()> {
    let now = rt::now();
    for note in entra_notes(&i.certs[i.leaf], now) {
        crate::log::warn(note);
    }
    match format {
        CertOutputFormat::Json => output::json_value(&describe_json(i, now)),
        CertOutputFormat::Text => output::text(&describe_text(i, now)),
    }
}

fn inspect(a: &CertInspectArgs, env_password: Option<Secret<String>>, timeout: Duration) -> Result<()> {
    let i = read_file(&a.path, a.certificate_password_file.as_ref(), env_password, timeout)?;
    print_inspected(&i, a.output)
}

/// The `keyCredentials` entry of the application manifest.
pub(crate) fn manifest_entry(leaf: &CertInfo, key_id: uuid::Uuid) -> serde_json::Value {
    json!({
        "customKeyIdentifier": STANDARD.encode(leaf.sha1),
        "keyId": key_id.to_string(),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "value": STANDARD.encode(&leaf.der),
    })
}

fn manifest(a: &CertManifestArgs, env_password: Option<Secret<String>>, timeout: Duration) -> Result<()> {
    let i = read_file(&a.path, a.certificate_password_file.as_ref(), env_password, timeout)?;
    for note in entra_notes(&i.certs[i.leaf], rt::now()) {
        crate::log::warn(note);
    }
    output::json_value(&manifest_entry(&i.certs[i.leaf], uuid::Uuid::new_v4()))
}

fn create(a: &CertCreateArgs, env_password: Option<Secret<String>>, timeout: Duration) -> Result<()> {
    let mut targets = vec![&a.out];
    targets.extend(a.cert_out.iter());
    targets.extend(a.pfx.iter());
    for (n, t) in targets.iter().enumerate() {
        if targets[..n].contains(t) {
            return Err(Error::usage(format!("'{}' is given for two outputs", t.display())));
        }
        if !a.force && t.exists() {
            return Err(Error::usage(format!("'{}' already exists", t.display()))
                .hint("choose another path, or pass --force to replace it"));
        }
    }
    let pfx_password = match &a.pfx {
        None => None,
        Some(_) => {
            let src = certificate_password(a.pfx_password_file.as_ref(), "--pfx-password-file", env_password)
                .ok_or_else(|| {
                    Error::usage("--pfx needs a password").hint(
                        "pass --pfx-password-file PATH ('-' reads stdin) or set AZURE_CLIENT_CERTIFICATE_PASSWORD",
                    )
                })?;
            let pw = read_pfx_password(&src, timeout)?;
            if pw.expose().is_empty() {
                return Err(Error::usage("the PFX password is empty"));
            }
            Some(pw)
        }
    };
    crate::log::info(format!("generating a {}-bit RSA key", a.key_size));
    let created = self_signed::generate(&a.subject, a.days, a.key_size, pfx_password.as_ref())?;
    write_file(&a.out, created.pem.expose().as_bytes(), 0o600, a.force)?;
    eprintln!("wrote {} (private key + certificate, mode 0600)", a.out.display());
    if let Some(path) = &a.cert_out {
        write_file(path, created.cert_pem.as_bytes(), 0o644, a.force)?;
        eprintln!(
            "wrote {} (certificate only: upload it to the app registration)",
            path.display()
        );
    }
    if let (Some(path), Some(pfx)) = (&a.pfx, &created.pfx) {
        write_file(path, pfx.expose(), 0o600, a.force)?;
        eprintln!("wrote {} (PFX/PKCS#12, AES-256, mode 0600)", path.display());
    }
    let info = CertInfo::parse(&created.cert_der, "the new certificate")?;
    let inspected = Inspected {
        format: keyfile::Format::Pem,
        certs: vec![info],
        leaf: 0,
        key: KeyStatus::Matches,
    };
    print_inspected(&inspected, a.output)
}

fn read_pfx_password(src: &PasswordSource, timeout: Duration) -> Result<Secret<String>> {
    match src {
        PasswordSource::File(path, _) => {
            let bytes = Secret::new(input::read(
                path,
                "PFX password file (from --pfx-password-file)",
                input::SECRET_CAP,
                timeout,
            )?);
            let text = std::str::from_utf8(bytes.expose())
                .map_err(|_| Error::usage(format!("PFX password file '{}' is not UTF-8 text", path.display())))?;
            let text = text.strip_suffix('\n').unwrap_or(text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            Ok(Secret::new(text.to_string()))
        }
        PasswordSource::Env(s) => Ok(s.clone()),
    }
}

/// Writes through a new temporary file in the same directory (created with `mode`, never
/// world-readable in between), then moves it into place; without `force` an existing file is
/// never replaced, even one that appeared meanwhile.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::usage(format!("'{}' is not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let io_err = |e: std::io::Error| Error::usage(format!("could not write '{}'", path.display())).cause(e);
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    let placed = if force {
        std::fs::rename(&tmp, path)
    } else {
        // a hard link fails if the target exists: no check-then-replace race
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => std::fs::remove_file(&tmp),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::usage(format!("'{}' already exists", path.display()))
                    .hint("choose another path, or pass --force to replace it"));
            }
            Err(_) if !path.exists() => std::fs::rename(&tmp, path),
            Err(e) => Err(e),
        }
    };
    placed.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::certificate::{AssertionAlg, ClientCertificate};

    #[test]
    fn created_certificate_is_a_usable_credential_and_pfx() {
        let pw = Secret::new("create-pw".to_string());
        let c = self_signed::generate("CN=entra-token created, O=Test", 30, 2048, Some(&pw)).unwrap();
        // the PEM loads as a credential
        let m = keyfile::read(c.pem.expose().as_bytes(), "new", None, Need::KeyAndCertificate).unwrap();
        let cred = ClientCertificate::from_material(m, "new", "client", AssertionAlg::Ps256, false).unwrap();
        assert_eq!(cred.leaf().subject, "CN=entra-token created, O=Test");
        assert_eq!(cred.leaf().key_bits, 2048);
        let days = (cred.leaf().not_after - rt::now()) as f64 / 86_400.0;
        assert!((29.9..30.1).contains(&days), "{days}");
        // so does the PFX, with the same certificate
        let pfx = c.pfx.as_ref().unwrap();
        let m = keyfile::read(pfx.expose(), "new.pfx", Some(&pw), Need::KeyAndCertificate).unwrap();
        assert_eq!(m.format, keyfile::Format::Pkcs12);
        let from_pfx = ClientCertificate::from_material(m, "new.pfx", "client", AssertionAlg::Ps256, false).unwrap();
        assert_eq!(from_pfx.leaf().sha1, cred.leaf().sha1);
        // inspect and manifest views
        let m = keyfile::read(c.pem.expose().as_bytes(), "new", None, Need::Certificate).unwrap();
        let i = inspect_material(m, "new").unwrap();
        assert_eq!(i.key, KeyStatus::Matches);
        let j = describe_json(&i, rt::now());
        assert_eq!(j["thumbprint"], cred.leaf().thumbprint_hex().as_str());
        assert_eq!(j["x5t#S256"], cred.leaf().x5t_s256().as_str());
        assert_eq!(j["keySize"], 2048);
        let entry = manifest_entry(cred.leaf(), uuid::Uuid::nil());
        assert_eq!(entry["type"], "AsymmetricX509Cert");
        assert_eq!(entry["usage"], "Verify");
        assert_eq!(entry["customKeyIdentifier"], STANDARD.encode(cred.leaf().sha1).as_str());
        assert_eq!(entry["value"], STANDARD.encode(&c.cert_der).as_str());
    }

    #[test]
    fn inspect_reports_key_problems_without_failing() {
        let f = crate::credential::fixture_tests::fixtures();
        let read = |name: &str| {
            let bytes = std::fs::read(f.path(name)).unwrap();
            let m = keyfile::read(&bytes, name, None, Need::Certificate).unwrap();
            inspect_material(m, name).unwrap()
        };
        assert_eq!(read("mismatch.pem").key, KeyStatus::Mismatch);
        assert!(matches!(read("ec.pem").key, KeyStatus::Unusable(_)));
        assert_eq!(read("ec.pem").certs[0].key_type, "EC");
        assert_eq!(read("enc-default.pem").key, KeyStatus::Locked);
        assert_eq!(read("cert.der").key, KeyStatus::Absent);
        let short = read("short.pem");
        assert_eq!(short.certs[0].key_bits, 1024);
        assert!(matches!(short.key, KeyStatus::Unusable(_)));
        let chain = read("chain.pem");
        assert!(chain.certs[chain.leaf].subject.contains("chained-leaf"));
        assert!(describe_text(&chain, 0).contains("Thumbprint:"));
    }

    #[test]
    fn files_are_private_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.pem");
        write_file(&path, b"one", 0o600, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let e = write_file(&path, b"two", 0o600, false).err().unwrap();
        assert!(e.message.contains("already exists"));
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_file(&path, b"three", 0o600, true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        // no temporary files left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
