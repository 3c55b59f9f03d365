//! What `whoami` prints: which credential source was used and why, and what the token says. The
//! shape holds claims copied out of a decoded token and never the token itself, so printing it
//! cannot leak one. `-o json` is [`Whoami::to_json`]; the default is [`Whoami::to_text`].

use super::rfc3339;
use serde::Serialize;
use serde_json::Value;

/// The whole `whoami -o json` document.
#[derive(Debug, Serialize)]
pub(crate) struct Whoami {
    pub(crate) source: SourceReport,
    /// The selected profile's name, or null.
    pub(crate) profile: Option<String>,
    /// Names (never values) of the environment variables the decision and the request used.
    pub(crate) variables: Vec<String>,
    pub(crate) claims: Claims,
    pub(crate) cache: CacheOutcome,
}

/// The chosen credential source and the decision trace.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct SourceReport {
    /// `client-secret`, `certificate`, `federated-file`, `federated-env`, `github-actions`,
    /// `azure-pipelines` or `managed-identity`.
    pub(crate) kind: &'static str,
    /// Managed identity only: `imds`, `app-service`, `arc`, `cloud-shell`, `service-fabric`.
    pub(crate) detail: Option<&'static str>,
    /// `flag --certificate`, `env AZURE_CLIENT_SECRET`, `profile NAME` or `automatic`.
    pub(crate) selected_by: String,
    pub(crate) considered: Vec<ConsideredReport>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct ConsideredReport {
    pub(crate) kind: &'static str,
    pub(crate) reason: String,
}

/// Whether the token came from the cache.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CacheOutcome {
    Hit,
    Miss,
}

/// What the token says: a few claims, as the token has them (null when it has none).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) tid: Option<String>,
    /// `appid` (v1 tokens) or `azp` (v2 tokens).
    pub(crate) appid: Option<String>,
    pub(crate) oid: Option<String>,
    pub(crate) idtyp: Option<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) scp: Option<String>,
    pub(crate) aud: Option<String>,
    /// RFC 3339 with offset, as `get -o json` prints it.
    #[serde(rename = "expiresOn")]
    pub(crate) expires_on_text: String,
    /// Epoch seconds.
    pub(crate) expires_on: i64,
}

