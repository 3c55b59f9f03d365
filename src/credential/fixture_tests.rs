//! Fixture-based tests of the certificate credential: every key/certificate format is produced
//! with the `openssl` command line (OpenSSL 3) into a temporary directory, once per test binary.

use super::certificate::{AssertionAlg, ClientCertificate, JWT_BEARER};
use super::keyfile::{self, CertInfo, Need};
use crate::error::Error;
use crate::protocol::jwt;
use crate::secret::Secret;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PASSWORD: &str = "p@ss w0rd~";
const CLIENT_ID: &str = "00000000-1111-2222-3333-444444444444";

pub(crate) struct Fixtures {
    _dir: tempfile::TempDir,
    pub(crate) dir: PathBuf,
}

impl Fixtures {
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Generates every fixture once with `tests/fixtures/make-certs.sh` (RSA key generation is the
/// slow part).
pub(crate) fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().to_path_buf();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-certs.sh");
        let out = Command::new("sh")
            .arg(&script)
            .arg(&d)
            .arg(PASSWORD)
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "make-certs.sh failed (is openssl installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Fixtures { _dir: tmp, dir: d }
    })
}

fn file(name: &str) -> String {
    format!("certificate file '{name}'")
}

fn load(name: &str, password: Option<&str>) -> Result<ClientCertificate, Error> {
    load_with(name, password, AssertionAlg::Ps256, false)
}

fn load_with(name: &str, password: Option<&str>, alg: AssertionAlg, x5c: bool) -> Result<ClientCertificate, Error> {
    let bytes = std::fs::read(fixtures().path(name)).unwrap();
    let pw = password.map(|p| Secret::new(p.to_string()));
    let material = keyfile::read(&bytes, &file(name), pw.as_ref(), Need::KeyAndCertificate)?;
    ClientCertificate::from_material(material, &file(name), CLIENT_ID, alg, x5c)
}

fn openssl_fingerprint(name: &str, digest: &str) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-in", name, "-noout", "-fingerprint", digest])
        .current_dir(&fixtures().dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().split_once('=').unwrap().1.replace(':', "")
}

#[test]
fn every_supported_format_loads_the_same_certificate() {
    let reference = load("pkcs8.pem", None).unwrap().leaf().thumbprint_hex();
    for (name, pw) in [
        ("pkcs8.pem", None),
        ("cert-first.pem", None),
        ("pkcs1.pem", None),
        ("pkcs8.pem", Some("ignored for a plain key")),
        ("enc-default.pem", Some(PASSWORD)),
        ("enc-3des.pem", Some(PASSWORD)),
        ("enc-scrypt.pem", Some(PASSWORD)),
        ("default.pfx", Some(PASSWORD)),
        ("legacy.pfx", Some(PASSWORD)),
        ("3des.pfx", Some(PASSWORD)),
        ("empty.pfx", None),
        ("empty.pfx", Some("")),
        ("nomac.pfx", None),
    ] {
        let c = load(name, pw).unwrap_or_else(|e| panic!("{name}: {}", e.render()));
        assert_eq!(c.leaf().thumbprint_hex(), reference, "{name}");
    }
}

#[test]
fn thumbprints_match_openssl() {
    let c = load("pkcs8.pem", None).unwrap();
    let leaf = c.leaf();
    assert_eq!(leaf.thumbprint_hex(), openssl_fingerprint("cert.pem", "-sha1"));
    assert_eq!(leaf.sha256_hex(), openssl_fingerprint("cert.pem", "-sha256"));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    assert_eq!(b64.decode(leaf.x5t()).unwrap(), leaf.sha1);
    assert_eq!(b64.decode(leaf.x5t_s256()).unwrap(), leaf.sha256);
    assert!(!leaf.x5t().contains(['=', '+', '/']));
    assert_eq!(leaf.key_type, "RSA");
    assert_eq!(leaf.key_bits, 2048);
    assert!(leaf.subject.contains("CN=entra-token-test"), "{}", leaf.subject);
}

#[test]
fn der_certificate_is_read_for_inspection_only() {
    let bytes = std::fs::read(fixtures().path("cert.der")).unwrap();
    let m = keyfile::read(&bytes, &file("cert.der"), None, Need::Certificate).unwrap();
    assert_eq!(m.format, keyfile::Format::DerCertificate);
    let info = CertInfo::parse(&m.certs[0], "x").unwrap();
    assert_eq!(info.thumbprint_hex(), openssl_fingerprint("cert.pem", "-sha1"));
    let m = keyfile::read(&bytes, &file("cert.der"), None, Need::KeyAndCertificate).unwrap();
    let e = ClientCertificate::from_material(m, &file("cert.der"), CLIENT_ID, AssertionAlg::Ps256, false)
        .err()
        .unwrap();
    assert!(e.message.contains("no private key"), "{}", e.message);
}

