//! Client assertion validation (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`)
//! as Entra does it: certificate-signed assertions (thumbprint `x5t`/`x5t#S256`, or `x5c` for
//! subject-name/issuer registrations) and federated tokens matched against the app's federated
//! identity credentials. Pure apart from the `jti` replay memory passed in.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::aadsts::{self, AadError};
use crate::clock::us_datetime;
use crate::credentials::{self, CertCredential, CertInfo, hex_upper};
use crate::directory::{App, Tenant};
use crate::signer::{Signer, verify_rsa};

/// Clock skew tolerated on `exp`/`nbf`, in seconds.
pub(crate) const LEEWAY: u64 = 300;

/// How a valid assertion authenticated the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AssertionKind {
    /// Signed by a registered certificate (key id of the registration).
    Certificate(String),
    /// A federated token matching a federated credential (its id).
    Federated(String),
}

/// What the validator needs to know about the request.
pub(crate) struct AssertionContext<'a> {
    /// `scheme://host[:port]` of the token request as the client addressed it.
    pub(crate) origin: &'a str,
    /// The tenant of the token request.
    pub(crate) tenant: &'a Tenant,
    /// Seconds since the Unix epoch.
    pub(crate) now: u64,
    /// The emulator's base URL: issuers under it are the emulator's own and must verify.
    pub(crate) base_url: &'a str,
    /// The emulator's signing key.
    pub(crate) signer: &'a Signer,
}

/// A JWT split into its parts.
struct Jwt<'t> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// `header.payload`, the signed bytes.
    message: &'t str,
    signature: &'t str,
}

fn b64_json(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn parse_jwt(token: &str) -> Option<Jwt<'_>> {
    let token = token.trim();
    let (message, signature) = token.rsplit_once('.')?;
    let (h, c) = message.split_once('.')?;
    if signature.contains('.') || c.contains('.') {
        return None;
    }
    Some(Jwt {
        header: b64_json(h)?,
        claims: b64_json(c)?,
        message,
        signature,
    })
}

fn str_claim<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// A numeric date claim (integer or float seconds); negative or non-numeric values are absent.
fn time_claim(m: &Map<String, Value>, k: &str) -> Option<u64> {
    let v = m.get(k)?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
}

/// `aud` as one string for messages (first element of an array).
fn aud_text(claims: &Map<String, Value>) -> String {
    match claims.get("aud") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        _ => String::new(),
    }
}

fn aud_values(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Validates a client assertion for `app`. `seen_jti` remembers redeemed certificate
/// assertions (`"{client_id}|{jti}"` → the time until which a replay is refused).
pub(crate) fn validate(
    app: &App,
    assertion: &str,
    ctx: &AssertionContext<'_>,
    seen_jti: &mut HashMap<String, u64>,
) -> Result<AssertionKind, AadError> {
    let jwt = parse_jwt(assertion).ok_or_else(|| aadsts::invalid_jwt("JWT token is invalid or malformed."))?;
    let iss = str_claim(&jwt.claims, "iss").unwrap_or("");
    let sub = str_claim(&jwt.claims, "sub").unwrap_or("");
    let is_self = |s: &str| s.eq_ignore_ascii_case(&app.client_id);
    let thumbprint_match = find_by_thumbprint(app, &jwt.header).is_some();
    // An assertion names the app itself (iss/sub = client id) or is signed by one of its
    // certificates: a certificate assertion. Anything else, when the app has federated
    // credentials, is an external token to match against them.
    if is_self(iss) || is_self(sub) || thumbprint_match || app.federated.is_empty() {
        validate_certificate(app, &jwt, ctx, seen_jti)
    } else {
        validate_federated(app, &jwt, ctx)
    }
}

/// The thumbprint the client sent, upper-case hex of the decoded bytes (what Entra echoes).
fn sent_thumbprint(header: &Map<String, Value>) -> Option<String> {
    let t = str_claim(header, "x5t#S256").or_else(|| str_claim(header, "x5t"))?;
    Some(match URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')) {
        Ok(b) => hex_upper(&b),
        Err(_) => t.to_string(),
    })
}

