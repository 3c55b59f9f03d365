//! The browser side of OAuth, as pure functions (no I/O): PKCE (S256), `state`/`nonce` values,
//! the OIDC scopes of a sign-in, and authorize and admin-consent URLs
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow>,
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent>).

use crate::error::{Error, Result};
use crate::protocol::authority::join;
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use url::Url;

/// `n` random bytes as base64url without padding (`state`, `nonce`, PKCE verifier).
pub(crate) fn random_b64url(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal("the OS random source failed").cause(e))?;
    Ok(URL_SAFE_NO_PAD.encode(&bytes))
}

/// A fresh, unguessable `state` or `nonce` (256 bits).
pub(crate) fn new_state() -> Result<String> {
    random_b64url(32)
}

/// PKCE (RFC 7636) with S256. The verifier is a secret used once: this type is deliberately not
/// `Clone`, so it cannot be copied out of the one redemption it belongs to.
pub(crate) struct Pkce {
    verifier: Secret<String>,
    challenge: String,
}

impl Pkce {
    /// A 43-character verifier (32 random bytes) and its S256 challenge.
    pub(crate) fn new() -> Result<Pkce> {
        Ok(Pkce::from_verifier(random_b64url(32)?))
    }
    pub(crate) fn from_verifier(verifier: String) -> Pkce {
        let challenge = s256(&verifier);
        Pkce {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
    pub(crate) fn challenge(&self) -> &str {
        &self.challenge
    }
    /// Consumes the PKCE pair for the one token request it is for.
    pub(crate) fn into_verifier(self) -> Secret<String> {
        self.verifier
    }
}

/// `BASE64URL(SHA256(ASCII(verifier)))`.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Parameters of an interactive `/authorize` request (v2).
/// The OpenID Connect `prompt` values (`login --prompt`); `pub`: the public `cli` types hold one.
/// <https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest>
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Prompt {
    /// Ask for the credentials again
    Login,
    /// Show the consent page again
    Consent,
    /// Let the user pick an account
    #[value(name = "select_account")]
    SelectAccount,
    /// No page at all: fail when interaction is needed
    None,
}

impl Prompt {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
            Prompt::None => "none",
        }
    }
}

pub(crate) struct AuthorizeRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) redirect_uri: &'a str,
    /// Space-separated scopes, OIDC scopes included.
    pub(crate) scope: &'a str,
    pub(crate) state: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) code_challenge: &'a str,
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) prompt: Option<&'a str>,
}

/// `{authority}/{tenant}/oauth2/v2.0/authorize?...` with PKCE S256 and `response_mode=query`.
pub(crate) fn authorize_url(authority: &Url, tenant: &str, r: &AuthorizeRequest) -> Url {
    let mut url = join(authority, tenant, "oauth2/v2.0/authorize");
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", r.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", r.redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", r.scope)
            .append_pair("state", r.state)
            .append_pair("nonce", r.nonce)
            .append_pair("code_challenge", r.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(h) = r.login_hint {
            q.append_pair("login_hint", h);
        }
        if let Some(p) = r.prompt {
            q.append_pair("prompt", p);
        }
    }
    url
}

