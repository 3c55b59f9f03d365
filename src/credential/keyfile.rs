//! Reading certificate and key files: PEM (PKCS#8, PKCS#1, encrypted PKCS#8 with PBES2, key and
//! certificates in one file), PKCS#12/PFX (with or without a password) and DER certificates. The
//! format is detected from the content, never from the file name. All parsing and decryption is
//! done by the `pem`, `pkcs8`, `p12-keystore` and `x509-parser` crates; this module only decides
//! what to make of their results and how to explain a failure.

use crate::error::{Error, Result};
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkcs8::der::{self, Decode, Reader, Tagged};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The command that converts a legacy encrypted key into one entra-token reads.
pub(crate) const CONVERT_HINT: &str = "convert it to PBES2-encrypted PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW \
     (then put the certificate back in the same file)";

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_ED448: &str = "1.3.101.113";
const OID_DSA: &str = "1.2.840.10040.4.1";
const OID_PBES2: &str = "1.2.840.113549.1.5.13";

/// The container format a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Pem,
    Pkcs12,
    DerCertificate,
}

impl Format {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Format::Pem => "PEM",
            Format::Pkcs12 => "PKCS#12 (PFX)",
            Format::DerCertificate => "DER certificate",
        }
    }
}

/// A private key as found in a file. RSA keys are kept as PKCS#1 DER (what the signer wants).
pub(crate) enum PrivateKey {
    Rsa(Secret<Vec<u8>>),
    /// Any other algorithm, by name ("EC", "Ed25519", ...): reported, never used.
    Other(String),
}

/// What a certificate/key file holds.
pub(crate) struct KeyMaterial {
    pub(crate) format: Format,
    pub(crate) key: Option<PrivateKey>,
    /// DER certificates in file order.
    pub(crate) certs: Vec<Vec<u8>>,
    /// An encrypted key was present but no password was given (only when `require_key` is false).
    pub(crate) key_locked: bool,
}

/// How strictly to read: a credential needs the key; `cert inspect`/`manifest` only the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    KeyAndCertificate,
    Certificate,
}

/// Reads `bytes` (the content of the file `file`, already named in messages as e.g.
/// "certificate file 'app.pem' (from --certificate)").
pub(crate) fn read(bytes: &[u8], file: &str, password: Option<&Secret<String>>, need: Need) -> Result<KeyMaterial> {
    if bytes.is_empty() {
        return Err(Error::usage(format!("{file} is empty")));
    }
    if contains(bytes, b"-----BEGIN ") {
        return read_pem(bytes, file, password, need);
    }
    if looks_like_pkcs12(bytes) {
        return read_pkcs12(bytes, file, password);
    }
    if let Ok((rest, _)) = x509_parser::parse_x509_certificate(bytes)
        && rest.is_empty()
    {
        return Ok(KeyMaterial {
            format: Format::DerCertificate,
            key: None,
            certs: vec![bytes.to_vec()],
            key_locked: false,
        });
    }
    Err(
        Error::usage(format!("{file} is not a PEM, PKCS#12 (PFX) or DER certificate file"))
            .hint("expected a PEM file with the private key and the certificate, or a .pfx/.p12 file"),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A DER `SEQUENCE { INTEGER 3, ContentInfo, [MacData] }` that spans the whole input: a PFX.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    let Ok(mut reader) = der::SliceReader::new(bytes) else {
        return false;
    };
    let outer = reader.sequence(|r: &mut der::SliceReader<'_>| {
        let version = u8::decode(r)?;
        let content = der::AnyRef::decode(r)?;
        if !r.is_finished() {
            let _mac = der::AnyRef::decode(r)?;
        }
        Ok::<_, der::Error>(version == 3 && content.tag() == der::Tag::Sequence)
    });
    matches!(outer, Ok(true)) && reader.is_finished()
}

fn read_pem(bytes: &[u8], file: &str, password: Option<&Secret<String>>, need: Need) -> Result<KeyMaterial> {
    let blocks =
        pem::parse_many(bytes).map_err(|e| Error::usage(format!("{file} is not a valid PEM file")).cause(e))?;
    let mut material = KeyMaterial {
        format: Format::Pem,
        key: None,
        certs: Vec::new(),
        key_locked: false,
    };
    let mut keys = 0;
    for block in &blocks {
        match block.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" => material.certs.push(block.contents().to_vec()),
            "PRIVATE KEY" => {
                keys += 1;
                material.key = Some(from_pkcs8(block.contents(), file)?);
            }
            "RSA PRIVATE KEY" => {
                keys += 1;
                if block
                    .headers()
                    .get("Proc-Type")
                    .is_some_and(|v| v.to_ascii_uppercase().contains("ENCRYPTED"))
                {
                    return Err(Error::usage(format!(
                        "{file} has an OpenSSL traditional encrypted key (Proc-Type: 4,ENCRYPTED), which entra-token does not read"
                    ))
                    .hint(CONVERT_HINT));
                }
                material.key = Some(PrivateKey::Rsa(Secret::new(block.contents().to_vec())));
            }
            "EC PRIVATE KEY" => {
                keys += 1;
                material.key = Some(PrivateKey::Other("EC".into()));
            }
            "DSA PRIVATE KEY" => {
                keys += 1;
                material.key = Some(PrivateKey::Other("DSA".into()));
            }
            "ENCRYPTED PRIVATE KEY" => {
                keys += 1;
                check_pbes2(block.contents(), file)?;
                match password {
                    Some(pw) => material.key = Some(decrypt_pkcs8(block.contents(), pw, file)?),
                    None if need == Need::Certificate => material.key_locked = true,
                    None => {
                        return Err(Error::usage(format!(
                            "{file} holds an encrypted private key and no password was given"
                        ))
                        .hint("set AZURE_CLIENT_CERTIFICATE_PASSWORD, or pass --certificate-password-file PATH ('-' reads stdin)"));
                    }
                }
            }
            _ => {}
        }
    }
    if keys > 1 {
        return Err(Error::usage(format!(
            "{file} holds {keys} private keys; keep exactly one (with its certificate) in the file"
        )));
    }
    if material.certs.is_empty() && material.key.is_none() && !material.key_locked {
        return Err(Error::usage(format!(
            "{file} has no certificate or private key PEM block"
        )));
    }
    Ok(material)
}

