//! Reading (never verifying) JWTs: the header and claims of a token, for `decode`, `-o json`'s
//! `tenant`, and a token's `exp` when a reply has no lifetime.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

pub(crate) struct Decoded {
    pub(crate) header: Value,
    pub(crate) claims: Value,
}

/// Decodes a compact JWS; `None` if it is not three base64url parts with JSON header and claims.
pub(crate) fn decode(token: &str) -> Option<Decoded> {
    let mut parts = token.trim().split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || s.contains(char::is_whitespace) {
        return None;
    }
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok()?).ok()?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok()?).ok()?;
    if !header_is_object(&header) || !claims.is_object() {
        return None;
    }
    Some(Decoded { header, claims })
}

fn header_is_object(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.contains_key("alg") || o.contains_key("typ"))
}

/// A claim that is a number or a numeric string (v1 tokens have both forms in the wild).
pub(crate) fn claim_i64(claims: &Value, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

pub(crate) fn claim_str<'a>(claims: &'a Value, name: &str) -> Option<&'a str> {
    claims.get(name)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let c = URL_SAFE_NO_PAD.encode(br#"{"tid":"t","exp":"12"}"#);
        let d = decode(&format!("{h}.{c}.sig")).unwrap();
        assert_eq!(claim_str(&d.claims, "tid"), Some("t"));
        assert_eq!(claim_i64(&d.claims, "exp"), Some(12));
        assert!(decode("abc").is_none());
        assert!(decode(&format!("{h}.notjson.sig")).is_none());
    }
}