fn usage_error(name: &str, password: Option<&str>) -> Error {
    match load(name, password) {
        Ok(_) => panic!("{name} loaded but should be refused"),
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{name}: {}", e.render());
            assert!(
                e.message.contains(name),
                "{name}: message does not name the file: {}",
                e.message
            );
            e
        }
    }
}

#[test]
fn legacy_encryptions_are_refused_with_the_conversion_command() {
    for name in ["enc-pbes1.pem", "enc-trad.pem"] {
        let e = usage_error(name, Some(PASSWORD));
        let hint = e.hint.clone().unwrap_or_default();
        assert!(
            hint.contains("openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW"),
            "{name}: {}",
            e.render()
        );
    }
}

#[test]
fn wrong_or_missing_passwords_are_refused() {
    for (name, pw) in [
        ("enc-default.pem", Some("wrong")),
        ("enc-default.pem", None),
        ("enc-scrypt.pem", Some("wrong")),
        ("default.pfx", Some("wrong")),
        ("default.pfx", None),
        ("legacy.pfx", Some("wrong")),
        ("3des.pfx", Some("wrong")),
        ("empty.pfx", Some("wrong")),
    ] {
        let e = usage_error(name, pw);
        assert!(e.render().contains("password"), "{name}: {}", e.render());
    }
}

#[test]
fn unsuitable_keys_are_refused_locally() {
    let e = usage_error("ec.pem", None);
    assert!(e.message.contains("Entra accepts only RSA keys"), "{}", e.message);
    let e = usage_error("short.pem", None);
    assert!(
        e.message.contains("1024 bits") && e.message.contains("2048"),
        "{}",
        e.message
    );
    let e = usage_error("mismatch.pem", None);
    assert!(e.message.contains("does not match"), "{}", e.message);
    let e = usage_error("garbage.pem", None);
    assert!(e.message.contains("not a PEM"), "{}", e.message);
    let e = usage_error("key8.pem", None);
    assert!(e.message.contains("no certificate"), "{}", e.message);
}

#[test]
fn missing_file_is_exit_2_naming_it() {
    let src = super::source::CertificateSource {
        path: fixtures().path("does-not-exist.pem"),
        origin: crate::origin::Origin::Flag("--certificate"),
        password: None,
        alg: AssertionAlg::Ps256,
        send_x5c: false,
    };
    let e = ClientCertificate::load(&src, CLIENT_ID, std::time::Duration::from_secs(30))
        .err()
        .unwrap();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.message.contains("does-not-exist.pem")
            && e.message.contains("does not exist")
            && e.message.contains("--certificate"),
        "{}",
        e.message
    );
}

#[test]
fn chain_is_ordered_leaf_first() {
    for (name, pw) in [("chain.pem", None), ("chain.pfx", Some(PASSWORD))] {
        let c = load_with(name, pw, AssertionAlg::Ps256, true).unwrap();
        assert!(c.leaf().subject.contains("chained-leaf"), "{name}");
        let jwt = c
            .assertion("https://login.microsoftonline.com/t/oauth2/v2.0/token", 1_800_000_000)
            .unwrap();
        let d = jwt::decode(jwt.expose()).unwrap();
        let x5c = d.header["x5c"].as_array().unwrap();
        assert_eq!(x5c.len(), 2, "{name}");
        use base64::Engine;
        let std = base64::engine::general_purpose::STANDARD;
        let first = std.decode(x5c[0].as_str().unwrap()).unwrap();
        let second = CertInfo::parse(&std.decode(x5c[1].as_str().unwrap()).unwrap(), "x").unwrap();
        assert_eq!(first, c.leaf().der, "{name}: leaf first");
        assert!(second.subject.contains("Fixture CA"), "{name}");
    }
}

#[test]
fn expired_certificate_only_warns() {
    let key_pem = std::fs::read_to_string(fixtures().path("key8.pem")).unwrap();
    let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let mut pem = key_pem.clone();
    pem.push_str(&cert.pem());
    let m = keyfile::read(pem.as_bytes(), "expired", None, Need::KeyAndCertificate).unwrap();
    let c = ClientCertificate::from_material(m, "expired", CLIENT_ID, AssertionAlg::Ps256, false).unwrap();
    assert!(c.leaf().not_after < crate::rt::now());
}