impl Claims {
    /// From a decoded token's claims (`None`: the token is not a JWT). The expiry is the `exp`
    /// claim, else `expires_on` from the token reply.
    pub(crate) fn from_token_claims(claims: Option<&Value>, expires_on: i64) -> Claims {
        let text = |name: &str| -> Option<String> {
            match claims?.get(name)? {
                Value::String(s) => Some(s.clone()),
                Value::Array(items) => items.iter().find_map(|i| i.as_str().map(str::to_string)),
                _ => None,
            }
        };
        let roles = claims
            .and_then(|c| c.get("roles"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let exp = claims
            .and_then(|c| c.get("exp"))
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
            .unwrap_or(expires_on);
        Claims {
            tid: text("tid"),
            appid: text("appid").or_else(|| text("azp")),
            oid: text("oid"),
            idtyp: text("idtyp"),
            roles,
            scp: text("scp"),
            aud: text("aud"),
            expires_on_text: rfc3339(exp, true),
            expires_on: exp,
        }
    }
}

impl Whoami {
    pub(crate) fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("whoami serializes")
    }

    /// The human form: a few `name: value` lines.
    pub(crate) fn to_text(&self) -> String {
        let s = &self.source;
        let mut out = String::new();
        let kind = match s.detail {
            Some(d) => format!("{} ({d})", s.kind),
            None => s.kind.to_string(),
        };
        out.push_str(&format!("source:      {kind}, selected by {}\n", s.selected_by));
        for c in &s.considered {
            out.push_str(&format!("  considered {}: {}\n", c.kind, c.reason));
        }
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let c = &self.claims;
        let roles = if c.roles.is_empty() {
            "-".into()
        } else {
            c.roles.join(" ")
        };
        for (name, value) in [
            ("profile", or_dash(&self.profile)),
            ("tenant", or_dash(&c.tid)),
            ("app", or_dash(&c.appid)),
            ("object", or_dash(&c.oid)),
            ("type", or_dash(&c.idtyp)),
            ("roles", roles),
            ("scopes", or_dash(&c.scp)),
            ("audience", or_dash(&c.aud)),
            ("expires", format!("{} ({})", c.expires_on_text, c.expires_on)),
            (
                "cache",
                match self.cache {
                    CacheOutcome::Hit => "hit".into(),
                    CacheOutcome::Miss => "miss".into(),
                },
            ),
        ] {
            out.push_str(&format!("{:<13}{value}\n", format!("{name}:")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(claims: Option<&Value>) -> Whoami {
        Whoami {
            source: SourceReport {
                kind: "managed-identity",
                detail: Some("imds"),
                selected_by: "automatic".into(),
                considered: vec![ConsideredReport {
                    kind: "github-actions",
                    reason: "ACTIONS_ID_TOKEN_REQUEST_URL is not set".into(),
                }],
            },
            profile: None,
            variables: vec!["IDENTITY_ENDPOINT".into()],
            claims: Claims::from_token_claims(claims, 1_800_000_000),
            cache: CacheOutcome::Miss,
        }
    }

    #[test]
    fn the_json_shape() {
        let claims = json!({"tid":"t1","appid":"a1","oid":"o1","idtyp":"app","roles":["R.Read","R.Write"],
            "aud":"https://graph.microsoft.com","exp":1_795_000_000,"upn":"ignored"});
        let v = sample(Some(&claims)).to_json();
        assert_eq!(
            v,
            json!({
                "source": {"kind":"managed-identity","detail":"imds","selected_by":"automatic",
                           "considered":[{"kind":"github-actions","reason":"ACTIONS_ID_TOKEN_REQUEST_URL is not set"}]},
                "profile": null,
                "variables": ["IDENTITY_ENDPOINT"],
                "claims": {"tid":"t1","appid":"a1","oid":"o1","idtyp":"app","roles":["R.Read","R.Write"],"scp":null,
                           "aud":"https://graph.microsoft.com","expiresOn":"2026-11-18T11:06:40+00:00","expires_on":1_795_000_000},
                "cache": "miss"
            })
        );
    }

    #[test]
    fn claims_in_their_variants() {
        // v2: azp instead of appid, a delegated token's scp, aud as an array, exp as a string
        let c = Claims::from_token_claims(
            Some(&json!({"azp":"a2","scp":"User.Read Mail.Read","aud":["api://x","api://y"],"exp":"1795000000"})),
            5,
        );
        assert_eq!(c.appid.as_deref(), Some("a2"));
        assert_eq!(c.scp.as_deref(), Some("User.Read Mail.Read"));
        assert_eq!(c.aud.as_deref(), Some("api://x"));
        assert_eq!(c.expires_on, 1_795_000_000);
        assert!(c.roles.is_empty());
        // not a JWT: only the reply's expiry
        let c = Claims::from_token_claims(None, 1_795_000_000);
        assert_eq!((c.tid, c.roles.len(), c.expires_on), (None, 0, 1_795_000_000));
        assert_eq!(c.expires_on_text, "2026-11-18T11:06:40+00:00");
        // odd types are ignored, not errors
        let c = Claims::from_token_claims(Some(&json!({"tid": 5, "roles": "x", "exp": {}})), 9);
        assert_eq!((c.tid, c.roles.len(), c.expires_on), (None, 0, 9));
    }

    #[test]
    fn never_holds_a_token() {
        let claims = json!({"tid":"t","access_token":"eyJ.secret.sig","refresh_token":"rt-secret"});
        let w = sample(Some(&claims));
        let text = format!("{} {} {w:?}", w.to_json(), w.to_text());
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn the_text_form() {
        let mut w = sample(Some(&json!({"tid":"t1","roles":["A","B"],"exp":1_795_000_000})));
        w.profile = Some("northwind".into());
        w.cache = CacheOutcome::Hit;
        let t = w.to_text();
        assert!(
            t.starts_with("source:      managed-identity (imds), selected by automatic\n"),
            "{t}"
        );
        assert!(t.contains("  considered github-actions: ACTIONS_ID_TOKEN_REQUEST_URL is not set\n"));
        assert!(t.contains("profile:     northwind\n"));
        assert!(t.contains("tenant:      t1\n"));
        assert!(t.contains("roles:       A B\n"));
        assert!(t.contains("scopes:      -\n"));
        assert!(t.contains("expires:     2026-11-18T11:06:40+00:00 (1795000000)\n"));
        assert!(t.ends_with("cache:       hit\n"));
    }
}