/// A registered (non-SNI or SNI) certificate whose digest is in `x5t#S256` or `x5t`.
fn find_by_thumbprint<'a>(app: &'a App, header: &Map<String, Value>) -> Option<&'a CertCredential> {
    let decode = |k: &str| str_claim(header, k).and_then(|t| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok());
    if let Some(d) = decode("x5t#S256")
        && let Some(c) = app.certificates.iter().find(|c| c.info.sha256 == d)
    {
        return Some(c);
    }
    let d = decode("x5t")?;
    app.certificates.iter().find(|c| c.info.sha1 == d)
}

fn found_key(info: &CertInfo) -> String {
    format!(
        "Start={}, End={}",
        us_datetime(info.not_before),
        us_datetime(info.not_after)
    )
}

fn validate_certificate(
    app: &App,
    jwt: &Jwt<'_>,
    ctx: &AssertionContext<'_>,
    seen_jti: &mut HashMap<String, u64>,
) -> Result<AssertionKind, AadError> {
    let alg = match str_claim(&jwt.header, "alg") {
        Some("PS256") => Algorithm::PS256,
        Some("RS256") => Algorithm::RS256,
        other => {
            return Err(aadsts::invalid_jwt(&format!(
                "Unsupported signing algorithm '{}'; use PS256 or RS256.",
                other.unwrap_or("")
            )));
        }
    };
    let x5c_leaf = match jwt.header.get("x5c") {
        None | Some(Value::Null) => None,
        Some(Value::Array(chain)) => {
            let first = chain
                .first()
                .and_then(Value::as_str)
                .and_then(credentials::decode_b64_loose)
                .ok_or_else(|| aadsts::invalid_jwt("The x5c header is not an array of base64 DER certificates."))?;
            Some(
                credentials::parse_cert_der(&first)
                    .map_err(|e| aadsts::invalid_jwt(&format!("The first x5c certificate is unusable: {e}.")))?,
            )
        }
        Some(_) => return Err(aadsts::invalid_jwt("The x5c header must be an array.")),
    };
    let thumb = sent_thumbprint(&jwt.header);
    // Key lookup: thumbprint first, then subject name + issuer with the x5c leaf.
    let (key_id, info): (String, CertInfo) = if let Some(c) = find_by_thumbprint(app, &jwt.header) {
        (c.key_id.clone(), c.info.clone())
    } else if let Some(leaf) = &x5c_leaf {
        match app
            .certificates
            .iter()
            .find(|c| c.subject_name_issuer && c.info.subject == leaf.subject)
        {
            Some(c) => (c.key_id.clone(), leaf.clone()),
            None => {
                let shown = thumb.clone().unwrap_or_else(|| hex_upper(&leaf.sha1));
                return Err(aadsts::assertion_key_not_found(&app.client_id, &shown, false));
            }
        }
    } else if let Some(t) = &thumb {
        return Err(aadsts::assertion_key_not_found(&app.client_id, t, true));
    } else {
        return Err(aadsts::invalid_jwt(
            "No certificate thumbprint specified in token header.",
        ));
    };
    let shown = thumb.unwrap_or_else(|| hex_upper(&info.sha1));
    if info.key_bits < 2048 {
        return Err(aadsts::weak_rsa_key(info.key_bits));
    }
    let now = ctx.now as i64;
    if info.not_after < now || info.not_before > now {
        return Err(aadsts::assertion_bad_signature(
            "The key used is expired.",
            &shown,
            &found_key(&info),
        ));
    }
    if !verify_rsa(jwt.message, jwt.signature, alg, &info.public_key) {
        return Err(aadsts::assertion_bad_signature(
            "The provided signature value did not match the expected signature value.",
            &shown,
            &found_key(&info),
        ));
    }
    let iss = str_claim(&jwt.claims, "iss").unwrap_or("");
    let sub = str_claim(&jwt.claims, "sub").unwrap_or("");
    if iss != sub {
        return Err(aadsts::assertion_subject_mismatch());
    }
    if !iss.eq_ignore_ascii_case(&app.client_id) {
        return Err(aadsts::assertion_wrong_client());
    }
    if !aud_values(&jwt.claims)
        .iter()
        .any(|a| audience_matches(a, ctx.origin, ctx.tenant))
    {
        return Err(aadsts::assertion_wrong_audience());
    }
    let exp = check_time(&jwt.claims, ctx.now)?;
    if let Some(jti) = str_claim(&jwt.claims, "jti") {
        let key = format!("{}|{jti}", app.client_id.to_ascii_lowercase());
        seen_jti.retain(|_, until| *until >= ctx.now);
        if seen_jti.contains_key(&key) {
            return Err(aadsts::assertion_replayed(jti));
        }
        seen_jti.insert(key, exp.saturating_add(LEEWAY));
    }
    Ok(AssertionKind::Certificate(key_id))
}

