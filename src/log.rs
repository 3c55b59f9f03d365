//! `-v` / `-vv` logging to stderr, and the redaction every log line goes through. Secrets,
//! assertions, codes, refresh tokens and access tokens never reach a log: form fields and JSON
//! members with sensitive names are replaced, known secret values are removed in any spelling a
//! server may echo (see `redact`), and any JWT-looking text is cut before its payload. Escape
//! sequences and control characters are stripped first (see `sanitize`): a log line may quote a
//! server, and a server must not be able to drive the terminal or split a secret to evade
//! redaction.

use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

pub(crate) fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

pub(crate) fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// `-v`: one line per HTTP exchange, retry decisions, cache decisions.
pub(crate) fn info(msg: impl AsRef<str>) {
    if verbosity() >= 1 {
        eprintln!("[entra-token] {}", for_stderr(msg.as_ref()));
    }
}

/// `-vv`: headers and bodies (redacted).
pub(crate) fn debug(msg: impl AsRef<str>) {
    if verbosity() >= 2 {
        eprintln!("[entra-token] {}", for_stderr(msg.as_ref()));
    }
}

/// A warning the user should see at any verbosity (stderr, never stdout).
pub(crate) fn warn(msg: impl AsRef<str>) {
    eprintln!("warning: {}", for_stderr(msg.as_ref()));
}

/// A log line as printed: control characters and escape sequences out (line breaks kept),
/// then redacted.
fn for_stderr(msg: &str) -> String {
    redact_text(&crate::sanitize::for_terminal(msg, crate::sanitize::Newlines::Keep))
}

/// Names of form fields, JSON members, headers and query parameters whose values are secret.
pub(crate) const SENSITIVE_NAMES: &[&str] = &[
    "client_secret",
    "client_assertion",
    "assertion",
    "code",
    "code_verifier",
    "refresh_token",
    "access_token",
    "id_token",
    "device_code",
    "password",
    "authorization",
    "accesstoken",
    "token",
    "state",
    "nonce",
    "session_state",
    // managed identity (App Service `X-IDENTITY-HEADER`, Service Fabric `secret`) and Azure
    // Pipelines' OIDC reply
    "x-identity-header",
    "secret",
    "oidctoken",
    "authid",
    "webhook-authid",
];

/// A response header's value as shown by `-vv` and `api -i`: the value of a sensitive header
/// (or a cookie) is replaced, any other value loses its control characters and has every known
/// secret and JWT-looking text removed (a server may echo the bearer token in a header).
pub(crate) fn header_value_for_display(name: &str, value: &[u8]) -> String {
    if is_sensitive(name) || name.eq_ignore_ascii_case("set-cookie") || name.eq_ignore_ascii_case("cookie") {
        return REDACTED.to_string();
    }
    redact_text(&crate::sanitize::line(&String::from_utf8_lossy(value)))
}

pub(crate) fn is_sensitive(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_NAMES.contains(&lower.as_str())
}

/// JSON members that hold secrets. Unlike form fields, `code` is left alone here: in JSON it is
/// a service's error code (Graph's `error.code`), while authorization codes only travel in forms
/// and redirect queries.
fn is_sensitive_json(name: &str) -> bool {
    is_sensitive(name) && !name.eq_ignore_ascii_case("code")
}

pub(crate) const REDACTED: &str = "[REDACTED]";

/// Forgets every registered secret (a fuzz target parses millions of replies in one process,
/// each registering its tokens, and must not slow down as the list grows). A no-op in unit
/// tests, which run in parallel and rely on what they registered.
#[cfg(any(fuzzing, test))]
pub(crate) fn forget_secrets() {
    #[cfg(fuzzing)]
    if let Ok(mut known) = KNOWN_SECRETS.lock() {
        known.clear();
    }
}

/// Secret values known to this process (the client secret, passwords, tokens received): removed
/// from every log line and error message wherever they appear, in any context.
static KNOWN_SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Registers a secret value (and its form-encoded spelling) for redaction. Short values are
/// skipped: they would blank ordinary words.
pub(crate) fn register_secret(value: &str) {
    if value.len() < 8 {
        return;
    }
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    if let Ok(mut known) = KNOWN_SECRETS.lock() {
        for v in [value.to_string(), encoded] {
            if !known.contains(&v) {
                known.push(v);
            }
        }
    }
}

fn known_secrets() -> crate::redact::Redactor {
    KNOWN_SECRETS
        .lock()
        .map(|known| crate::redact::Redactor::new(known.iter()))
        .unwrap_or_default()
}