/// Refuses PBES1 (and PKCS#12-PBE) encrypted PKCS#8 with the conversion command.
fn check_pbes2(der_bytes: &[u8], file: &str) -> Result<()> {
    let oid = der::SliceReader::new(der_bytes).and_then(|mut r| {
        r.sequence(|r: &mut der::SliceReader<'_>| {
            let alg = pkcs8::AlgorithmIdentifierRef::decode(r)?;
            let _data = <&der::asn1::OctetStringRef>::decode(r)?;
            Ok::<_, der::Error>(alg.oid.to_string())
        })
    });
    match oid {
        Ok(oid) if oid == OID_PBES2 => Ok(()),
        Ok(oid) => Err(Error::usage(format!(
            "{file} has a private key encrypted with a legacy PBES1 scheme ({oid}), which entra-token does not read"
        ))
        .hint(CONVERT_HINT)),
        Err(e) => Err(Error::usage(format!("{file}: the ENCRYPTED PRIVATE KEY block is malformed")).cause(e)),
    }
}

fn decrypt_pkcs8(der_bytes: &[u8], password: &Secret<String>, file: &str) -> Result<PrivateKey> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der_bytes).map_err(|e| {
        Error::usage(format!("{file}: the encrypted private key uses an unsupported scheme"))
            .cause(e)
            .hint(CONVERT_HINT)
    })?;
    let doc = info.decrypt(password.expose().as_bytes()).map_err(|_| {
        Error::usage(format!("{file}: wrong password for the encrypted private key"))
            .hint("check AZURE_CLIENT_CERTIFICATE_PASSWORD or the --certificate-password-file content")
    })?;
    from_pkcs8(doc.as_bytes(), file)
}

/// PKCS#8 → the key's algorithm; for RSA, the PKCS#1 `RSAPrivateKey` inside.
pub(crate) fn from_pkcs8(der_bytes: &[u8], file: &str) -> Result<PrivateKey> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(der_bytes)
        .map_err(|e| Error::usage(format!("{file}: the private key is not valid PKCS#8")).cause(e))?;
    let oid = info.algorithm.oid.to_string();
    Ok(match oid.as_str() {
        OID_RSA_ENCRYPTION => PrivateKey::Rsa(Secret::new(info.private_key.as_bytes().to_vec())),
        other => PrivateKey::Other(algorithm_name(other)),
    })
}

fn algorithm_name(oid: &str) -> String {
    match oid {
        OID_EC_PUBLIC_KEY => "EC".into(),
        OID_ED25519 => "Ed25519".into(),
        OID_ED448 => "Ed448".into(),
        OID_DSA => "DSA".into(),
        OID_RSA_PSS => "RSA-PSS (restricted)".into(),
        OID_RSA_ENCRYPTION => "RSA".into(),
        other => format!("algorithm {other}"),
    }
}

fn read_pkcs12(bytes: &[u8], file: &str, password: Option<&Secret<String>>) -> Result<KeyMaterial> {
    let pw = password.map(|p| p.expose().as_str()).unwrap_or("");
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, pw).map_err(|e| {
        let (what, hint) = match (&e, password.is_some()) {
            (p12_keystore::error::Error::MacError(_), true) => (
                "wrong password".to_string(),
                "check AZURE_CLIENT_CERTIFICATE_PASSWORD or the --certificate-password-file content",
            ),
            (p12_keystore::error::Error::MacError(_), false) => (
                "it is protected by a password and none was given".to_string(),
                "set AZURE_CLIENT_CERTIFICATE_PASSWORD, or pass --certificate-password-file PATH ('-' reads stdin)",
            ),
            _ => (
                "wrong or missing password, or an unsupported PKCS#12 encryption".to_string(),
                "check the password; re-export with: openssl pkcs12 -export -in app.pem -out app.pfx (OpenSSL 3 defaults)",
            ),
        };
        Error::usage(format!("{file} could not be opened: {what}"))
            .cause(e)
            .hint(hint)
    })?;
    if archive.keys.len() > 1 {
        return Err(Error::usage(format!(
            "{file} holds {} private keys; export exactly one key with its certificate chain",
            archive.keys.len()
        )));
    }
    let key = match archive.keys.first() {
        Some(bag) => Some(from_pkcs8(bag.key.as_der(), file)?),
        None => None,
    };
    let certs: Vec<Vec<u8>> = archive.certs.iter().map(|c| c.cert.as_der().to_vec()).collect();
    if certs.is_empty() && key.is_none() {
        return Err(Error::usage(format!(
            "{file} holds neither a certificate nor a private key"
        )));
    }
    Ok(KeyMaterial {
        format: Format::Pkcs12,
        key,
        certs,
        key_locked: false,
    })
}