/// `exp` present and not passed, `nbf` (absent = the epoch) not in the future, both with
/// [`LEEWAY`]. Returns `exp`.
fn check_time(claims: &Map<String, Value>, now: u64) -> Result<u64, AadError> {
    let nbf = time_claim(claims, "nbf").unwrap_or(0);
    let Some(exp) = time_claim(claims, "exp") else {
        return Err(aadsts::assertion_time_range(now, nbf, 0));
    };
    if exp.saturating_add(LEEWAY) < now || nbf > now.saturating_add(LEEWAY) {
        return Err(aadsts::assertion_time_range(now, nbf, exp));
    }
    Ok(exp)
}

/// `aud` must be the v1 or v2 token URL at the request's scheme, host and port, with a tenant
/// segment naming the request's tenant (GUID or one of its domains).
pub(crate) fn audience_matches(aud: &str, origin: &str, tenant: &Tenant) -> bool {
    let (Ok(a), Ok(o)) = (url::Url::parse(aud), url::Url::parse(origin)) else {
        return false;
    };
    if a.scheme() != o.scheme()
        || a.host_str().map(str::to_ascii_lowercase) != o.host_str().map(str::to_ascii_lowercase)
        || a.port_or_known_default() != o.port_or_known_default()
        || a.query().is_some()
        || a.fragment().is_some()
        || !a.username().is_empty()
    {
        return false;
    }
    let path = a.path();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let seg = match segs.as_slice() {
        [t, "oauth2", "token"] | [t, "oauth2", "v2.0", "token"] => *t,
        _ => return false,
    };
    let seg = seg.to_ascii_lowercase();
    seg == tenant.id || tenant.domains.contains(&seg)
}