/// Every known secret, raw, percent-encoded (either case, `%20` or `+`) or JSON-escaped.
fn redact_known(text: &str) -> String {
    known_secrets().redact(text)
}

/// [`redact_text`] for text that was cut before it could be redacted whole (the first bytes of
/// a reply): a known secret's beginning at the very end is removed as well.
pub(crate) fn redact_cut_text(text: &str) -> String {
    redact_rest(&known_secrets().redact_cut(text))
}

/// `scheme://user:password@host` → `scheme://[REDACTED]@host`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Redacts a form body (`a=b&c=d`): sensitive values become `[REDACTED]`.
pub(crate) fn redact_form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            if is_sensitive(k) {
                format!("{k}={REDACTED}")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Redacts a JSON document by member name, recursively; falls back to text redaction.
pub(crate) fn redact_json_text(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            redact_json(&mut v);
            redact_text(&v.to_string())
        }
        Err(_) => redact_text(body),
    }
}

pub(crate) fn redact_json(v: &mut serde_json::Value) {
    redact_json_with(v, &known_secrets());
}

/// Sensitive members by name, and known secrets in every string value as decoded: a secret a
/// server echoed JSON-escaped inside a string would otherwise be escaped twice when the
/// document is printed again, a spelling the text redaction does not look for.
fn redact_json_with(v: &mut serde_json::Value, known: &crate::redact::Redactor) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_sensitive_json(k) && !val.is_null() {
                    *val = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_json_with(val, known);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| redact_json_with(i, known)),
        serde_json::Value::String(text) => {
            let clean = known.redact(text);
            if clean != *text {
                *text = clean;
            }
        }
        _ => {}
    }
}

fn is_b64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Text redaction for anything else: every JWT-looking run (`eyJ…`, with or without its dots)
/// becomes `[REDACTED-JWT]`, and the value after a sensitive `"name":"` or `name=` is removed up
/// to its end even when the text is cut short (a truncated reply).
pub(crate) fn redact_text(text: &str) -> String {
    redact_rest(&redact_known(text))
}