#[test]
fn assertion_header_and_claims() {
    let url = url::Url::parse("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token").unwrap();
    let ps = load("pkcs8.pem", None).unwrap();
    let fields = ps.auth_fields(&url).unwrap();
    assert_eq!(fields[0].0, "client_assertion_type");
    assert_eq!(fields[0].1.expose(), JWT_BEARER);
    assert_eq!(fields[1].0, "client_assertion");
    let d = jwt::decode(fields[1].1.expose()).unwrap();
    assert_eq!(d.header["alg"], "PS256");
    assert_eq!(d.header["typ"], "JWT");
    assert_eq!(d.header["x5t#S256"], ps.leaf().x5t_s256().as_str());
    assert!(d.header.get("x5t").is_none() && d.header.get("x5c").is_none());
    assert_eq!(d.claims["aud"], url.as_str());
    assert_eq!(d.claims["iss"], CLIENT_ID);
    assert_eq!(d.claims["sub"], CLIENT_ID);
    let iat = d.claims["iat"].as_i64().unwrap();
    assert_eq!(d.claims["nbf"].as_i64().unwrap(), iat);
    assert_eq!(d.claims["exp"].as_i64().unwrap(), iat + 600);
    assert!((iat - crate::rt::now()).abs() < 5);
    let jti = d.claims["jti"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(jti).unwrap().get_version_num(), 4);

    // a fresh assertion for every request
    let again = ps.auth_fields(&url).unwrap();
    let d2 = jwt::decode(again[1].1.expose()).unwrap();
    assert_ne!(d2.claims["jti"], d.claims["jti"]);

    let rs = load_with("pkcs8.pem", None, AssertionAlg::Rs256, false).unwrap();
    let d = jwt::decode(rs.assertion(url.as_str(), 1_800_000_000).unwrap().expose()).unwrap();
    assert_eq!(d.header["alg"], "RS256");
    assert_eq!(d.header["x5t"], rs.leaf().x5t().as_str());
    assert!(d.header.get("x5t#S256").is_none());
    assert_eq!(d.claims["exp"], 1_800_000_600);

    // v1 token URL: the audience follows the URL being called
    let v1 = url::Url::parse("http://127.0.0.1:8400/tenant/oauth2/token").unwrap();
    let f = ps.auth_fields(&v1).unwrap();
    assert_eq!(jwt::decode(f[1].1.expose()).unwrap().claims["aud"], v1.as_str());
}

#[test]
fn signatures_verify_with_the_certificate_key() {
    let c = load("pkcs8.pem", None).unwrap();
    let public = c.leaf().rsa_public_key.clone().unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&public);
    for (alg, jalg) in [
        (AssertionAlg::Ps256, jsonwebtoken::Algorithm::PS256),
        (AssertionAlg::Rs256, jsonwebtoken::Algorithm::RS256),
    ] {
        let c = load_with("pkcs8.pem", None, alg, false).unwrap();
        let aud = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let jwt = c.assertion(aud, crate::rt::now()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jalg);
        v.set_audience(&[aud]);
        v.set_issuer(&[CLIENT_ID]);
        let data = jsonwebtoken::decode::<serde_json::Value>(jwt.expose(), &key, &v)
            .unwrap_or_else(|e| panic!("{jalg:?}: {e}"));
        assert_eq!(data.claims["sub"], CLIENT_ID);
    }
}

/// Independent check of the signatures with PyJWT + cryptography (run with `--ignored`).
#[test]
#[ignore = "needs python3 with PyJWT and cryptography"]
fn pyjwt_verifies_ps256_and_rs256() {
    let aud = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
    let cert = fixtures().path("cert.pem");
    for (alg, name) in [(AssertionAlg::Ps256, "PS256"), (AssertionAlg::Rs256, "RS256")] {
        let c = load_with("pkcs8.pem", None, alg, true).unwrap();
        let jwt = c.assertion(aud, crate::rt::now()).unwrap();
        let script = r#"
import sys, jwt, base64, hashlib
from cryptography import x509
token, cert_path, aud, client_id, alg = sys.argv[1:6]
cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
claims = jwt.decode(token, cert.public_key(), algorithms=[alg], audience=aud, issuer=client_id,
                    options={"require": ["exp", "nbf", "iat", "jti", "sub"]})
assert claims["sub"] == client_id
header = jwt.get_unverified_header(token)
assert header["alg"] == alg and header["typ"] == "JWT"
der = cert.public_bytes(encoding=__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)
b64 = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
if alg == "PS256":
    assert header["x5t#S256"] == b64(hashlib.sha256(der).digest())
else:
    assert header["x5t"] == b64(hashlib.sha1(der).digest())
assert base64.b64decode(header["x5c"][0]) == der
print("verified", alg)
"#;
        let out = Command::new("python3")
            .args(["-c", script, jwt.expose(), cert.to_str().unwrap(), aud, CLIENT_ID, name])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "PyJWT rejected the {name} assertion: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("verified {name}"));

        // the check is real: a signature over other claims is rejected
        let (head, _) = jwt.expose().rsplit_once('.').unwrap();
        let same_key = load_with("pkcs8.pem", None, alg, true).unwrap();
        let foreign = same_key.assertion(aud, crate::rt::now()).unwrap();
        let forged = format!("{head}.{}", foreign.expose().rsplit_once('.').unwrap().1);
        let out = Command::new("python3")
            .args(["-c", script, &forged, cert.to_str().unwrap(), aud, CLIENT_ID, name])
            .output()
            .expect("python3");
        assert!(!out.status.success(), "PyJWT accepted a forged {name} signature");
    }
}