/// Which admin-consent request to build.
pub(crate) enum ConsentKind<'a> {
    /// `/{tenant}/adminconsent`: every permission configured on the app.
    All,
    /// `/{tenant}/v2.0/adminconsent` with explicit scopes.
    Scopes(&'a str),
    /// v1 `/{tenant}/oauth2/authorize?...&resource=R&prompt=admin_consent`.
    V1Resource(&'a str),
}

/// The admin-consent URL (the v2 `/adminconsent` forms, or v1 `prompt=admin_consent`).
pub(crate) fn consent_url(
    authority: &Url,
    tenant: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    kind: &ConsentKind,
) -> Url {
    let mut url = match kind {
        ConsentKind::All => join(authority, tenant, "adminconsent"),
        ConsentKind::Scopes(_) => join(authority, tenant, "v2.0/adminconsent"),
        ConsentKind::V1Resource(_) => join(authority, tenant, "oauth2/authorize"),
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", client_id);
        match kind {
            ConsentKind::All => {
                q.append_pair("redirect_uri", redirect_uri);
            }
            ConsentKind::Scopes(s) => {
                q.append_pair("redirect_uri", redirect_uri).append_pair("scope", s);
            }
            ConsentKind::V1Resource(r) => {
                q.append_pair("response_type", "code")
                    .append_pair("redirect_uri", redirect_uri)
                    .append_pair("resource", r)
                    .append_pair("prompt", "admin_consent");
            }
        }
        q.append_pair("state", state);
    }
    url
}

/// The scopes of an interactive sign-in: the requested ones plus `openid profile offline_access`.
pub(crate) fn with_oidc_scopes(scopes: &str) -> String {
    let mut out: Vec<&str> = scopes.split_whitespace().collect();
    for s in ["openid", "profile", "offline_access"] {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(" ")
}

/// The scopes without `openid profile offline_access email`: what a `user` cache entry is keyed by.
pub(crate) fn without_oidc_scopes(scopes: &str) -> String {
    let rest: Vec<&str> = scopes
        .split_whitespace()
        .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access" | "email"))
        .collect();
    if rest.is_empty() {
        scopes.trim().to_string()
    } else {
        rest.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority() -> Url {
        Url::parse("https://login.microsoftonline.com").unwrap()
    }

    fn query(u: &Url) -> Vec<(String, String)> {
        u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    #[test]
    fn pkce_s256_known_value() {
        // challenge computed independently: base64url(hashlib.sha256(verifier)) in Python
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU2p1r-wW1gFWFOEjXk".into());
        assert_eq!(p.challenge(), "ds6m7b3BphPhC5KVSTwj-8sjyMhumHpOHDawE-oZNgQ");
        let fresh = Pkce::new().unwrap();
        assert_eq!(fresh.into_verifier().expose().len(), 43);
    }

    #[test]
    fn states_are_long_and_distinct() {
        let (a, b) = (new_state().unwrap(), new_state().unwrap());
        assert_ne!(a, b);
        assert!(a.len() >= 22, "at least 128 bits: {a}");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn consent_urls() {
        let a = authority();
        let v2 = consent_url(
            &a,
            "organizations",
            "app",
            "http://localhost:1/",
            "s1",
            &ConsentKind::All,
        );
        assert_eq!(v2.path(), "/organizations/adminconsent");
        assert_eq!(
            query(&v2),
            vec![
                ("client_id".into(), "app".into()),
                ("redirect_uri".into(), "http://localhost:1/".into()),
                ("state".into(), "s1".into())
            ]
        );
        let sc = consent_url(
            &a,
            "t",
            "app",
            "r",
            "s",
            &ConsentKind::Scopes("https://graph.microsoft.com/.default"),
        );
        assert_eq!(sc.path(), "/t/v2.0/adminconsent");
        assert!(query(&sc).contains(&("scope".into(), "https://graph.microsoft.com/.default".into())));
        let v1 = consent_url(
            &a,
            "t",
            "app",
            "r",
            "s",
            &ConsentKind::V1Resource("https://manage.office.com"),
        );
        assert_eq!(v1.path(), "/t/oauth2/authorize");
        let q = query(&v1);
        for (k, v) in [
            ("response_type", "code"),
            ("resource", "https://manage.office.com"),
            ("prompt", "admin_consent"),
            ("state", "s"),
        ] {
            assert!(q.contains(&(k.into(), v.into())), "{k}: {q:?}");
        }
    }

    #[test]
    fn authorize_url_has_pkce_state_nonce() {
        let u = authorize_url(
            &authority(),
            "organizations",
            &AuthorizeRequest {
                client_id: "app",
                redirect_uri: "http://localhost:5000/",
                scope: "User.Read openid profile offline_access",
                state: "st",
                nonce: "no",
                code_challenge: "ch",
                login_hint: Some("a@b.c"),
                prompt: None,
            },
        );
        assert_eq!(u.path(), "/organizations/oauth2/v2.0/authorize");
        let q = query(&u);
        for (k, v) in [
            ("response_type", "code"),
            ("code_challenge_method", "S256"),
            ("code_challenge", "ch"),
            ("state", "st"),
            ("nonce", "no"),
            ("login_hint", "a@b.c"),
            ("redirect_uri", "http://localhost:5000/"),
        ] {
            assert!(q.contains(&(k.into(), v.into())), "{k}: {q:?}");
        }
        assert!(!q.iter().any(|(k, _)| k == "prompt"));
    }

    #[test]
    fn oidc_scopes_added_once() {
        assert_eq!(
            with_oidc_scopes("User.Read openid"),
            "User.Read openid profile offline_access"
        );
    }

    #[test]
    fn oidc_scopes_are_not_part_of_the_key() {
        assert_eq!(
            without_oidc_scopes("https://graph.microsoft.com/.default openid profile offline_access"),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(without_oidc_scopes("openid"), "openid");
    }
}
