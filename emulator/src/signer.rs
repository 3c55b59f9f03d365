//! The emulator's token-signing key: an RSA key generated at startup with a self-signed
//! certificate (for `x5t`/`kid`, as Entra's keys have), signing and verifying RS256 JWTs, and its
//! JWK for the discovery key set. Nothing outside the emulator trusts it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value, json};
use sha1::{Digest as _, Sha1};

use crate::aadsts::AadError;
use crate::credentials::parse_cert_der;
use crate::error::{Error, Result};

/// The RS256 key (with a self-signed certificate for `x5t`/`kid`) that signs access tokens.
pub(crate) struct Signer {
    key: jsonwebtoken::EncodingKey,
    /// The public key, PKCS#1 DER (to verify tokens the emulator issued).
    public_key: Vec<u8>,
    /// base64url(SHA-1(certificate DER)): both `x5t` and `kid`, as Entra does.
    pub(crate) thumbprint: String,
    /// The signing certificate, base64 DER (the JWK's `x5c`).
    cert_b64: String,
}

impl Signer {
    pub(crate) fn generate() -> Result<Self> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::internal(format!("emulator: cannot create the token signing key ({what})")).cause(e)
        };
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| fail("RSA key generation", &e))?;
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("certificate parameters", &e))?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "entra-token emulator token signing (test double)",
        );
        let cert = params.self_signed(&kp).map_err(|e| fail("certificate", &e))?;
        let pkcs8 = kp.serialize_der();
        let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8.as_slice()).map_err(|e| fail("PKCS#8 parsing", &e))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_der(info.private_key.as_bytes());
        let der: &[u8] = cert.der();
        let public_key = parse_cert_der(der)
            .map_err(|e| fail("certificate parsing", &e))?
            .public_key;
        Ok(Signer {
            key,
            public_key,
            thumbprint: URL_SAFE_NO_PAD.encode(Sha1::digest(der)),
            cert_b64: STANDARD.encode(der),
        })
    }

    /// The public key as a JWK (`kty`, `use`, `kid`, `x5t`, `n`, `e`, `x5c`), for discovery.
    pub(crate) fn jwk(&self) -> Value {
        let der = STANDARD.decode(&self.cert_b64).unwrap_or_default();
        let strip = |b: &[u8]| b.iter().skip_while(|x| **x == 0).copied().collect::<Vec<u8>>();
        let (n, e) = match x509_parser::parse_x509_certificate(&der) {
            Ok((_, cert)) => match cert.public_key().parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(k)) => (
                    URL_SAFE_NO_PAD.encode(strip(k.modulus)),
                    URL_SAFE_NO_PAD.encode(strip(k.exponent)),
                ),
                _ => (String::new(), String::new()),
            },
            Err(_) => (String::new(), String::new()),
        };
        json!({"kty": "RSA", "use": "sig", "kid": self.thumbprint, "x5t": self.thumbprint, "n": n, "e": e, "x5c": [self.cert_b64]})
    }

    /// Verifies an RS256 signature made by this key (`message` is `header.payload`).
    pub(crate) fn verify(&self, message: &str, signature: &str) -> bool {
        verify_rsa(message, signature, Algorithm::RS256, &self.public_key)
    }

    /// Verifies a whole compact JWT signed by this key; returns its claims.
    pub(crate) fn verify_token(&self, token: &str) -> Option<Map<String, Value>> {
        let (message, signature) = token.trim().rsplit_once('.')?;
        let (header, claims) = message.split_once('.')?;
        let h: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if h.get("alg").and_then(Value::as_str) != Some("RS256") || !self.verify(message, signature) {
            return None;
        }
        match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Signs `claims` as an RS256 JWT with `kid` and `x5t` set to the key's thumbprint.
    pub(crate) fn sign(&self, claims: &Value) -> std::result::Result<String, AadError> {
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.thumbprint.clone());
        header.x5t = Some(self.thumbprint.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| AadError::new(500, "server_error", 90000, format!("Token signing failed: {e}")))
    }
}

/// Verifies a JWS signature with an RSA public key (PKCS#1 DER).
pub(crate) fn verify_rsa(message: &str, signature: &str, alg: Algorithm, pkcs1: &[u8]) -> bool {
    let key = DecodingKey::from_rsa_der(pkcs1);
    jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg).unwrap_or(false)
}
