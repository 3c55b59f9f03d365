//! End-to-end: certificate and federated credentials and the `cert` helpers, against the
//! emulator's assertion validation (Entra's rules): formats, both algorithm pairs, x5c, fresh
//! jti, aud on v1/v2, local refusals with nothing sent, federated files re-read, GitHub Actions.

mod common;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PW: &str = "fixture~Pass.1";

/// Key material made once per test binary by tests/fixtures/make-certs.sh with OpenSSL 3 (no
/// private key lives in the repo).
fn fixtures() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cert-fixtures");
        let _ = std::fs::remove_dir_all(&d);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-certs.sh");
        let o = Command::new("sh").arg(&script).arg(&d).arg(PW).output().unwrap();
        assert!(
            o.status.success(),
            "make-certs.sh: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        d
    })
}

fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

/// An environment with the emulator's app but no secret, and the fixture certificate registered.
fn cert_env(emu: &Emulator) -> Env {
    let mut env = Env::for_emulator(emu);
    env.unset("AZURE_CLIENT_SECRET");
    let pem = std::fs::read_to_string(fixtures().join("cert.pem")).unwrap();
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/certificates", fx::CLIENT_ID),
        Some(json!({ "pem": pem })),
    );
    env
}

fn assertion_of(req: &Value) -> String {
    req["form"]["client_assertion"]
        .as_str()
        .expect("a client_assertion was sent")
        .to_string()
}

fn x5t(der: &[u8], sha256: bool) -> String {
    use sha2::Digest;
    if sha256 {
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
    } else {
        URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der))
    }
}

fn cert_der() -> Vec<u8> {
    pem_der("cert.pem")
}

/// The DER of a fixture file holding one PEM certificate.
fn pem_der(name: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(fixtures().join(name)).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).unwrap()
}

