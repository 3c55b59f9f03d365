//! Managed-identity token replies and errors: `expires_on`/`expires_in` as strings or numbers, a
//! token already expired refused, refresh at half-life for long-lived tokens, and the error
//! bodies of each source classified into exit codes — "Identity not found" (exit 3) with a hint
//! naming the selector that was sent and where it came from.
//!
//! Shapes: IMDS `{"access_token","expires_in":"3599","expires_on":"1506484173","resource",
//! "token_type"}` and `{"error":"invalid_request","error_description":"Identity not found"}`
//! (<https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling>);
//! App Service `{"statusCode":400,"message":"Unable to load requested managed identity."}`;
//! Service Fabric and Cloud Shell `{"error":{"code","message"}}`.

use super::{Selector, Source};
use crate::error::{Error, Result};
use crate::protocol::token::{MAX_LIFETIME, int_field, is_safe_token, unexpected_reply};
use crate::secret::Secret;
use serde_json::Value;

/// Tokens living at least this long are refreshed after half their lifetime (MSAL's rule).
pub(crate) const HALF_LIFE_REFRESH_MIN: i64 = 2 * 3600;

/// A managed-identity access token.
#[derive(Debug)]
pub(crate) struct Token {
    pub(crate) access_token: Secret<String>,
    pub(crate) token_type: String,
    /// Absolute expiry, epoch seconds.
    pub(crate) expires_on: i64,
    /// When to refresh (epoch seconds): `refresh_in` if the reply has it, else half-life for
    /// tokens of 2 h or more.
    pub(crate) refresh_on: Option<i64>,
    pub(crate) resource: Option<String>,
}

/// A successful (2xx) reply's JSON, or why it is not a usable token.
pub(crate) fn parse_token(v: &Value, now: i64) -> Result<Token, String> {
    let Some(at) = v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return Err("it has no access_token".into());
    };
    if !is_safe_token(at) {
        return Err("its access_token has characters no token has".into());
    }
    let number = |name: &str| -> Result<Option<i64>, String> {
        match v.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(_) => int_field(v, name)
                .map(Some)
                .ok_or_else(|| format!("its {name} is not a number")),
        }
    };
    // An `expires_on` that is not epoch seconds (App Service's retired 2017 API sent a date) is
    // ignored when `expires_in` is there.
    let expires_in = number("expires_in")?;
    let expires_on = match number("expires_on") {
        Ok(on) => on,
        Err(_) if expires_in.is_some() => None,
        Err(why) => return Err(why),
    };
    let expires_on = match (expires_on, expires_in) {
        (Some(on), _) => on,
        (None, Some(lifetime)) if (0..=MAX_LIFETIME).contains(&lifetime) => now + lifetime,
        (None, Some(_)) => return Err("its expires_in is not a plausible number of seconds".into()),
        (None, None) => return Err("it has neither expires_on nor expires_in".into()),
    };
    if expires_on <= now {
        return Err(format!(
            "its token expired already (expires_on {expires_on} is {} s in the past; is this machine's clock right?)",
            now - expires_on
        ));
    }
    if expires_on > now.saturating_add(MAX_LIFETIME) {
        return Err("its expires_on is implausibly far in the future".into());
    }
    let lifetime = expires_on - now;
    let refresh_on = match number("refresh_in")? {
        Some(r) if r > 0 && r < lifetime => Some(now + r),
        _ if lifetime >= HALF_LIFE_REFRESH_MIN => Some(now + lifetime / 2),
        _ => None,
    };
    crate::log::register_secret(at);
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Token {
        access_token: Secret::new(at.to_string()),
        token_type: s("token_type").unwrap_or_else(|| "Bearer".into()),
        expires_on,
        refresh_on,
        resource: s("resource"),
    })
}

/// The error a managed-identity endpoint reported, whatever its source's shape.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct EndpointError {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
}