/// The fields of one certificate that entra-token shows or checks.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    pub(crate) der: Vec<u8>,
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) serial_hex: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// "RSA", "EC", ...
    pub(crate) key_type: String,
    pub(crate) key_bits: usize,
    /// For RSA: the DER `RSAPublicKey` (PKCS#1) from the SubjectPublicKeyInfo.
    pub(crate) rsa_public_key: Option<Vec<u8>>,
    pub(crate) sha1: [u8; 20],
    pub(crate) sha256: [u8; 32],
}

impl CertInfo {
    pub(crate) fn parse(der_bytes: &[u8], file: &str) -> Result<CertInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der_bytes)
            .map_err(|e| Error::usage(format!("{file}: a certificate in it cannot be parsed")).cause(e))?;
        let spki = cert.public_key();
        let oid = spki.algorithm.algorithm.to_id_string();
        let (key_type, key_bits, rsa_public_key) = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) if oid == OID_RSA_ENCRYPTION => (
                "RSA".to_string(),
                modulus_bits(rsa.modulus),
                Some(spki.subject_public_key.data.to_vec()),
            ),
            Ok(pk) => (algorithm_name(&oid), pk.key_size(), None),
            Err(_) => (algorithm_name(&oid), 0, None),
        };
        Ok(CertInfo {
            der: der_bytes.to_vec(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial_hex: hex_upper(cert.raw_serial()),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            key_type,
            key_bits,
            rsa_public_key,
            sha1: Sha1::digest(der_bytes).into(),
            sha256: Sha256::digest(der_bytes).into(),
        })
    }

    /// SHA-1 thumbprint in upper-case hex, as the Entra portal shows it.
    pub(crate) fn thumbprint_hex(&self) -> String {
        hex_upper(&self.sha1)
    }
    pub(crate) fn sha256_hex(&self) -> String {
        hex_upper(&self.sha256)
    }
    /// JWS `x5t`: base64url (no padding) of the raw SHA-1 digest.
    pub(crate) fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha1)
    }
    /// JWS `x5t#S256`: base64url (no padding) of the raw SHA-256 digest.
    pub(crate) fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256)
    }
    pub(crate) fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes and bits ignored).
pub(crate) fn modulus_bits(modulus: &[u8]) -> usize {
    let trimmed: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    trimmed.len() * 8 - trimmed[0].leading_zeros() as usize
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Orders certificates leaf first, then its issuers as found in the file, then any others in file
/// order (the "whole chain from the file" for `x5c`).
pub(crate) fn order_chain(leaf: usize, certs: &[CertInfo]) -> Vec<usize> {
    let mut order = vec![leaf];
    let mut current = leaf;
    loop {
        if certs[current].is_self_issued() {
            break;
        }
        let next = (0..certs.len()).find(|i| !order.contains(i) && certs[*i].subject == certs[current].issuer);
        match next {
            Some(n) => {
                order.push(n);
                current = n;
            }
            None => break,
        }
    }
    for i in 0..certs.len() {
        if !order.contains(&i) {
            order.push(i);
        }
    }
    order
}

/// Without a key, the end-entity certificate: one that issued none of the others.
pub(crate) fn guess_leaf(certs: &[CertInfo]) -> usize {
    (0..certs.len())
        .find(|i| {
            !certs
                .iter()
                .enumerate()
                .any(|(j, c)| j != *i && c.issuer == certs[*i].subject && !c.is_self_issued())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_ignores_leading_zeros() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01, 0x00]), 9);
        assert_eq!(modulus_bits(&[0x00, 0x00]), 0);
        let mut m = vec![0u8; 257];
        m[1] = 0xC3;
        assert_eq!(modulus_bits(&m), 2048);
    }

    #[test]
    fn garbage_and_empty_are_refused_naming_the_file() {
        let e = read(
            b"hello world",
            "certificate file 'x.pem'",
            None,
            Need::KeyAndCertificate,
        )
        .err()
        .unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("'x.pem'"), "{}", e.message);
        let e = read(b"", "certificate file 'y.pem'", None, Need::KeyAndCertificate)
            .err()
            .unwrap();
        assert!(e.message.contains("'y.pem'") && e.message.contains("empty"));
    }

    #[test]
    fn hex_is_upper_case() {
        assert_eq!(hex_upper(&[0x0a, 0xff]), "0AFF");
    }
}