#[test]
fn isv_path_cert_create_manifest_register_get() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    let pem = env.dir.path().join("app.pem");
    let pem_s = pem.to_str().unwrap();
    env.run(&[
        "cert",
        "create",
        "--subject",
        "CN=contoso-audit-collector",
        "--key-size",
        "2048",
        "--out",
        pem_s,
    ])
    .ok();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let inspect = env.run(&["cert", "inspect", pem_s, "-o", "json"]).ok().json();
    let manifest = env.run(&["cert", "manifest", pem_s]).ok().json();
    assert_eq!(manifest["type"], "AsymmetricX509Cert");
    assert_eq!(manifest["usage"], "Verify");
    // before registration: Entra does not know the key
    env.run(&["get", "--certificate", pem_s])
        .fails(3)
        .stderr_has("AADSTS700027");
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/certificates", fx::CLIENT_ID),
        Some(manifest),
    );
    let t = env.run(&["get", "--certificate", pem_s]).ok().token();
    assert_eq!(claims(&t)["appidacr"], "2", "a certificate-authenticated token");
    let req = emu.token_requests().pop().unwrap();
    assert!(req["form"].get("client_secret").is_none());
    assert_eq!(
        req["form"]["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let h = header(&assertion_of(&req));
    assert_eq!(h["alg"], "PS256");
    let inspect_s256 = inspect.to_string();
    assert!(
        inspect_s256.contains(h["x5t#S256"].as_str().unwrap()),
        "x5t#S256 matches cert inspect: {inspect}"
    );
}

#[test]
fn assertion_claims_and_both_algorithm_pairs() {
    let emu = Emulator::start();
    let env = cert_env(&emu);
    let der = cert_der();
    env.run(&["get", "--certificate", &fixture("pkcs8.pem")]).ok();
    let a = assertion_of(&emu.token_requests()[0]);
    let (h, c) = (header(&a), claims(&a));
    assert_eq!(h["alg"], "PS256");
    assert_eq!(h["x5t#S256"], x5t(&der, true).as_str());
    assert!(h.get("x5t").is_none() && h.get("x5c").is_none());
    assert_eq!(c["iss"], fx::CLIENT_ID);
    assert_eq!(c["sub"], fx::CLIENT_ID);
    assert_eq!(c["aud"], format!("{}/{}/oauth2/v2.0/token", emu.base, fx::TENANT_ID));
    let (iat, exp) = (c["iat"].as_i64().unwrap(), c["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 600, "short lifetime: {c}");
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    env.run(&[
        "get",
        "--certificate",
        &fixture("pkcs8.pem"),
        "--assertion-alg",
        "rs256",
        "--force-refresh",
    ])
    .ok();
    let a2 = assertion_of(&emu.token_requests()[1]);
    assert_eq!(header(&a2)["alg"], "RS256");
    assert_eq!(header(&a2)["x5t"], x5t(&der, false).as_str());
    assert_ne!(claims(&a2)["jti"], c["jti"], "a fresh jti per request");
    // v1: aud is the v1 token URL
    env.run(&[
        "get",
        "--certificate",
        &fixture("pkcs8.pem"),
        "--v1",
        "--resource",
        "https://manage.office.com",
    ])
    .ok();
    let a3 = assertion_of(&emu.token_requests()[2]);
    assert_eq!(
        claims(&a3)["aud"],
        format!("{}/{}/oauth2/token", emu.base, fx::TENANT_ID)
    );
}

#[test]
fn x5c_for_subject_name_issuer_registrations() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    // trust by subject name + issuer, registered with another certificate of the same subject:
    // the fixture certificate's thumbprint is unknown, only x5c can identify it
    let anchor = std::fs::read_to_string(fixtures().join("sni.crt")).unwrap();
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/certificates", fx::CLIENT_ID),
        Some(json!({ "pem": anchor, "subject_name_issuer": true })),
    );
    env.run(&["get", "--certificate", &fixture("pkcs8.pem")])
        .fails(3)
        .stderr_has("AADSTS700027");
    env.set("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "1");
    env.run(&["get", "--certificate", &fixture("pkcs8.pem")]).ok();
    let h = header(&assertion_of(emu.token_requests().last().unwrap()));
    assert_eq!(
        h["x5c"][0],
        STANDARD.encode(cert_der()).as_str(),
        "standard base64 DER, leaf first"
    );
}

#[test]
fn every_format_gets_a_token() {
    let emu = Emulator::start();
    let mut env = cert_env(&emu);
    for f in ["pkcs8.pem", "pkcs1.pem", "empty.pfx", "nomac.pfx"] {
        env.run(&["get", "--certificate", &fixture(f), "--cache", "none"]).ok();
    }
    env.set("AZURE_CLIENT_CERTIFICATE_PASSWORD", PW);
    for f in [
        "enc-default.pem",
        "enc-3des.pem",
        "enc-scrypt.pem",
        "default.pfx",
        "legacy.pfx",
        "3des.pfx",
    ] {
        env.run(&["get", "--certificate", &fixture(f), "--cache", "none"]).ok();
    }
    env.unset("AZURE_CLIENT_CERTIFICATE_PASSWORD");
    let pwfile = env.write("pw.txt", format!("{PW}\n").as_bytes());
    env.set("AZURE_CLIENT_CERTIFICATE_PATH", &fixture("default.pfx"));
    env.run(&[
        "get",
        "--certificate-password-file",
        pwfile.to_str().unwrap(),
        "--cache",
        "none",
    ])
    .ok();
    env.unset("AZURE_CLIENT_CERTIFICATE_PATH");
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 11);
    assert!(reqs.iter().all(|r| r["status"] == 200), "{reqs:#?}");
    // every one signed with the fixture certificate's key and named by its thumbprint
    let s256 = x5t(&cert_der(), true);
    for r in &reqs {
        assert_eq!(header(&assertion_of(r))["x5t#S256"], s256.as_str());
    }

    // a chain (stored CA first): the leaf is found by its key, and --send-x5c (the flag) sends
    // the leaf first, then the CA
    let leaf = std::fs::read_to_string(fixtures().join("leaf.crt")).unwrap();
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/certificates", fx::CLIENT_ID),
        Some(json!({ "pem": leaf })),
    );
    let (leaf_der, ca_der) = (pem_der("leaf.crt"), pem_der("ca.crt"));
    env.set("AZURE_CLIENT_CERTIFICATE_PASSWORD", PW);
    for f in ["chain.pem", "chain.pfx"] {
        env.run(&["get", "--certificate", &fixture(f), "--send-x5c", "--cache", "none"])
            .ok();
        let r = emu.token_requests().pop().unwrap();
        assert_eq!(r["status"], 200, "{f}: {r}");
        let h = header(&assertion_of(&r));
        assert_eq!(
            h["x5t#S256"],
            x5t(&leaf_der, true).as_str(),
            "{f}: the leaf's thumbprint"
        );
        assert_eq!(
            h["x5c"],
            json!([STANDARD.encode(&leaf_der), STANDARD.encode(&ca_der)]),
            "{f}: leaf first, then the CA"
        );
    }
    assert_eq!(emu.token_requests().len(), 13);
}