impl EndpointError {
    pub(crate) fn from_json(v: &Value) -> Option<EndpointError> {
        let text = |v: Option<&Value>| -> Option<String> {
            match v? {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let e = match v.get("error") {
            // Service Fabric, Cloud Shell: {"error":{"code","message"}}
            Some(inner @ Value::Object(_)) => EndpointError {
                code: text(inner.get("code")),
                message: text(inner.get("message")),
            },
            // IMDS, Arc: {"error","error_description"}
            Some(_) => EndpointError {
                code: text(v.get("error")),
                message: text(v.get("error_description")),
            },
            // App Service: {"statusCode","message"}
            None => EndpointError {
                code: text(v.get("statusCode")),
                message: text(v.get("message")).or_else(|| text(v.get("Message"))),
            },
        };
        (e.code.is_some() || e.message.is_some()).then_some(e)
    }

    /// "Identity not found" in each source's words: the identity named (or the system-assigned
    /// one) is not assigned to this resource.
    pub(crate) fn is_identity_not_found(&self) -> bool {
        let m = self.message.as_deref().unwrap_or("").to_ascii_lowercase();
        let c = self.code.as_deref().unwrap_or("").to_ascii_lowercase();
        m.contains("identity not found")
            || m.contains("unable to load requested managed identity")
            || m.contains("no managed identity")
            || c == "managedidentitynotfound"
    }

    fn describe(&self) -> String {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Classifies a final reply (after retries): a token, exit 3 when the endpoint refused (an error
/// body with a 4xx status, "Identity not found" with its hint), exit 4 for anything else (an
/// answer the retry policy retries still there at the end — 5xx, 429, IMDS's 404/410 —, a body
/// that is not the expected JSON, a token already expired).
pub(crate) fn classify(
    source: Source,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    now: i64,
    selector: Option<&Selector>,
) -> Result<Token> {
    let who = format!("{} managed identity endpoint", source.label());
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        if let Some(v) = &parsed {
            return parse_token(v, now).map_err(|why| {
                Error::network(format!(
                    "the {who} answered HTTP {status} with JSON that is not a token reply: {why}"
                ))
            });
        }
        return Err(unexpected_reply(status, content_type, body, &who));
    }
    let Some(err) = parsed.as_ref().and_then(EndpointError::from_json) else {
        return Err(unexpected_reply(status, content_type, body, &who));
    };
    if err.is_identity_not_found() {
        return Err(identity_not_found(source, status, &err, selector));
    }
    let message = format!("the {who} answered HTTP {status}: {}", err.describe());
    // What the retry policy retries (IMDS 404/410 while it updates, 408, 429, 5xx) is a transient
    // failure when it is still the answer at the end: exit 4, not a refusal.
    let transient = super::retry::retryable(source, super::retry::Outcome::Status(status));
    Err(if (400..500).contains(&status) && !transient {
        Error::rejected(message)
    } else {
        Error::network(message)
    })
}

/// Exit 3 for "Identity not found", with a hint naming the selector sent and its origin.
pub(crate) fn identity_not_found(
    source: Source,
    status: u16,
    err: &EndpointError,
    selector: Option<&Selector>,
) -> Error {
    let e = Error::rejected(format!(
        "the {} managed identity endpoint answered HTTP {status}: {}",
        source.label(),
        err.describe()
    ));
    match selector {
        None => e.hint(
            "no user-assigned identity was named and this resource has no system-assigned identity: enable one, or name a user-assigned identity with --client-id, --mi-object-id or --mi-resource-id",
        ),
        Some(s) => {
            let what = match s.kind {
                super::SelectorKind::ClientId => {
                    "is that the app's id rather than the managed identity's? (the identity's client id is on its Overview page)"
                }
                super::SelectorKind::ObjectId => {
                    "is that the identity's object (principal) id, and is the identity assigned to this resource?"
                }
                super::SelectorKind::ResourceId => "is that user-assigned identity assigned to this resource?",
            };
            let param = source.selector_parameter(s.kind).unwrap_or(s.kind.name());
            e.hint(format!("`{param}` from {}: {what}", s.origin.describe()))
        }
    }
}
