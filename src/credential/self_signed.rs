//! New self-signed certificates for app registrations (`cert create`): an RSA key of an
//! Entra-accepted size, a certificate for client authentication, and optionally a PFX
//! (AES-256) — all produced by rcgen and p12-keystore.

use super::certificate::MIN_RSA_BITS;
use crate::error::{Error, Result};
use crate::rt;
use crate::secret::Secret;
use sha1::Digest;

/// `CN=a, O=b` → rcgen's distinguished name. `\,` escapes a comma inside a value.
pub(crate) fn parse_subject(subject: &str) -> Result<rcgen::DistinguishedName> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = subject.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => current.push(n),
                None => current.push('\\'),
            },
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    let mut dn = rcgen::DistinguishedName::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(|| {
            Error::usage(format!("--subject: '{part}' is not NAME=VALUE"))
                .hint("example: --subject \"CN=my-app, O=Contoso\"")
        })?;
        let (k, v) = (k.trim(), v.trim());
        if v.is_empty() {
            return Err(Error::usage(format!("--subject: {k} has an empty value")));
        }
        let ty = match k.to_ascii_uppercase().as_str() {
            "CN" => rcgen::DnType::CommonName,
            "O" => rcgen::DnType::OrganizationName,
            "OU" => rcgen::DnType::OrganizationalUnitName,
            "C" => rcgen::DnType::CountryName,
            "ST" | "S" => rcgen::DnType::StateOrProvinceName,
            "L" => rcgen::DnType::LocalityName,
            other => {
                return Err(Error::usage(format!(
                    "--subject: attribute '{other}' is not supported (use CN, O, OU, C, ST, L)"
                )));
            }
        };
        dn.push(ty, v);
    }
    if dn.iter().next().is_none() {
        return Err(Error::usage("--subject is empty").hint("example: --subject \"CN=my-app\""));
    }
    Ok(dn)
}

fn key_size(bits: u32) -> Result<rcgen::RsaKeySize> {
    match bits {
        2048 => Ok(rcgen::RsaKeySize::_2048),
        3072 => Ok(rcgen::RsaKeySize::_3072),
        4096 => Ok(rcgen::RsaKeySize::_4096),
        b if (b as usize) < MIN_RSA_BITS => Err(Error::usage(format!(
            "--key-size {b}: Entra accepts only RSA keys of {MIN_RSA_BITS} bits or more"
        ))),
        b => Err(Error::usage(format!("--key-size {b}: use 2048, 3072 or 4096"))),
    }
}

/// A new self-signed certificate: PEM key + certificate, PFX bytes (when a password is given).
pub(crate) struct Created {
    pub(crate) pem: Secret<String>,
    pub(crate) cert_pem: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) pfx: Option<Secret<Vec<u8>>>,
}

pub(crate) fn generate(subject: &str, days: u32, bits: u32, pfx_password: Option<&Secret<String>>) -> Result<Created> {
    let dn = parse_subject(subject)?;
    let size = key_size(bits)?;
    if days == 0 || days > 36_500 {
        return Err(Error::usage(format!("--days {days}: use 1 to 36500")));
    }
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
        .map_err(|e| Error::internal("could not generate the RSA key").cause(e))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = dn;
    // a few minutes of slack for clocks that run behind
    let now = rt::now().max(0) as u64;
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + std::time::Duration::from_secs(now.saturating_sub(300));
    params.not_after = epoch + std::time::Duration::from_secs(now + u64::from(days) * 86_400);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::internal("could not create the certificate").cause(e))?;
    let cert_der = cert.der().to_vec();
    let cert_pem = cert.pem();
    let pem = Secret::new(format!("{}{}", key.serialize_pem(), cert_pem));
    let pfx = match pfx_password {
        None => None,
        Some(pw) => Some(Secret::new(pfx_bytes(&key, &cert_der, pw)?)),
    };
    Ok(Created {
        pem,
        cert_pem,
        cert_der,
        pfx,
    })
}

fn pfx_bytes(key: &rcgen::KeyPair, cert_der: &[u8], password: &Secret<String>) -> Result<Vec<u8>> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey as P12Key, PrivateKeyChain};
    let fail = |e: p12_keystore::error::Error| Error::internal("could not build the PFX file").cause(e);
    let p12_key = P12Key::from_der(key.serialized_der()).map_err(fail)?;
    let p12_cert = Certificate::from_der(cert_der).map_err(fail)?;
    let local_key_id: Vec<u8> = sha1::Sha1::digest(cert_der).to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        "entra-token",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, p12_key, [p12_cert])),
    );
    store.writer(password.expose()).write().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_parsing() {
        let dn = parse_subject("CN=my-app, O=Contoso\\, Ltd, c=US").unwrap();
        assert_eq!(dn.iter().count(), 3);
        assert!(parse_subject("").is_err());
        assert!(parse_subject("my-app").is_err());
        assert!(parse_subject("CN=").is_err());
        let e = parse_subject("DC=example").err().unwrap();
        assert!(e.message.contains("DC"));
    }

    #[test]
    fn key_sizes() {
        assert!(key_size(1024).err().unwrap().message.contains("2048 bits or more"));
        assert!(key_size(3000).is_err());
        assert!(key_size(3072).is_ok());
    }
}
