//! Token replies: v1 (numbers as strings) and v2 (integers); [`parse_reply`] turns any reply from
//! a token endpoint into a token, an Entra error (exit 3) or a protocol failure (exit 4); and what
//! a reply's tokens say about who they are for (tenant, signed-in account, nonce).

use crate::error::{Error, Result};
use crate::log;
use crate::protocol::entra_error::EntraError;
use crate::protocol::jwt;
use crate::secret::Secret;
use serde_json::Value;

#[derive(Debug)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: Secret<String>,
    pub(crate) token_type: String,
    /// Absolute expiry, epoch seconds.
    pub(crate) expires_on: i64,
    /// Absolute time after which a refresh is advised (`refresh_in`), epoch seconds.
    pub(crate) refresh_on: Option<i64>,
    pub(crate) refresh_token: Option<Secret<String>>,
    pub(crate) id_token: Option<Secret<String>>,
    pub(crate) scope: Option<String>,
    pub(crate) resource: Option<String>,
}

/// A number or a numeric string (v1 sends `"3599"`, v2 sends `3599`).
pub(crate) fn int_field(obj: &Value, name: &str) -> Option<i64> {
    let v = obj.get(name)?;
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .or_else(|| v.as_str()?.trim().parse().ok())
}

/// The longest lifetime a token reply may claim (a larger one is a broken or hostile reply).
pub(crate) const MAX_LIFETIME: i64 = 10 * 365 * 86_400;

/// A token is printed into shell (`-o env`) and header (`-o header`) text: only visible ASCII
/// without quotes or backslashes, as every Entra token (JWT or opaque) is.
pub(crate) fn is_safe_token(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'\'' | b'"' | b'\\' | b'`' | b'$'))
}

/// A lifetime field (`expires_in`, `refresh_in`): absent → `Ok(None)`; present but not a number
/// of seconds between 0 and [`MAX_LIFETIME`] → `Err`.
fn lifetime(v: &Value, name: &str) -> Result<Option<i64>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => match int_field(v, name) {
            Some(n) if (0..=MAX_LIFETIME).contains(&n) => Ok(Some(n)),
            _ => Err(format!("its {name} is not a plausible number of seconds")),
        },
    }
}

impl TokenResponse {
    /// A token reply, or why this JSON is not a usable one.
    pub(crate) fn from_json(v: &Value, now: i64) -> Result<TokenResponse, String> {
        let Some(at) = v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
            let keys = v
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "not an object".into());
            return Err(format!("it has no access_token (members: {keys})"));
        };
        if !is_safe_token(at) {
            return Err("its access_token has characters no token has (spaces, quotes or control characters)".into());
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let expires_in = lifetime(v, "expires_in")?;
        let refresh_in = lifetime(v, "refresh_in")?;
        // a stated expiry in the past wins over any expires_in: the token is dead on arrival
        if let Some(e) = int_field(v, "expires_on").filter(|e| *e > 1_000_000_000)
            && e <= now
        {
            return Err(format!(
                "its expires_on ({e}) is already past: the token has expired (is the clock right?)"
            ));
        }
        let expires_on = int_field(v, "expires_on")
            .filter(|e| *e > 1_000_000_000 && *e <= now.saturating_add(MAX_LIFETIME))
            .or_else(|| expires_in.map(|e| now + e))
            .or_else(|| {
                jwt::decode(at)
                    .and_then(|d| jwt::claim_i64(&d.claims, "exp"))
                    .filter(|e| *e <= now.saturating_add(MAX_LIFETIME))
            })
            .unwrap_or(now + 600);
        let refresh_token = s("refresh_token");
        if refresh_token.as_deref().is_some_and(|r| !is_safe_token(r)) {
            return Err("its refresh_token has characters no token has".into());
        }
        for t in [
            Some(at),
            refresh_token.as_deref(),
            v.get("id_token").and_then(Value::as_str),
        ]
        .into_iter()
        .flatten()
        {
            crate::log::register_secret(t);
        }
        Ok(TokenResponse {
            access_token: Secret::new(at.to_string()),
            token_type: s("token_type").unwrap_or_else(|| "Bearer".into()),
            expires_on,
            refresh_on: refresh_in.map(|r| now + r),
            refresh_token: refresh_token.map(Secret::new),
            id_token: s("id_token").map(Secret::new),
            scope: s("scope"),
            resource: s("resource"),
        })
    }
}

