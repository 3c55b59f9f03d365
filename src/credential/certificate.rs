//! Certificate credential: a client assertion JWT signed with the app's RSA key, fresh for every
//! token request (<https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials>).
//! The key and certificate come from one PEM or PFX file; everything Entra would refuse (non-RSA
//! or short keys, a certificate that does not belong to the key) is refused here first, with
//! exit 2 and nothing sent.

use super::keyfile::{self, CertInfo, KeyMaterial, Need, PrivateKey};
use super::source::{CertificateSource, PasswordSource};
use crate::error::{Error, Result};
use crate::input;
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::time::Duration;

/// The `client_assertion_type` of a JWT client assertion (certificate and federated credentials).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid (MSAL uses the same 10 minutes).
pub(crate) const ASSERTION_LIFETIME: i64 = 600;

/// Entra refuses smaller RSA keys (AADSTS50032).
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// Signature algorithm and thumbprint header of the assertion (`--assertion-alg`, a profile's
/// `assertion_alg`). `pub`: the public `cli::CredentialArgs` holds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AssertionAlg {
    /// RSASSA-PSS SHA-256, header x5t#S256 (Microsoft's current recommendation)
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 SHA-256, header x5t (SHA-1 thumbprint)
    Rs256,
}

impl AssertionAlg {
    /// An algorithm as a profile spells it: an `--assertion-alg` value, any case.
    pub(crate) fn parse(s: &str) -> Option<AssertionAlg> {
        <AssertionAlg as clap::ValueEnum>::from_str(s.trim(), true).ok()
    }
}

pub(crate) struct ClientCertificate {
    client_id: String,
    key: EncodingKey,
    leaf: CertInfo,
    /// DER certificates for `x5c`, leaf first.
    chain: Vec<Vec<u8>>,
    alg: AssertionAlg,
    send_x5c: bool,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// Reads the password: a file (one trailing newline removed, a read waits at most `timeout`)
/// or the environment variable.
pub(crate) fn read_password(src: &PasswordSource, timeout: Duration) -> Result<Secret<String>> {
    match src {
        PasswordSource::Env(s) => {
            crate::log::register_secret(s.expose());
            Ok(s.clone())
        }
        PasswordSource::File(path, origin) => {
            let what = format!("certificate password file (from {})", origin.describe());
            let bytes = Secret::new(input::read(path, &what, input::SECRET_CAP, timeout)?);
            let mut text = String::from_utf8(bytes.expose().clone())
                .map_err(|_| Error::usage(format!("{what} '{}' is not UTF-8 text", path.display())))?;
            if text.ends_with("\r\n") {
                text.truncate(text.len() - 2);
            } else if text.ends_with('\n') {
                text.truncate(text.len() - 1);
            }
            crate::log::register_secret(&text);
            Ok(Secret::new(text))
        }
    }
}

impl ClientCertificate {
    /// Loads and checks the configured certificate file.
    /// `timeout` bounds each file read (a FIFO without a writer): `--timeout`.
    pub(crate) fn load(src: &CertificateSource, client_id: &str, timeout: Duration) -> Result<ClientCertificate> {
        let file = format!(
            "certificate file '{}' (from {})",
            src.path.display(),
            src.origin.describe()
        );
        if src.path.as_os_str() == "-"
            && matches!(&src.password, Some(PasswordSource::File(p, _)) if p.as_os_str() == "-")
        {
            return Err(Error::usage(
                "the certificate and its password cannot both come from stdin ('-')",
            ));
        }
        let password = src.password.as_ref().map(|p| read_password(p, timeout)).transpose()?;
        let what = format!("certificate file (from {})", src.origin.describe());
        let bytes = Secret::new(input::read(&src.path, &what, input::CERTIFICATE_CAP, timeout)?);
        let material = keyfile::read(bytes.expose(), &file, password.as_ref(), Need::KeyAndCertificate)?;
        ClientCertificate::from_material(material, &file, client_id, src.alg, src.send_x5c)
    }

