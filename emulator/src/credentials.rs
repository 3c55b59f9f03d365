//! Credentials registered on emulator apps besides secrets: X.509 certificates (from PEM or from
//! an app-manifest `keyCredentials` entry, optionally subject-name/issuer "SNI" registrations)
//! and federated identity credentials. Parsing and the JSON views of the control API.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::clock::iso8601;

/// The audience Entra recommends for federated credentials.
pub(crate) const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The fields of an X.509 certificate the emulator needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo {
    pub(crate) sha1: Vec<u8>,
    pub(crate) sha256: Vec<u8>,
    /// RFC 4514-style subject, as x509-parser prints it (`CN=app, O=Contoso`).
    pub(crate) subject: String,
    pub(crate) issuer: String,
    /// The PKCS#1 `RSAPublicKey` DER (what `jsonwebtoken::DecodingKey::from_rsa_der` takes).
    pub(crate) public_key: Vec<u8>,
    pub(crate) key_bits: usize,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// A certificate registered on an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertCredential {
    pub(crate) key_id: String,
    pub(crate) info: CertInfo,
    /// Subject name + issuer registration: the assertion must carry `x5c`, and any certificate
    /// with the registered subject is accepted.
    pub(crate) subject_name_issuer: bool,
}

/// A federated identity credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FederatedCredential {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
}

/// Parses one DER certificate. Only RSA keys are accepted, as Entra does for app credentials.
pub(crate) fn parse_cert_der(der: &[u8]) -> Result<CertInfo, String> {
    use x509_parser::public_key::PublicKey;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let spki = cert.public_key();
    let key_bits = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
        Ok(_) => return Err("the certificate's key is not RSA (Entra accepts only RSA certificates)".into()),
        Err(e) => return Err(format!("unreadable public key: {e}")),
    };
    Ok(CertInfo {
        sha1: Sha1::digest(der).to_vec(),
        sha256: Sha256::digest(der).to_vec(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        public_key: spki.subject_public_key.data.to_vec(),
        key_bits,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Decodes standard base64 that may contain whitespace (MSAL Python sends PEM bodies in `x5c`).
pub(crate) fn decode_b64_loose(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact.as_bytes()).ok()
}

fn first_pem_certificate(pem: &str) -> Result<Vec<u8>, String> {
    for item in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        match item {
            Ok(p) if p.label == "CERTIFICATE" => return Ok(p.contents),
            Ok(_) => {}
            Err(e) => return Err(format!("invalid PEM: {e}")),
        }
    }
    Err("no CERTIFICATE block in \"pem\"".into())
}

/// A registration request: `{"pem": "..."}` or a manifest `keyCredentials` entry
/// (`customKeyIdentifier`, `keyId`, `type`, `usage`, `value`), plus `subject_name_issuer`.
pub(crate) fn cert_from_json(v: &Value) -> Result<CertCredential, String> {
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let text = |k: &str| -> Result<Option<&str>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("\"{k}\" must be a string")),
        }
    };
    let der = match (text("pem")?, text("value")?) {
        (Some(pem), None) => first_pem_certificate(pem)?,
        (None, Some(value)) => {
            if let Some(t) = text("type")?.filter(|t| *t != "AsymmetricX509Cert") {
                return Err(format!(
                    "unsupported key credential type {t:?} (expected \"AsymmetricX509Cert\")"
                ));
            }
            if let Some(u) = text("usage")?.filter(|u| *u != "Verify") {
                return Err(format!("unsupported key credential usage {u:?} (expected \"Verify\")"));
            }
            decode_b64_loose(value).ok_or("\"value\" is not base64 DER")?
        }
        (Some(_), Some(_)) => return Err("give either \"pem\" or \"value\", not both".into()),
        (None, None) => return Err("missing \"pem\" (PEM certificate) or \"value\" (base64 DER)".into()),
    };
    let info = parse_cert_der(&der)?;
    if let Some(cki) = text("customKeyIdentifier")? {
        let given = decode_b64_loose(cki).ok_or("\"customKeyIdentifier\" is not base64")?;
        if given != info.sha1 {
            return Err("\"customKeyIdentifier\" is not the certificate's SHA-1 thumbprint (base64)".into());
        }
    }
    let key_id = match text("keyId")? {
        Some(k) => uuid::Uuid::parse_str(k)
            .map_err(|_| "\"keyId\" is not a GUID")?
            .to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let sni = match obj.get("subject_name_issuer") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"subject_name_issuer\" must be a boolean".into()),
    };
    Ok(CertCredential {
        key_id,
        info,
        subject_name_issuer: sni,
    })
}