/// Parses what a token endpoint answered: a token reply, Entra's error, or neither.
pub(crate) fn parse_reply(status: u16, content_type: Option<&str>, body: &[u8], now: i64) -> Result<TokenResponse> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(v) = &parsed {
        if let Some(e) = EntraError::from_json(v) {
            return Err(e.into_error("token request"));
        }
        if (200..300).contains(&status) {
            return TokenResponse::from_json(v, now).map_err(|why| {
                Error::network(format!(
                    "the token endpoint answered HTTP {status} with JSON that is not a token reply: {why}"
                ))
                .hint("a proxy or a wrong --authority-host may be answering instead of Entra")
            });
        }
    }
    Err(unexpected_reply(status, content_type, body, "token endpoint"))
}

/// The `tid` claim of a token, when it is a JWT (Entra access tokens for Microsoft APIs are).
pub(crate) fn tenant_of(token: &str) -> Option<String> {
    jwt::decode(token).and_then(|d| jwt::claim_str(&d.claims, "tid").map(str::to_string))
}

/// The signed-in user of a sign-in reply: identified by the object id (`oid`) and tenant (`tid`)
/// as MSAL does, or by the OpenID Connect `sub` where there is no `oid`; labelled by a user name
/// when the tokens carry one (standard OpenID providers put it in userinfo, not the id_token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// `oid`, else `sub`, from the first token (the id_token) that has either.
    pub(crate) id: String,
    pub(crate) tid: Option<String>,
    /// `preferred_username`, `upn` (or v1's `unique_name`) or `email`, lower-cased.
    pub(crate) label: Option<String>,
}

impl Account {
    /// The user of `tokens` (the id_token first, then the access token of the same reply).
    pub(crate) fn from_tokens(tokens: &[Option<&str>]) -> Option<Account> {
        let claims: Vec<serde_json::Value> = tokens
            .iter()
            .flatten()
            .filter_map(|t| Some(jwt::decode(t)?.claims))
            .collect();
        let text = |c: &serde_json::Value, k: &str| {
            jwt::claim_str(c, k)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let (id, first) = claims
            .iter()
            .find_map(|c| text(c, "oid").or_else(|| text(c, "sub")).map(|id| (id, c)))?;
        let label = claims.iter().find_map(|c| {
            ["preferred_username", "upn", "unique_name", "email"]
                .iter()
                .find_map(|k| text(c, k))
                .map(|v| v.to_ascii_lowercase())
        });
        Some(Account {
            id,
            tid: text(first, "tid").or_else(|| claims.iter().find_map(|c| text(c, "tid"))),
            label,
        })
    }

    /// The account's key in the cache: `oid.tid` (MSAL's home account id), or the id alone.
    pub(crate) fn key(&self) -> String {
        match &self.tid {
            Some(t) => format!("{}.{t}", self.id),
            None => self.id.clone(),
        }
    }

    /// How messages name the account: its label, else its id.
    pub(crate) fn name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.id)
    }
}

/// The nonce claim of an id_token (to compare with the one sent at /authorize).
pub(crate) fn id_token_nonce(id_token: &str) -> Option<String> {
    let d = jwt::decode(id_token)?;
    jwt::claim_str(&d.claims, "nonce").map(str::to_string)
}
/// How much of an unexpected reply is read for its snippet (redaction runs over all of it,
/// before the snippet is cut, so no beginning of a secret survives the cut).
const SNIPPET_SCAN_BYTES: usize = 4096;

