//! Entra's OAuth error body (`error`, `error_description`, `error_codes`, `trace_id`, ...), parsed
//! whatever the HTTP status, and turned into the exit-3 error users see.

use crate::error::Error;
use crate::hints;
use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub(crate) struct EntraError {
    pub(crate) error: String,
    pub(crate) description: Option<String>,
    pub(crate) codes: Vec<u64>,
    pub(crate) trace_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) suberror: Option<String>,
    pub(crate) claims: Option<String>,
}

impl EntraError {
    /// Parses an OAuth error object; `None` when the value has no string `error` member.
    pub(crate) fn from_json(v: &Value) -> Option<EntraError> {
        let obj = v.as_object()?;
        let error = obj.get("error")?.as_str()?.to_string();
        let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let description = s("error_description");
        let mut codes: Vec<u64> = obj
            .get("error_codes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        if codes.is_empty()
            && let Some(d) = &description
        {
            codes = hints::codes_in_text(d);
        }
        Some(EntraError {
            error,
            description,
            codes,
            trace_id: s("trace_id"),
            correlation_id: s("correlation_id"),
            suberror: s("suberror"),
            claims: s("claims"),
        })
    }

    /// The description's first line, without the "Trace ID / Correlation ID / Timestamp" tail.
    pub(crate) fn summary(&self) -> Option<String> {
        let d = self.description.as_deref()?;
        let mut text = d.split(['\r', '\n']).next().unwrap_or(d).to_string();
        for marker in [" Trace ID:", " Trace ID :"] {
            if let Some(p) = text.find(marker) {
                text.truncate(p);
            }
        }
        Some(text.trim().to_string())
    }

    pub(crate) fn codes_label(&self) -> String {
        self.codes
            .iter()
            .map(|c| format!("AADSTS{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The exit-3 error: `Entra rejected the request: invalid_client (AADSTS7000215)`.
    pub(crate) fn into_error(self, what: &str) -> Error {
        let codes = self.codes_label();
        let head = if codes.is_empty() {
            format!("Entra rejected the {what}: {}", self.error)
        } else {
            format!("Entra rejected the {what}: {} ({codes})", self.error)
        };
        let mut err = Error::rejected(head);
        if let Some(s) = self.summary() {
            err = err.cause(s);
        }
        if let Some(sub) = &self.suberror {
            err = err.cause(format!("suberror: {sub}"));
        }
        let ids: Vec<String> = [("trace id", &self.trace_id), ("correlation id", &self.correlation_id)]
            .iter()
            .filter_map(|(n, v)| v.as_ref().map(|v| format!("{n} {v}")))
            .collect();
        if !ids.is_empty() {
            err = err.cause(ids.join(", "));
        }
        let hint = if self.error == "invalid_grant" && (self.suberror.is_some() || self.claims.is_some()) {
            Some("the sign-in needs to be renewed (MFA, Conditional Access or consent): run `entra-token login` again")
        } else {
            hints::for_codes(&self.codes)
        };
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entra_body() {
        let v: Value = serde_json::from_str(r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: x","error_codes":[7000215],"trace_id":"t-1","correlation_id":"c-1"}"#).unwrap();
        let e = EntraError::from_json(&v).unwrap();
        assert_eq!(e.codes, vec![7000215]);
        assert_eq!(e.summary().unwrap(), "AADSTS7000215: Invalid client secret provided.");
        let err = e.into_error("token request");
        assert_eq!(err.exit_code(), 3);
        let text = err.render();
        assert!(
            text.contains("AADSTS7000215") && text.contains("t-1") && text.contains("hint:"),
            "{text}"
        );
    }

    #[test]
    fn codes_from_text_when_missing() {
        let v: Value = serde_json::from_str(
            r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found. Trace ID: a"}"#,
        )
        .unwrap();
        let e = EntraError::from_json(&v).unwrap();
        assert_eq!(e.codes, vec![90002]);
        assert_eq!(e.summary().unwrap(), "AADSTS90002: Tenant 'x' not found.");
        assert!(EntraError::from_json(&serde_json::json!({"status":"ok"})).is_none());
    }
}