#[test]
fn format_is_detected_from_content_not_extension() {
    let emu = Emulator::start();
    let mut env = cert_env(&emu);
    let pfx_as_pem = env.write("app.pem", &std::fs::read(fixtures().join("default.pfx")).unwrap());
    let pem_as_pfx = env.write("app.pfx", &std::fs::read(fixtures().join("pkcs8.pem")).unwrap());
    let bare_pfx = env.write("app-pfx", &std::fs::read(fixtures().join("default.pfx")).unwrap());
    let bare_pem = env.write("app-pem", &std::fs::read(fixtures().join("pkcs8.pem")).unwrap());
    for p in [&pem_as_pfx, &bare_pem] {
        env.run(&["get", "--certificate", p.to_str().unwrap(), "--cache", "none"])
            .ok();
    }
    env.set("AZURE_CLIENT_CERTIFICATE_PASSWORD", PW);
    for p in [&pfx_as_pem, &bare_pfx] {
        env.run(&["get", "--certificate", p.to_str().unwrap(), "--cache", "none"])
            .ok();
    }
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs.iter().all(|r| r["status"] == 200), "{reqs:#?}");
    let s256 = x5t(&cert_der(), true);
    for r in &reqs {
        assert_eq!(header(&assertion_of(r))["x5t#S256"], s256.as_str());
    }
}

#[test]
fn local_refusals_send_nothing() {
    let emu = Emulator::start();
    let mut env = cert_env(&emu);
    env.run(&["get", "--certificate", &fixture("ec.pem")])
        .fails(2)
        .stderr_has("RSA");
    env.run(&["get", "--certificate", &fixture("short.pem")])
        .fails(2)
        .stderr_has("2048");
    env.run(&["get", "--certificate", &fixture("mismatch.pem")])
        .fails(2)
        .stderr_has("mismatch.pem")
        .stderr_has("the certificate does not match the private key");
    env.run(&["get", "--certificate", &fixture("garbage.pem")])
        .fails(2)
        .stderr_has("garbage.pem")
        .stderr_has("is not a PEM, PKCS#12 (PFX) or DER certificate file");
    env.run(&["get", "--certificate", "/nonexistent/app.pem"])
        .fails(2)
        .stderr_has("/nonexistent/app.pem")
        .stderr_has("does not exist");
    // unreadable: a directory cannot be read, even by root
    let dir = env.dir.path().join("not-a-file.pem");
    std::fs::create_dir(&dir).unwrap();
    env.run(&["get", "--certificate", dir.to_str().unwrap()])
        .fails(2)
        .stderr_has(&format!("'{}' could not be read", dir.display()));
    env.run(&["get", "--certificate", &fixture("enc-default.pem")])
        .fails(2)
        .stderr_has("password");
    env.run(&["get", "--certificate", &fixture("default.pfx")])
        .fails(2)
        .stderr_has("password");
    env.run(&["get", "--certificate", &fixture("enc-pbes1.pem")])
        .fails(2)
        .stderr_has("openssl pkcs8 -topk8");
    env.run(&["get", "--certificate", &fixture("enc-trad.pem")])
        .fails(2)
        .stderr_has("openssl pkcs8 -topk8");
    env.set("AZURE_CLIENT_CERTIFICATE_PASSWORD", "wrong-password");
    for f in ["default.pfx", "enc-default.pem"] {
        let r = env.run(&["get", "--certificate", &fixture(f)]);
        r.fails(2).stderr_has(f).stderr_has("wrong password");
        assert!(
            !r.stderr.contains("wrong-password"),
            "{f}: the password is echoed: {}",
            r.stderr
        );
    }
    assert!(
        emu.token_requests().is_empty(),
        "nothing sent: {:#?}",
        emu.token_requests()
    );
}

#[test]
fn a_retried_request_carries_a_fresh_assertion() {
    let emu = Emulator::start();
    let env = cert_env(&emu);
    emu.fault(json!({"kind": "status", "status": 503, "headers": {"Retry-After": "0"}, "path": "/oauth2/"}));
    env.run(&["get", "--certificate", &fixture("pkcs8.pem"), "--cache", "none"])
        .ok();
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 2, "one retry after the 503: {reqs:#?}");
    assert_eq!(reqs[0]["status"], 503);
    assert_eq!(reqs[1]["status"], 200);
    let (first, second) = (assertion_of(&reqs[0]), assertion_of(&reqs[1]));
    assert_ne!(first, second, "the retry is not a replay of the first assertion");
    let (c1, c2) = (claims(&first), claims(&second));
    assert!(c1["jti"].is_string() && c2["jti"].is_string());
    assert_ne!(c1["jti"], c2["jti"], "a fresh jti on the retry");
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base, fx::TENANT_ID);
    assert_eq!(c1["aud"], url.as_str());
    assert_eq!(c2["aud"], url.as_str());
}