/// Exit 4 for a reply that is not the expected JSON: says what came back, redacted.
pub(crate) fn unexpected_reply(status: u16, content_type: Option<&str>, body: &[u8], who: &str) -> Error {
    let ct = content_type.unwrap_or("no content type");
    let scanned = &body[..body.len().min(SNIPPET_SCAN_BYTES)];
    let text = crate::sanitize::line(&String::from_utf8_lossy(scanned));
    let redacted = if scanned.len() < body.len() {
        log::redact_cut_text(&text)
    } else {
        log::redact_text(&text)
    };
    let snippet: String = redacted.chars().take(120).collect();
    let what = if body.is_empty() {
        "an empty body".to_string()
    } else if ct.contains("json") || body.first() == Some(&b'{') {
        format!("JSON that does not parse ({} bytes, truncated?)", body.len())
    } else {
        format!("{} bytes", body.len())
    };
    let mut err = Error::network(format!("the {who} answered HTTP {status} with {ct}, {what}"));
    if !snippet.is_empty() {
        err = err.cause(format!("reply begins: {snippet}"));
    }
    if ct.contains("html") {
        err = err.hint("an HTML page usually comes from a proxy or captive portal: check HTTPS_PROXY / NO_PROXY and --authority-host");
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn v1_strings_and_v2_integers() {
        let v1 = serde_json::json!({"token_type":"Bearer","expires_in":"3599","expires_on":"2000000000","resource":"r","access_token":"a"});
        let t = TokenResponse::from_json(&v1, 1_999_996_401).unwrap();
        assert_eq!(t.expires_on, 2_000_000_000);
        let v2 = serde_json::json!({"token_type":"Bearer","expires_in":3599,"access_token":"a","refresh_in":1800});
        let t = TokenResponse::from_json(&v2, 100).unwrap();
        assert_eq!(t.expires_on, 3699);
        assert_eq!(t.refresh_on, Some(1900));
    }

    #[test]
    fn hostile_replies_are_refused_not_panics() {
        for body in [
            r#"{"access_token":"abc","expires_in":99999999999999999999}"#,
            r#"{"access_token":"abc","expires_in":1e300}"#,
            r#"{"access_token":"abc","expires_in":-5}"#,
            r#"{"access_token":"abc","expires_in":3599,"refresh_in":9223372036854775807}"#,
            "{\"access_token\":\"a\\nb' ; rm -rf x\",\"expires_in\":3599}",
            r#"{"access_token":"a b","expires_in":3599}"#,
        ] {
            let e = parse_reply(200, Some("application/json"), body.as_bytes(), 1_800_000_000).unwrap_err();
            assert_eq!(e.exit_code(), 4, "{body}: {}", e.render());
        }
        let ok = parse_reply(
            200,
            None,
            br#"{"access_token":"abc.def-_~+/=","expires_on":"99999999999999"}"#,
            100,
        )
        .unwrap();
        assert!(ok.expires_on <= 100 + MAX_LIFETIME);
    }

    #[test]
    fn classification() {
        assert_eq!(
            parse_reply(401, None, br#"{"error":"invalid_client","error_codes":[7000215]}"#, 0)
                .unwrap_err()
                .exit_code(),
            3
        );
        assert_eq!(
            parse_reply(200, Some("text/html"), b"<html>proxy</html>", 0)
                .unwrap_err()
                .exit_code(),
            4
        );
        assert_eq!(
            parse_reply(
                200,
                Some("application/json"),
                br#"{"token_type":"Bearer","access_token":"eyJhbGciOi"#,
                0
            )
            .unwrap_err()
            .exit_code(),
            4
        );
        let e = parse_reply(200, Some("application/json"), br#"{"status":"ok"}"#, 0).unwrap_err();
        assert!(e.message.contains("not a token"));
        let trunc = parse_reply(
            200,
            Some("application/json"),
            br#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"#,
            0,
        )
        .unwrap_err();
        assert!(!trunc.render().contains("c2ln"), "{}", trunc.render());
    }

    #[test]
    fn accounts_from_tokens() {
        use base64::Engine;
        let enc = |v: &str| URL_SAFE_NO_PAD.encode(v.as_bytes());
        let jwt = |claims: &str| format!("{}.{}.sig", enc(r#"{"alg":"RS256","typ":"JWT"}"#), enc(claims));
        let id = jwt(r#"{"preferred_username":"Admin@Contoso.onmicrosoft.com","tid":"t","oid":"o","nonce":"n1"}"#);
        let at = jwt(r#"{"upn":"other@x.com"}"#);
        let a = Account::from_tokens(&[Some(&id), Some(&at)]).unwrap();
        assert_eq!(a.label.as_deref(), Some("admin@contoso.onmicrosoft.com"));
        assert_eq!((a.tid.as_deref(), a.id.as_str()), (Some("t"), "o"));
        assert_eq!((a.key().as_str(), a.name()), ("o.t", "admin@contoso.onmicrosoft.com"));
        // no oid or sub: no identity, whatever the name
        assert!(Account::from_tokens(&[None, Some(&at)]).is_none());
        assert!(Account::from_tokens(&[Some("opaque")]).is_none());
        // a standard OpenID provider's id_token: `sub` only; the name may come from the access token
        let sub_only = jwt(r#"{"sub":"AbC-123","nonce":"n1"}"#);
        let a = Account::from_tokens(&[Some(&sub_only)]).unwrap();
        assert_eq!(
            (a.id.as_str(), a.tid.as_deref(), a.label.as_deref()),
            ("AbC-123", None, None)
        );
        assert_eq!((a.key().as_str(), a.name()), ("AbC-123", "AbC-123"));
        let named = jwt(r#"{"sub":"x","oid":"o2","tid":"t2","upn":"Someone@X.com"}"#);
        let a = Account::from_tokens(&[Some(&sub_only), Some(&named)]).unwrap();
        assert_eq!(
            (a.id.as_str(), a.tid.as_deref(), a.label.as_deref()),
            ("AbC-123", Some("t2"), Some("someone@x.com"))
        );
        assert_eq!(id_token_nonce(&id).as_deref(), Some("n1"));
    }

    #[test]
    fn tenant_from_a_token() {
        use base64::Engine;
        let enc = |v: &str| URL_SAFE_NO_PAD.encode(v.as_bytes());
        let at = format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(r#"{"tid":"t-1"}"#));
        assert_eq!(tenant_of(&at).as_deref(), Some("t-1"));
        assert_eq!(tenant_of("opaque"), None);
    }

    #[test]
    fn unexpected_reply_redacts_before_cutting() {
        let secret = "Reply Secret+Value/0123456789";
        crate::log::register_secret(secret);
        // Python's quote() of the secret, within the snippet
        let body = format!("{}Reply%20Secret%2BValue/0123456789 echoed", "x".repeat(50));
        let e = unexpected_reply(500, Some("text/plain"), body.as_bytes(), "token endpoint");
        let r = e.render();
        assert!(!r.contains("Reply") && r.contains("[REDACTED]"), "{r}");
        // a long JWT shrinks to a marker and pulls what follows into the snippet: the secret
        // straddling the scanned part's end must not show even its beginning
        let jwt = format!("eyJ{}", "A".repeat(4070));
        let body = format!("{jwt} {secret} more text after the scan");
        assert!(body.find("Reply").unwrap() < SNIPPET_SCAN_BYTES && body.len() > SNIPPET_SCAN_BYTES);
        let r = unexpected_reply(502, Some("text/html"), body.as_bytes(), "token endpoint").render();
        assert!(!r.contains("Reply Sec"), "{r}");
        // control characters and escape sequences of the body never reach the terminal
        let r = unexpected_reply(500, None, b"\x1b]0;title\x07\x1b[2Jbad gateway", "token endpoint").render();
        assert!(r.contains("reply begins: bad gateway") && !r.contains('\x1b'), "{r}");
    }
}
