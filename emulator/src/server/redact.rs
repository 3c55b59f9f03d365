//! What the emulator's request log keeps of secrets: the log is served by an unauthenticated
//! local API, so client secrets, assertions, codes, verifiers, passwords, tokens and credential
//! headers are replaced before an entry is stored. A JWT keeps its header and claims (tests
//! check them) and loses its signature, so nothing in the log can be replayed; any other secret
//! becomes `[redacted N chars sha256:<16 hex>]`, enough to tell values apart and to check a
//! known value, never to recover one; a password becomes `[redacted]`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// Form and query fields whose values are secrets.
pub(crate) const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "assertion",
    "code",
    "code_verifier",
    "refresh_token",
    "device_code",
    "password",
    "access_token",
    "id_token",
    "subject_token",
    "actor_token",
    "token",
];

/// Fields whose values may be guessable: not even a fingerprint is kept.
const PASSWORD_FIELDS: &[&str] = &["password"];

/// Headers whose values are credentials.
pub(crate) const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-identity-header",
    "secret",
    "metadata-token",
];

fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// `[redacted N chars sha256:<first 16 hex digits>]`.
pub(crate) fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("[redacted {} chars sha256:{hex}]", value.chars().count())
}

/// A JWT (`header.claims.signature`, the header a JSON object with `alg`) keeps its header and
/// claims; its signature becomes `[redacted]`.
fn strip_signature(value: &str) -> Option<String> {
    let mut parts = value.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || s.is_empty() {
        return None;
    }
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    header.get("alg")?;
    URL_SAFE_NO_PAD.decode(c).ok()?;
    Some(format!("{h}.{c}.[redacted]"))
}

/// The logged form of a secret value.
pub(crate) fn secret(value: &str) -> String {
    strip_signature(value).unwrap_or_else(|| fingerprint(value))
}

fn field_value(name: &str, value: &str) -> String {
    if PASSWORD_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name)) {
        "[redacted]".to_string()
    } else {
        secret(value)
    }
}