/// Upper-case hex, as the Entra portal shows thumbprints.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The control API's view of a registered certificate.
pub(crate) fn cert_view(c: &CertCredential) -> Value {
    json!({
        "keyId": c.key_id,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "customKeyIdentifier": STANDARD.encode(&c.info.sha1),
        "thumbprint": hex_upper(&c.info.sha1),
        "x5t": URL_SAFE_NO_PAD.encode(&c.info.sha1),
        "x5t#S256": URL_SAFE_NO_PAD.encode(&c.info.sha256),
        "subject": c.info.subject,
        "issuer": c.info.issuer,
        "keySize": c.info.key_bits,
        "startDateTime": iso8601(c.info.not_before),
        "endDateTime": iso8601(c.info.not_after),
        "subject_name_issuer": c.subject_name_issuer,
    })
}

/// A federated credential from `{"issuer","subject","audience"|"audiences","name"?}`.
pub(crate) fn federated_from_json(v: &Value) -> Result<FederatedCredential, String> {
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let required = |k: &str| -> Result<String, String> {
        match obj.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!("\"{k}\" must be a non-empty string")),
        }
    };
    let issuer = required("issuer")?;
    let subject = required("subject")?;
    let audiences = match (obj.get("audience"), obj.get("audiences")) {
        (Some(Value::String(a)), None) if !a.is_empty() => vec![a.clone()],
        (None, Some(Value::Array(list))) if !list.is_empty() => list
            .iter()
            .map(|a| a.as_str().filter(|s| !s.is_empty()).map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("\"audiences\" must be an array of non-empty strings")?,
        (None, None) => vec![TOKEN_EXCHANGE_AUDIENCE.to_string()],
        _ => return Err("give \"audience\" (a string) or \"audiences\" (an array of strings)".into()),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        None | Some(Value::Null) => format!("fic-{}", &id[..8]),
        Some(_) => return Err("\"name\" must be a string".into()),
    };
    Ok(FederatedCredential {
        id,
        name,
        issuer,
        subject,
        audiences,
    })
}

pub(crate) fn federated_view(f: &FederatedCredential) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "issuer": f.issuer,
        "subject": f.subject,
        "audiences": f.audiences,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed RSA certificate and its PKCS#8 key, made with rcgen.
    pub(crate) fn make_cert(cn: &str, bits: usize) -> (Vec<u8>, Vec<u8>) {
        let kp = match bits {
            2048 => rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap(),
            _ => panic!("unsupported size in tests"),
        };
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&kp).unwrap();
        (cert.der().to_vec(), kp.serialize_der())
    }

    #[test]
    fn pem_and_manifest_registrations_agree() {
        let (der, _) = make_cert("entra-token test", 2048);
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(&der)
        );
        let a = cert_from_json(&json!({ "pem": pem })).unwrap();
        assert_eq!(a.info.key_bits, 2048);
        assert_eq!(a.info.subject, "CN=entra-token test");
        assert!(!a.subject_name_issuer);
        let sha1 = Sha1::digest(&der);
        let manifest = json!({
            "customKeyIdentifier": STANDARD.encode(sha1),
            "keyId": "0f0e0d0c-0b0a-4909-8807-060504030201",
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "value": STANDARD.encode(&der),
            "subject_name_issuer": true,
        });
        let b = cert_from_json(&manifest).unwrap();
        assert_eq!(b.info, a.info);
        assert_eq!(b.key_id, "0f0e0d0c-0b0a-4909-8807-060504030201");
        assert!(b.subject_name_issuer);
        let v = cert_view(&b);
        assert_eq!(v["thumbprint"], hex_upper(&sha1));
        assert_eq!(v["x5t"], URL_SAFE_NO_PAD.encode(sha1));
    }

    #[test]
    fn bad_registrations() {
        let (der, _) = make_cert("x", 2048);
        let value = STANDARD.encode(&der);
        for bad in [
            json!([]),
            json!({}),
            json!({"pem": "nope"}),
            json!({"value": "!!!"}),
            json!({"value": STANDARD.encode(b"not a cert")}),
            json!({"value": value, "customKeyIdentifier": STANDARD.encode([0u8; 20])}),
            json!({"value": value, "keyId": "x"}),
            json!({"value": value, "type": "Symmetric"}),
            json!({"value": value, "usage": "Sign"}),
            json!({"value": value, "pem": "x"}),
            json!({"value": 5}),
            json!({"value": value, "subject_name_issuer": "yes"}),
        ] {
            assert!(cert_from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn federated_registrations() {
        let f = federated_from_json(&json!({"issuer": "https://i", "subject": "s"})).unwrap();
        assert_eq!(f.audiences, vec![TOKEN_EXCHANGE_AUDIENCE]);
        let g = federated_from_json(&json!({"issuer": "https://i", "subject": "s", "audiences": ["a", "b"]})).unwrap();
        assert_eq!(g.audiences, vec!["a", "b"]);
        assert!(federated_from_json(&json!({"issuer": "https://i"})).is_err());
        assert!(federated_from_json(&json!({"issuer": "", "subject": "s"})).is_err());
        assert!(federated_from_json(&json!({"issuer": "i", "subject": "s", "audiences": [1]})).is_err());
        assert!(
            federated_from_json(&json!({"issuer": "i", "subject": "s", "audience": "a", "audiences": ["a"]})).is_err()
        );
    }
}