fn validate_federated(app: &App, jwt: &Jwt<'_>, ctx: &AssertionContext<'_>) -> Result<AssertionKind, AadError> {
    let iss = str_claim(&jwt.claims, "iss").unwrap_or("");
    let sub = str_claim(&jwt.claims, "sub").unwrap_or("");
    // The emulator cannot fetch a real issuer's JWKS offline, so tokens from other issuers are
    // accepted WITHOUT signature verification (it is a test double). Tokens from the emulator's
    // own issuers, or that claim its signing key, must verify.
    let own_issuer = iss.starts_with(ctx.base_url);
    let claims_our_key = str_claim(&jwt.header, "kid") == Some(ctx.signer.thumbprint.as_str())
        || str_claim(&jwt.header, "x5t") == Some(ctx.signer.thumbprint.as_str());
    if (own_issuer || claims_our_key) && !ctx.signer.verify(jwt.message, jwt.signature) {
        return Err(aadsts::federated_bad_signature(iss));
    }
    check_time(&jwt.claims, ctx.now)?;
    let auds = aud_values(&jwt.claims);
    let by_issuer: Vec<_> = app.federated.iter().filter(|f| f.issuer == iss).collect();
    if by_issuer.is_empty() {
        return Err(aadsts::federated_no_match(iss, sub, &aud_text(&jwt.claims)));
    }
    let by_subject: Vec<_> = by_issuer.iter().filter(|f| f.subject == sub).collect();
    if by_subject.is_empty() {
        let case_only = by_issuer.iter().any(|f| f.subject.eq_ignore_ascii_case(sub));
        return Err(aadsts::federated_subject_mismatch(sub, case_only));
    }
    by_subject
        .iter()
        .find(|f| f.audiences.iter().any(|a| auds.contains(&a.as_str())))
        .map(|f| AssertionKind::Federated(f.id.clone()))
        .ok_or_else(|| aadsts::federated_audience_mismatch(&aud_text(&jwt.claims)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::tests::make_cert;
    use crate::credentials::{CertCredential, FederatedCredential, parse_cert_der};
    use crate::directory::Directory;
    use crate::fixtures as fx;
    use serde_json::json;
    use sha1::{Digest as _, Sha1};
    use sha2::Sha256;
    use std::sync::OnceLock;

    const NOW: u64 = 1_900_000_000;
    const ORIGIN: &str = "http://127.0.0.1:8400";

    struct Fixture {
        der: Vec<u8>,
        key: jsonwebtoken::EncodingKey,
        signer: Signer,
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let (der, pkcs8) = make_cert("entra-token test client", 2048);
            let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8.as_slice()).unwrap();
            Fixture {
                der,
                key: jsonwebtoken::EncodingKey::from_rsa_der(info.private_key.as_bytes()),
                signer: Signer::generate().unwrap(),
            }
        })
    }

    fn app(sni: bool) -> App {
        let d = Directory::fixture("http://127.0.0.1:8400");
        let mut app = d.app(fx::CLIENT_ID).unwrap().clone();
        let mut info = parse_cert_der(&fixture().der).unwrap();
        // Keep the test independent of the real clock: the cert is valid around NOW.
        info.not_before = 0;
        info.not_after = i64::MAX / 2;
        app.certificates.push(CertCredential {
            key_id: "k1".into(),
            info,
            subject_name_issuer: sni,
        });
        app
    }

    fn tenant() -> Tenant {
        Directory::fixture(ORIGIN).tenants[0].clone()
    }

    fn token_url() -> String {
        format!("{ORIGIN}/{}/oauth2/v2.0/token", fx::TENANT_ID)
    }

    fn claims() -> Value {
        json!({"iss": fx::CLIENT_ID, "sub": fx::CLIENT_ID, "aud": token_url(), "jti": uuid::Uuid::new_v4().to_string(),
               "iat": NOW, "nbf": NOW, "exp": NOW + 600})
    }

    fn sign(alg: Algorithm, header_extra: Value, claims: &Value) -> String {
        let mut h = json!({"alg": format!("{alg:?}"), "typ": "JWT"});
        for (k, v) in header_extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let message = format!("{}.{}", enc(&h), enc(claims));
        let sig = match alg {
            Algorithm::HS256 => "c2ln".to_string(),
            _ => jsonwebtoken::crypto::sign(message.as_bytes(), &fixture().key, alg).unwrap(),
        };
        format!("{message}.{sig}")
    }

    fn s256() -> Value {
        json!({"x5t#S256": URL_SAFE_NO_PAD.encode(Sha256::digest(&fixture().der))})
    }

    fn run(app: &App, token: &str, seen: &mut HashMap<String, u64>) -> Result<AssertionKind, AadError> {
        let t = tenant();
        let ctx = AssertionContext {
            origin: ORIGIN,
            tenant: &t,
            now: NOW,
            base_url: ORIGIN,
            signer: &fixture().signer,
        };
        validate(app, token, &ctx, seen)
    }

    fn code(r: Result<AssertionKind, AadError>) -> u32 {
        r.expect_err("expected an error").code
    }

    #[test]
    fn ps256_and_rs256_accepted_and_replay_refused() {
        let a = app(false);
        let mut seen = HashMap::new();
        let c = claims();
        let t = sign(Algorithm::PS256, s256(), &c);
        assert_eq!(run(&a, &t, &mut seen).unwrap(), AssertionKind::Certificate("k1".into()));
        assert_eq!(code(run(&a, &t, &mut seen)), 50013);
        let x5t = json!({"x5t": URL_SAFE_NO_PAD.encode(Sha1::digest(&fixture().der))});
        let t = sign(Algorithm::RS256, x5t, &claims());
        assert!(run(&a, &t, &mut seen).is_ok());
        // v1 URL and domain tenant segment are fine too.
        let mut c = claims();
        c["aud"] = json!(format!("{ORIGIN}/contoso.onmicrosoft.com/oauth2/token"));
        assert!(run(&a, &sign(Algorithm::PS256, s256(), &c), &mut seen).is_ok());
    }

    #[test]
    fn certificate_errors() {
        let a = app(false);
        let mut seen = HashMap::new();
        let bad = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            c
        };
        let mut s = seen.clone();
        let mut go = |t: String| code(run(&a, &t, &mut s));
        assert_eq!(go("garbage".into()), 50027);
        assert_eq!(go(sign(Algorithm::PS256, json!({}), &claims())), 50027);
        assert_eq!(
            go(sign(Algorithm::PS256, json!({"x5t#S256": "AAAA"}), &claims())),
            700027
        );
        // SHA-1 in x5t#S256 is a mix the emulator cannot resolve.
        let sha1_in_s256 = json!({"x5t#S256": URL_SAFE_NO_PAD.encode(Sha1::digest(&fixture().der))});
        assert_eq!(go(sign(Algorithm::PS256, sha1_in_s256, &claims())), 700027);
        assert_eq!(go(sign(Algorithm::HS256, s256(), &claims())), 50027);
        let t = sign(Algorithm::PS256, s256(), &claims());
        let tampered = format!("{}x", &t[..t.len() - 1]);
        assert_eq!(go(tampered), 700027);
        assert_eq!(go(sign(Algorithm::PS256, s256(), &bad("sub", json!("other")))), 50048);
        let other = "11111111-2222-4333-8444-555555555555";
        let both = {
            let mut c = claims();
            c["iss"] = json!(other);
            c["sub"] = json!(other);
            c
        };
        assert_eq!(go(sign(Algorithm::PS256, s256(), &both)), 700021);
        let wrong_host = format!("http://localhost:8400/{}/oauth2/v2.0/token", fx::TENANT_ID);
        assert_eq!(
            go(sign(Algorithm::PS256, s256(), &bad("aud", json!(wrong_host)))),
            700023
        );
        let common = format!("{ORIGIN}/common/oauth2/v2.0/token");
        assert_eq!(go(sign(Algorithm::PS256, s256(), &bad("aud", json!(common)))), 700023);
        let other_tenant = format!("{ORIGIN}/{}/oauth2/v2.0/token", fx::OTHER_TENANT_ID);
        assert_eq!(
            go(sign(Algorithm::PS256, s256(), &bad("aud", json!(other_tenant)))),
            700023
        );
        assert_eq!(
            go(sign(Algorithm::PS256, s256(), &bad("exp", json!(NOW - 301)))),
            700024
        );
        assert_eq!(
            go(sign(Algorithm::PS256, s256(), &bad("nbf", json!(NOW + 301)))),
            700024
        );
        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(go(sign(Algorithm::PS256, s256(), &no_exp)), 700024);
        // Within the leeway is fine.
        assert!(
            run(
                &a,
                &sign(Algorithm::PS256, s256(), &bad("exp", json!(NOW - 299))),
                &mut seen
            )
            .is_ok()
        );
    }

    #[test]
    fn weak_and_expired_keys() {
        let mut a = app(false);
        a.certificates[0].info.key_bits = 1024;
        let mut seen = HashMap::new();
        assert_eq!(
            code(run(&a, &sign(Algorithm::PS256, s256(), &claims()), &mut seen)),
            50032
        );
        let mut a = app(false);
        a.certificates[0].info.not_after = (NOW - 10) as i64;
        let e = run(&a, &sign(Algorithm::PS256, s256(), &claims()), &mut seen).unwrap_err();
        assert_eq!(e.code, 700027);
        assert!(e.message.contains("expired"));
    }

    #[test]
    fn subject_name_issuer() {
        use base64::engine::general_purpose::STANDARD;
        let x5c = json!({"x5c": [STANDARD.encode(&fixture().der)]});
        let mut seen = HashMap::new();
        // Not an SNI registration: x5c alone does not find the key.
        let mut plain = app(false);
        plain.certificates[0].info.sha1 = vec![0; 20];
        plain.certificates[0].info.sha256 = vec![0; 32];
        assert_eq!(
            code(run(&plain, &sign(Algorithm::PS256, x5c.clone(), &claims()), &mut seen)),
            700027
        );
        // An SNI registration with another certificate of the same subject.
        let mut sni = plain.clone();
        sni.certificates[0].subject_name_issuer = true;
        sni.certificates[0].info.public_key = vec![1, 2, 3];
        assert!(run(&sni, &sign(Algorithm::PS256, x5c.clone(), &claims()), &mut seen).is_ok());
        sni.certificates[0].info.subject = "CN=someone else".into();
        assert_eq!(
            code(run(&sni, &sign(Algorithm::PS256, x5c, &claims()), &mut seen)),
            700027
        );
    }

    #[test]
    fn federated_matching() {
        let mut a = app(false);
        a.federated.push(FederatedCredential {
            id: "f1".into(),
            name: "gh".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:contoso/app:ref:refs/heads/main".into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
        });
        let ext = |iss: &str, sub: &str, aud: &str, exp: u64| {
            let c = json!({"iss": iss, "sub": sub, "aud": aud, "exp": exp, "nbf": NOW - 10});
            // Signed by a key the emulator does not know: accepted for foreign issuers.
            sign(Algorithm::RS256, json!({"kid": "abc"}), &c)
        };
        let gh = "https://token.actions.githubusercontent.com";
        let sub = "repo:contoso/app:ref:refs/heads/main";
        let aud = "api://AzureADTokenExchange";
        let mut seen = HashMap::new();
        assert_eq!(
            run(&a, &ext(gh, sub, aud, NOW + 60), &mut seen).unwrap(),
            AssertionKind::Federated("f1".into())
        );
        // Replays of federated tokens are fine (a CI job reuses its token).
        assert!(run(&a, &ext(gh, sub, aud, NOW + 60), &mut seen).is_ok());
        assert_eq!(
            code(run(&a, &ext("https://other", sub, aud, NOW + 60), &mut seen)),
            70021
        );
        assert_eq!(
            code(run(
                &a,
                &ext(gh, "repo:contoso/app:ref:refs/heads/dev", aud, NOW + 60),
                &mut seen
            )),
            700213
        );
        assert_eq!(
            code(run(
                &a,
                &ext(gh, "repo:Contoso/app:ref:refs/heads/main", aud, NOW + 60),
                &mut seen
            )),
            7002138
        );
        assert_eq!(code(run(&a, &ext(gh, sub, "api://other", NOW + 60), &mut seen)), 700212);
        assert_eq!(code(run(&a, &ext(gh, sub, aud, NOW - 400), &mut seen)), 700024);
        // The emulator's own issuer must carry a valid signature.
        let own = format!("{ORIGIN}/_actions");
        a.federated[0].issuer = own.clone();
        assert_eq!(code(run(&a, &ext(&own, sub, aud, NOW + 60), &mut seen)), 50027);
    }

    #[test]
    fn audience_rules() {
        let t = tenant();
        let ok = |a: &str| audience_matches(a, ORIGIN, &t);
        assert!(ok(&format!("{ORIGIN}/{}/oauth2/v2.0/token", fx::TENANT_ID)));
        assert!(ok(&format!("{ORIGIN}/CONTOSO.COM/oauth2/token")));
        assert!(ok("HTTP://127.0.0.1:8400/contoso.onmicrosoft.com/oauth2/token"));
        assert!(!ok(&format!("{ORIGIN}/{}/oauth2/v2.0/token?x=1", fx::TENANT_ID)));
        assert!(!ok(&format!("{ORIGIN}/{}/v2.0", fx::TENANT_ID)));
        assert!(!ok(&format!("https://127.0.0.1:8400/{}/oauth2/token", fx::TENANT_ID)));
        assert!(!ok(&format!("http://127.0.0.1:8401/{}/oauth2/token", fx::TENANT_ID)));
        assert!(!ok("not a url"));
    }
}