/// A parsed form with secret fields redacted.
pub(crate) fn form(fields: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_field(k) {
                field_value(k, v)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

/// JSON members whose string values are secrets wherever they appear in a JSON body (the
/// Management Activity API's webhook `authId` as well as the form fields above).
const SECRET_MEMBERS: &[&str] = &["authId"];

/// A JSON body with the string values of secret members redacted (at any depth); any other body
/// is returned unchanged.
pub(crate) fn json_body(raw: &str) -> String {
    fn walk(v: &mut serde_json::Value) -> bool {
        let mut changed = false;
        match v {
            serde_json::Value::Object(map) => {
                for (k, member) in map.iter_mut() {
                    let secret = is_secret_field(k) || SECRET_MEMBERS.iter().any(|m| m.eq_ignore_ascii_case(k));
                    match member {
                        serde_json::Value::String(s) if secret => {
                            *s = field_value(k, s);
                            changed = true;
                        }
                        other => changed |= walk(other),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    changed |= walk(item);
                }
            }
            _ => {}
        }
        changed
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(mut v) => {
            if walk(&mut v) {
                v.to_string()
            } else {
                raw.to_string()
            }
        }
        Err(_) => raw.to_string(),
    }
}

/// A URL-encoded form body or query string with secret fields redacted; returned unchanged
/// (byte for byte) when it has none.
pub(crate) fn urlencoded(raw: &str) -> String {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    if !pairs.iter().any(|(k, _)| is_secret_field(k)) {
        return raw.to_string();
    }
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        if is_secret_field(k) {
            out.append_pair(k, &field_value(k, v));
        } else {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

/// A credential header: the scheme is kept (`Bearer`, `Basic`), the credential redacted.
fn header_value(value: &str) -> String {
    match value.trim().split_once(' ') {
        Some((scheme, credential))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            format!("{scheme} {}", secret(credential.trim()))
        }
        _ => secret(value.trim()),
    }
}

/// Lower-case header names to values, with credential headers redacted.
pub(crate) fn headers(h: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    h.iter()
        .map(|(k, v)| {
            let v = if SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                header_value(v)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJlLWJ5dGVz",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn secrets_become_fingerprints_that_tell_values_apart() {
        let a = secret("Emu~lat.or_Secret-1+/=%&value");
        assert_eq!(a, fingerprint("Emu~lat.or_Secret-1+/=%&value"));
        assert!(a.starts_with("[redacted 29 chars sha256:") && a.ends_with(']'), "{a}");
        assert!(!a.contains("Secret"));
        assert_ne!(secret("code-one"), secret("code-two"));
        assert_eq!(secret("code-one"), secret("code-one"));
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(fingerprint("abc"), "[redacted 3 chars sha256:ba7816bf8f01cfea]");
    }

    #[test]
    fn a_jwt_keeps_header_and_claims_but_not_its_signature() {
        let t = jwt(r#"{"sub":"x","tid":"t"}"#);
        let r = secret(&t);
        let (head, tail) = r.rsplit_once('.').unwrap();
        assert_eq!(tail, "[redacted]");
        assert_eq!(head, t.rsplit_once('.').unwrap().0);
        assert!(!r.contains("c2lnbmF0dXJlLWJ5dGVz"));
        // three dots of something else is not a JWT
        assert!(secret("a.b.c").starts_with("[redacted 5 chars"));
    }

    #[test]
    fn forms_bodies_and_queries() {
        let mut f = BTreeMap::new();
        for (k, v) in [
            ("grant_type", "authorization_code"),
            ("client_id", "app"),
            ("client_secret", "s3cret"),
            ("code", "the-code"),
            ("code_verifier", "v".repeat(43).as_str()),
            ("refresh_token", "rt"),
            ("device_code", "dc"),
            ("password", "hunter2"),
            ("scope", "openid"),
        ] {
            f.insert(k.to_string(), v.to_string());
        }
        let r = form(&f);
        assert_eq!(r["grant_type"], "authorization_code");
        assert_eq!(r["client_id"], "app");
        assert_eq!(r["scope"], "openid");
        assert_eq!(r["client_secret"], fingerprint("s3cret"));
        assert_eq!(r["code"], fingerprint("the-code"));
        assert!(r["code_verifier"].starts_with("[redacted 43 chars"));
        assert_eq!(r["password"], "[redacted]");
        for v in r.values() {
            for s in ["s3cret", "the-code", "hunter2", "vvvv"] {
                assert!(!v.contains(s), "{v}");
            }
        }
        let body = "grant_type=client_credentials&client_id=app&client_secret=a%2Bb%26c&scope=x";
        let red = urlencoded(body);
        assert!(!red.contains("a%2Bb"), "{red}");
        let back: BTreeMap<String, String> = url::form_urlencoded::parse(red.as_bytes()).into_owned().collect();
        assert_eq!(back["client_secret"], fingerprint("a+b&c"));
        assert_eq!(back["client_id"], "app");
        let plain = "$top=100&$count=true";
        assert_eq!(urlencoded(plain), plain, "nothing secret: unchanged byte for byte");
        assert_eq!(urlencoded(""), "");
    }

    #[test]
    fn json_bodies_lose_secret_members_at_any_depth() {
        let body =
            r#"{"webhook":{"address":"https://h.example/x","authId":"hook-s3cret"},"n":[{"client_secret":"s"}]}"#;
        let out: serde_json::Value = serde_json::from_str(&json_body(body)).unwrap();
        assert_eq!(out["webhook"]["authId"], fingerprint("hook-s3cret"));
        assert_eq!(out["webhook"]["address"], "https://h.example/x");
        assert_eq!(out["n"][0]["client_secret"], fingerprint("s"));
        assert_eq!(json_body(r#"{"a":1}"#), r#"{"a":1}"#, "unchanged without secrets");
        assert_eq!(json_body("not json authId"), "not json authId");
    }

    #[test]
    fn credential_headers_keep_their_scheme() {
        let mut h = BTreeMap::new();
        let token = jwt(r#"{"aud":"https://graph.microsoft.com"}"#);
        h.insert("authorization".to_string(), format!("Bearer {token}"));
        h.insert("proxy-authorization".to_string(), "Basic dXNlcjpwYXNz".to_string());
        h.insert("x-identity-header".to_string(), "abc123".to_string());
        h.insert("consistencylevel".to_string(), "eventual".to_string());
        let r = headers(&h);
        assert_eq!(r["authorization"], format!("Bearer {}", secret(&token)));
        assert!(r["authorization"].ends_with(".[redacted]"));
        assert_eq!(
            r["proxy-authorization"],
            format!("Basic {}", fingerprint("dXNlcjpwYXNz"))
        );
        assert_eq!(r["x-identity-header"], fingerprint("abc123"));
        assert_eq!(r["consistencylevel"], "eventual");
    }
}