    /// Checks key and certificates: an RSA key of at least 2048 bits, and a certificate for it.
    pub(crate) fn from_material(
        material: KeyMaterial,
        file: &str,
        client_id: &str,
        alg: AssertionAlg,
        send_x5c: bool,
    ) -> Result<ClientCertificate> {
        let pkcs1 = match material.key {
            Some(PrivateKey::Rsa(k)) => k,
            Some(PrivateKey::Other(kind)) => {
                return Err(Error::usage(format!(
                    "{file} holds an {kind} private key: Entra accepts only RSA keys (2048 bits or more)"
                ))
                .hint("create one with: entra-token cert create --subject \"CN=my-app\" --out app.pem"));
            }
            None => {
                return Err(Error::usage(format!("{file} has no private key")).hint(
                    "put the private key and the certificate in one PEM file, or use a PFX exported with its key",
                ));
            }
        };
        if material.certs.is_empty() {
            return Err(Error::usage(format!(
                "{file} has a private key but no certificate (the certificate's thumbprint identifies the key to Entra)"
            ))
            .hint("append the certificate: cat key.pem cert.pem > app.pem"));
        }
        let certs: Vec<CertInfo> = material
            .certs
            .iter()
            .map(|der| CertInfo::parse(der, file))
            .collect::<Result<_>>()?;

        let public = rsa_public_key(&pkcs1, file, &certs)?;
        let leaf = certs
            .iter()
            .position(|c| c.rsa_public_key.as_deref() == Some(public.as_slice()))
            .ok_or_else(|| {
                Error::usage(format!(
                    "{file}: the certificate does not match the private key (its public key is different)"
                ))
                .hint("keep the key together with the certificate that was issued for it")
            })?;
        let order = keyfile::order_chain(leaf, &certs);
        let chain = order.iter().map(|i| certs[*i].der.clone()).collect();
        let leaf = certs[leaf].clone();

        let now = crate::rt::now();
        if leaf.not_after < now {
            crate::log::warn(format!(
                "{file}: the certificate expired on {}; Entra will refuse it unless a newer one is uploaded",
                crate::output::rfc3339(leaf.not_after, false)
            ));
        } else if leaf.not_before > now {
            crate::log::warn(format!(
                "{file}: the certificate is not valid before {}",
                crate::output::rfc3339(leaf.not_before, false)
            ));
        }

        Ok(ClientCertificate {
            client_id: client_id.to_string(),
            key: EncodingKey::from_rsa_der(pkcs1.expose()),
            leaf,
            chain,
            alg,
            send_x5c,
        })
    }

    /// The certificate the assertions name (tests check what was loaded).
    #[cfg(test)]
    pub(crate) fn leaf(&self) -> &CertInfo {
        &self.leaf
    }

    pub(crate) fn fingerprint(&self) -> String {
        super::digest_label("certificate", &self.leaf.sha256)
    }

    /// A freshly signed client assertion for a request to `audience` (the exact token URL).
    pub(crate) fn assertion(&self, audience: &str, now: i64) -> Result<Secret<String>> {
        let mut header = match self.alg {
            AssertionAlg::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(self.leaf.x5t_s256());
                h
            }
            AssertionAlg::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(self.leaf.x5t());
                h
            }
        };
        header.typ = Some("JWT".into());
        if self.send_x5c {
            header.x5c = Some(self.chain.iter().map(|der| STANDARD.encode(der)).collect());
        }
        let claims = AssertionClaims {
            aud: audience,
            iss: &self.client_id,
            sub: &self.client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            nbf: now,
            exp: now + ASSERTION_LIFETIME,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| Error::internal("could not sign the client assertion").cause(e))
    }

    /// The form fields of one token request to `token_url`.
    pub(crate) fn auth_fields(&self, token_url: &url::Url) -> Result<super::AuthFields> {
        let jwt = self.assertion(token_url.as_str(), crate::rt::now())?;
        Ok(vec![
            ("client_assertion_type".to_string(), Secret::new(JWT_BEARER.to_string())),
            ("client_assertion".to_string(), jwt),
        ])
    }
}

/// The public key of an RSA private key (DER `RSAPublicKey`), checking it is usable: aws-lc (via
/// rcgen) validates the key and refuses anything under 2048 bits.
fn rsa_public_key(pkcs1: &Secret<Vec<u8>>, file: &str, certs: &[CertInfo]) -> Result<Vec<u8>> {
    // A short key is best explained from its certificate (aws-lc only says "too small").
    if let Some(short) = certs
        .iter()
        .find(|c| c.key_type == "RSA" && c.key_bits > 0 && c.key_bits < MIN_RSA_BITS)
    {
        return Err(too_short(file, Some(short.key_bits)));
    }
    public_key_der(pkcs1).map_err(|e| match e {
        KeyProblem::TooShort => too_short(file, None),
        KeyProblem::Invalid(reason) => Error::usage(format!("{file}: the RSA private key is not usable")).cause(reason),
    })
}

/// Why an RSA private key cannot be used.
#[derive(Debug)]
pub(crate) enum KeyProblem {
    TooShort,
    Invalid(String),
}

/// The DER `RSAPublicKey` of a PKCS#1 RSA private key, as aws-lc (through rcgen) reads it.
pub(crate) fn public_key_der(pkcs1: &Secret<Vec<u8>>) -> std::result::Result<Vec<u8>, KeyProblem> {
    let der: &[u8] = pkcs1.expose();
    let key_der = der.try_into().map_err(|e: &str| KeyProblem::Invalid(e.to_string()))?;
    match rcgen::KeyPair::from_der_and_sign_algo(&key_der, &rcgen::PKCS_RSA_SHA256) {
        Ok(kp) => Ok(kp.public_key_raw().to_vec()),
        Err(rcgen::Error::RingKeyRejected(reason)) if reason.contains("TooSmall") => Err(KeyProblem::TooShort),
        Err(e) => Err(KeyProblem::Invalid(e.to_string())),
    }
}

fn too_short(file: &str, bits: Option<usize>) -> Error {
    let size = bits
        .map(|b| format!(" is {b} bits"))
        .unwrap_or_else(|| " is too short".into());
    Error::usage(format!(
        "{file}: the RSA key{size}; Entra accepts only RSA keys of {MIN_RSA_BITS} bits or more (AADSTS50032)"
    ))
    .hint("create a new one with: entra-token cert create --subject \"CN=my-app\" --key-size 3072 --out app.pem")
}