#[test]
fn an_expired_certificate_only_warns() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    // the fixture key with a certificate that was valid in 2020 only
    let key_pem = std::fs::read_to_string(fixtures().join("key8.pem")).unwrap();
    let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "entra-token-expired");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let file = env.write("expired.pem", format!("{key_pem}{}", cert.pem()).as_bytes());
    // registered (the emulator, like Entra, keeps it; it refuses to validate with it)
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/certificates", fx::CLIENT_ID),
        Some(json!({ "pem": cert.pem() })),
    );
    let r = env.run(&["get", "--certificate", file.to_str().unwrap()]);
    r.stderr_has("expired.pem")
        .stderr_has("the certificate expired on 2021-01-01")
        .stderr_has("Entra will refuse it unless a newer one is uploaded");
    assert_ne!(r.code, 2, "not a local refusal: {}", r.stderr);
    // Entra decides: AADSTS700027 (the key used is expired)
    r.fails(3).stderr_has("AADSTS700027");
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 1, "exactly one token request: {reqs:#?}");
    assert_eq!(reqs[0]["status"], 401);
    assert_eq!(
        header(&assertion_of(&reqs[0]))["x5t#S256"],
        x5t(cert.der(), true).as_str()
    );
}

fn mint(emu: &Emulator, issuer: &str, subject: &str) -> String {
    let v = emu.control(
        "POST",
        "/_emulator/federated-token",
        Some(json!({"issuer": issuer, "subject": subject, "audience": "api://AzureADTokenExchange", "lifetime": 600})),
    );
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn federated_token_file_is_read_for_every_request() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    let issuer = "https://oidc.example.test/cluster-1";
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/federated", fx::CLIENT_ID),
        Some(json!({"issuer": issuer, "subject": "system:serviceaccount:jobs:exporter", "audience": "api://AzureADTokenExchange"})),
    );
    let good = mint(&emu, issuer, "system:serviceaccount:jobs:exporter");
    let file = env.write("token", good.as_bytes());
    env.set("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap());
    env.run(&["get"]).ok();
    let sent = assertion_of(&emu.token_requests()[0]);
    assert_eq!(sent, unsigned(&good), "the file's content is the client_assertion");
    // the file rotates: the next request reads the new content (here: a subject Entra rejects)
    let other = mint(&emu, issuer, "system:serviceaccount:jobs:other");
    std::fs::write(&file, &other).unwrap();
    env.run(&["get", "--force-refresh"]).fails(3).stderr_has("AADSTS");
    assert_eq!(assertion_of(&emu.token_requests()[1]), unsigned(&other));
    let fresh = mint(&emu, issuer, "system:serviceaccount:jobs:exporter");
    std::fs::write(&file, &fresh).unwrap();
    env.run(&["get", "--force-refresh"]).ok();
    assert_eq!(assertion_of(&emu.token_requests()[2]), unsigned(&fresh));
    // the assertion is never stored
    assert_nowhere_under(&env.home(), fresh.rsplit('.').next().unwrap());
}

#[test]
fn github_actions_oidc_token() {
    let emu = Emulator::start();
    let env = Env::for_github_actions(&emu);
    let t = env.run(&["get", "--federated-github"]).ok().token();
    assert_eq!(claims(&t)["tid"], fx::TENANT_ID);
    let reqs = emu.requests();
    let oidc = reqs
        .iter()
        .find(|r| r["path"] == "/_actions/idtoken")
        .expect("the Actions OIDC endpoint was called");
    assert!(
        oidc["query"]
            .as_str()
            .unwrap()
            .contains("audience=api%3A%2F%2FAzureADTokenExchange"),
        "{oidc}"
    );
    assert_eq!(
        oidc["headers"]["authorization"],
        format!("bearer {}", redacted(fx::ACTIONS_REQUEST_TOKEN)).as_str()
    );
    let tok = reqs
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/token"))
        .unwrap();
    assert_eq!(claims(&assertion_of(tok))["sub"], fx::ACTIONS_SUBJECT);
    // without the Actions variables: exit 2 with a hint, nothing sent
    let mut e = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    e.unset("ACTIONS_ID_TOKEN_REQUEST_URL");
    e.run(&["get", "--federated-github"]).fails(2).stderr_has("id-token");
}

