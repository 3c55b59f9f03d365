//! The APIs the emulator stands in for besides Entra: a small Microsoft Graph (with Intune and
//! Windows 365), the Office 365 Management Activity API and the Microsoft Managed Desktop API's
//! device list, and what they share: the request and reply shapes and
//! the bearer-token checks (only tokens this emulator issued are accepted).

pub(crate) mod graph;
pub(crate) mod graph_collections;
pub(crate) mod graph_query;
pub(crate) mod managed_desktop;
pub(crate) mod management;

use serde_json::{Map, Value};

pub(crate) use crate::reply::ApiReply;
use crate::signer::Signer;

/// What a Graph handler needs from the request.
pub(crate) struct ApiRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    /// Lower-case header names.
    pub(crate) header: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) body: &'a [u8],
    /// `scheme://host[:port]` the client addressed, for absolute next links.
    pub(crate) origin: &'a str,
    pub(crate) now: u64,
}

impl ApiRequest<'_> {
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        self.query
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default()
    }

    /// A query option, `$`-prefixed names matched case-insensitively as Graph does.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Bearer-token checks shared by Graph and the Management API.
pub(crate) enum TokenProblem {
    Missing,
    Invalid,
    Expired,
    WrongAudience,
}

/// Verifies `Authorization: Bearer <token>`: the emulator's signature, `exp`/`nbf`, and that
/// `aud` is one of `audiences` (trailing `/` ignored).
pub(crate) fn check_bearer(
    authorization: Option<&str>,
    signer: &Signer,
    audiences: &[&str],
    now: u64,
) -> Result<Map<String, Value>, TokenProblem> {
    let token = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or(TokenProblem::Missing)?;
    let claims = signer.verify_token(token).ok_or(TokenProblem::Invalid)?;
    let num = |k: &str| claims.get(k).and_then(Value::as_u64);
    if num("exp").is_none_or(|exp| exp <= now) || num("nbf").is_some_and(|nbf| nbf > now + 300) {
        return Err(TokenProblem::Expired);
    }
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
    if !audiences
        .iter()
        .any(|a| a.eq_ignore_ascii_case(aud.trim_end_matches('/')))
    {
        return Err(TokenProblem::WrongAudience);
    }
    Ok(claims)
}

/// True when the token grants `permission` as an app role or a delegated scope.
pub(crate) fn has_permission(claims: &Map<String, Value>, permissions: &[&str]) -> bool {
    let roles = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let scp = claims.get("scp").and_then(Value::as_str).unwrap_or("");
    permissions.iter().any(|p| {
        roles.iter().any(|r| r.eq_ignore_ascii_case(p)) || scp.split_whitespace().any(|s| s.eq_ignore_ascii_case(p))
    })
}

/// A delegated (user) token rather than app-only.
pub(crate) fn is_delegated(claims: &Map<String, Value>) -> bool {
    claims.get("idtyp").and_then(Value::as_str) == Some("user") || claims.contains_key("scp")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn permissions_from_roles_or_scopes() {
        let app: Map<String, Value> = serde_json::from_value(json!({"roles": ["User.Read.All"]})).unwrap();
        assert!(has_permission(&app, &["user.read.all"]));
        assert!(!has_permission(&app, &["Group.ReadWrite.All"]));
        assert!(!is_delegated(&app));
        let user: Map<String, Value> =
            serde_json::from_value(json!({"scp": "openid User.Read User.Read.All", "idtyp": "user"})).unwrap();
        assert!(has_permission(&user, &["User.Read.All"]));
        assert!(is_delegated(&user));
    }
}