/// Everything [`redact_text`] does after removing the known secrets.
fn redact_rest(text: &str) -> String {
    let text = redact_userinfo(text);
    let text = text.as_str();
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // JWT-like: "eyJ" followed by base64url/dots
        if chars[i] == 'e'
            && chars.get(i + 1) == Some(&'y')
            && chars.get(i + 2) == Some(&'J')
            && (i == 0 || !is_b64url(chars[i - 1]))
        {
            let mut j = i;
            while j < chars.len() && (is_b64url(chars[j]) || chars[j] == '.') {
                j += 1;
            }
            if j - i >= 10 {
                out.push_str("[REDACTED-JWT]");
                i = j;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    redact_named_values(&out)
}

/// `"client_secret":"…"`, `client_secret=…`, `Authorization: Bearer …` → value removed.
fn redact_named_values(text: &str) -> String {
    let mut result = text.to_string();
    for name in SENSITIVE_NAMES {
        let json_patterns = if *name == "code" {
            vec![]
        } else {
            vec![format!("\"{name}\":\""), format!("\"{name}\": \"")]
        };
        for pattern in json_patterns.into_iter().chain([format!("{name}=")]) {
            let mut search_from = 0;
            loop {
                let lower = result.to_ascii_lowercase();
                let Some(pos) = lower[search_from..].find(&pattern) else {
                    break;
                };
                let start = search_from + pos + pattern.len();
                // a form key must start at a boundary (avoid matching "xcode=")
                if pattern.ends_with('=') {
                    let at = search_from + pos;
                    if at > 0 {
                        let prev = result.as_bytes()[at - 1];
                        if prev.is_ascii_alphanumeric() || prev == b'_' {
                            search_from = start;
                            continue;
                        }
                    }
                }
                let rest = &result[start..];
                let end = if pattern.ends_with('"') {
                    find_json_string_end(rest)
                } else {
                    rest.find(['&', ' ', '\n', '\r', '"', ',']).unwrap_or(rest.len())
                };
                if rest[..end] == *REDACTED || end == 0 {
                    search_from = start + end;
                    continue;
                }
                result.replace_range(start..start + end, REDACTED);
                search_from = start + REDACTED.len();
            }
        }
    }
    redact_bearer(&result)
}

fn find_json_string_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn redact_bearer(text: &str) -> String {
    let mut result = text.to_string();
    for pattern in ["Bearer ", "bearer ", "Basic ", "basic "] {
        let mut from = 0;
        while let Some(pos) = result[from..].find(pattern) {
            let start = from + pos + pattern.len();
            let rest = &result[start..];
            let end = rest.find(['\n', '\r', '"', ' ']).unwrap_or(rest.len());
            // `from` must stay on a character boundary: after the marker, or right after the
            // pattern when nothing was replaced (a fixed step could land inside a character)
            if end > 0 && &rest[..end] != REDACTED && !rest.starts_with("[REDACTED") {
                result.replace_range(start..start + end, REDACTED);
                from = start + REDACTED.len();
            } else {
                from = start;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_and_named_values_are_removed() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        let t = format!("{{\"access_token\":\"{jwt}\",\"token_type\":\"Bearer\"}}");
        let r = redact_text(&t);
        assert!(!r.contains("c2lnbmF0dXJl"), "{r}");
        assert!(!r.contains("eyJzdWIi"), "{r}");
        assert!(r.contains("Bearer"));
        let truncated = "{\"token_type\":\"Bearer\",\"access_token\":\"abcdefghij";
        assert!(!redact_text(truncated).contains("abcdefghij"));
        let form = "client_id=abc&client_secret=s3cr3t%2B&scope=x";
        let r = redact_text(form);
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains("client_id=abc"));
        assert!(!redact_text("Authorization: Bearer abc.def").contains("abc.def"));
    }

    #[test]
    fn known_secrets_userinfo_and_error_codes() {
        register_secret("Known~Secret/Value+1");
        let r = redact_text("echo Known~Secret/Value+1 and Known%7ESecret%2FValue%2B1");
        assert!(!r.contains("Known"), "{r}");
        let u = redact_text("POST http://user:pw123@127.0.0.1:1/t → 200 and https://h/x");
        assert!(
            !u.contains("pw123") && u.contains("@127.0.0.1:1/t") && u.contains("https://h/x"),
            "{u}"
        );
        let g = redact_json_text(r#"{"error":{"code":"Authorization_RequestDenied"}}"#);
        assert!(g.contains("Authorization_RequestDenied"), "{g}");
        assert!(!redact_text("code=abc123&state=x").contains("abc123"));
    }

    #[test]
    fn json_members_redacted_by_name() {
        let r = redact_json_text(r#"{"a":1,"refresh_token":"xyz","nested":{"client_secret":"c0de"}}"#);
        assert!(!r.contains("xyz") && !r.contains("c0de"), "{r}");
        assert!(r.contains("\"a\":1"));
    }

    #[test]
    fn known_secrets_in_every_echoed_spelling() {
        register_secret("Echo Secret/Value+2~é");
        for echo in [
            "Echo%20Secret/Value%2B2~%C3%A9", // Python quote()
            "Echo+Secret%2FValue%2B2~%C3%A9", // quote_plus()
            "Echo+Secret%2fValue%2b2~%c3%a9", // lower-case hex
            r"Echo Secret\/Value+2~\u00e9",   // JSON with escaped slash and ensure_ascii
        ] {
            let r = redact_text(&format!("server said: {echo}!"));
            assert_eq!(r, "server said: [REDACTED]!", "{echo}");
        }
        // log lines lose escape sequences but keep their line breaks
        assert_eq!(for_stderr("a\x1b[2Jb\nc\x07"), "ab\nc");
    }

    #[test]
    fn a_secret_escaped_inside_a_json_string_is_removed_from_the_document() {
        register_secret("Nested~Secret/Value+3");
        let body =
            serde_json::json!({"error_description": "echo 'Nested~Secret\\/Value+3' and Nested%7ESecret%2FValue%2B3"})
                .to_string();
        let r = redact_json_text(&body);
        assert!(!r.contains("Nested"), "{r}");
        assert!(r.contains("echo '[REDACTED]' and [REDACTED]"), "{r}");
    }

    #[test]
    fn a_cut_text_loses_the_beginning_of_a_secret() {
        register_secret("Tail-Secret-Value-0123");
        assert_eq!(redact_cut_text("reply: Tail-Secret-Va"), "reply: [REDACTED]");
        assert_eq!(redact_text("reply: Tail-Secret-Va"), "reply: Tail-Secret-Va");
    }

    #[test]
    fn bearer_and_basic_next_to_multibyte_text_never_panic() {
        // after a `basic ` with nothing to redact, the search must go on at a character boundary
        for text in [
            "basic  ééééé",
            "Bearer \"é€ and basic  ∞∞∞∞ bearer ",
            "bearer é",
            "Basic [REDACTED]é€",
        ] {
            let _ = redact_text(text);
        }
        assert_eq!(redact_text("basic  ééé"), "basic  ééé");
        assert_eq!(redact_text("Basic dXNlcjpwdw== é"), "Basic [REDACTED] é");
    }
}