#[test]
fn github_actions_audience_and_a_fresh_assertion_per_request() {
    let emu = Emulator::start();
    let env = Env::for_github_actions(&emu);
    let oidc_calls = || -> Vec<Value> {
        emu.requests()
            .into_iter()
            .filter(|r| r["path"] == "/_actions/idtoken")
            .collect()
    };

    // two token requests: a new OIDC token, a new assertion each time
    env.run(&["get", "--federated-github"]).ok();
    env.run(&["get", "--federated-github", "--force-refresh"]).ok();
    assert_eq!(oidc_calls().len(), 2, "one OIDC call per token request");
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r["status"] == 200), "{reqs:#?}");
    let (a1, a2) = (assertion_of(&reqs[0]), assertion_of(&reqs[1]));
    assert_ne!(a1, a2, "a fresh assertion for the second request");
    assert_ne!(claims(&a1)["jti"], claims(&a2)["jti"]);
    // the assertions are never stored (the log keeps no signature: look for the claims)
    for a in [&a1, &a2] {
        assert_nowhere_under(&env.home(), a.split('.').nth(1).unwrap());
    }

    // another audience: asked of the OIDC endpoint, and Entra (whose federated credential
    // expects api://AzureADTokenExchange) refuses the exchange; not a local error
    let r = env.run(&[
        "get",
        "--federated-github",
        "--federated-audience",
        "api://custom-aud",
        "--force-refresh",
    ]);
    let calls = oidc_calls();
    assert_eq!(calls.len(), 3);
    let q = calls[2]["query"].as_str().unwrap();
    assert!(q.contains("audience=api%3A%2F%2Fcustom-aud"), "{q}");
    let tok = emu.token_requests().pop().unwrap();
    let a3 = assertion_of(&tok);
    assert_eq!(claims(&a3)["aud"], "api://custom-aud");
    assert_eq!(tok["status"], 401);
    r.fails(3).stderr_has("AADSTS700212");
    assert_nowhere_under(&env.home(), a3.split('.').nth(1).unwrap());
}

#[test]
fn cert_create_pfx_default_key_size_then_get() {
    let emu = Emulator::start();
    let mut env = Env::for_emulator(&emu);
    env.unset("AZURE_CLIENT_SECRET");
    let pw = env.write("pw.txt", format!("{PW}\n").as_bytes());
    let (pem, pfx) = (env.dir.path().join("a.pem"), env.dir.path().join("a.pfx"));
    let (pem_s, pfx_s, pw_s) = (pem.to_str().unwrap(), pfx.to_str().unwrap(), pw.to_str().unwrap());
    env.run(&[
        "cert",
        "create",
        "--subject",
        "CN=x",
        "--out",
        pem_s,
        "--pfx",
        pfx_s,
        "--pfx-password-file",
        pw_s,
    ])
    .ok();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [&pem, &pfx] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
    // an independent reader opens the PFX with the password
    let o = Command::new("openssl")
        .args(["pkcs12", "-in", pfx_s, "-passin", &format!("file:{pw_s}"), "-noout"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl pkcs12: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let inspect = env.run(&["cert", "inspect", pem_s, "-o", "json"]).ok().json();
    assert_eq!(inspect["keySize"], 3072, "{inspect}");
    assert_eq!(inspect["keyType"], "RSA", "{inspect}");
    let manifest = env.run(&["cert", "manifest", pem_s]).ok().json();
    emu.control(
        "POST",
        &format!("/_emulator/apps/{}/certificates", fx::CLIENT_ID),
        Some(manifest),
    );
    assert!(
        emu.token_requests().is_empty(),
        "cert create/inspect/manifest send nothing"
    );
    env.run(&["get", "--certificate", pfx_s, "--certificate-password-file", pw_s])
        .ok();
    let reqs = emu.token_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["status"], 200);
    assert_eq!(
        header(&assertion_of(&reqs[0]))["x5t#S256"],
        inspect["x5t#S256"],
        "signed with the created certificate's key"
    );
}

#[test]
fn cert_inspect_matches_openssl() {
    let env = Env::new();
    let v = env
        .run(&["cert", "inspect", &fixture("cert.pem"), "-o", "json"])
        .ok()
        .json();
    let o = Command::new("openssl")
        .args(["x509", "-in", &fixture("cert.pem"), "-noout", "-fingerprint", "-sha1"])
        .output()
        .unwrap();
    let fp = String::from_utf8(o.stdout)
        .unwrap()
        .trim()
        .split('=')
        .nth(1)
        .unwrap()
        .replace(':', "");
    assert!(
        v.to_string().contains(&fp),
        "SHA-1 thumbprint in upper-case hex as the portal shows it: {v}"
    );
    assert!(v.to_string().contains(&x5t(&cert_der(), false)));
    let text = env.run(&["cert", "inspect", &fixture("cert.pem")]).ok().stdout.clone();
    assert!(text.contains("entra-token-test") && text.contains("2048"), "{text}");
}
