//! The browser side of OAuth, as pure functions (no I/O): PKCE (S256), `state`/`nonce` values,
//! authorize and admin-consent URLs, loopback redirect URIs, and the parameters a redirect brings
//! back — success, consent outcome, or one of Entra's error forms (entra-protocol.md §6, §7).

use crate::error::{Error, Result};
use crate::hints;
use crate::protocol::authority::join;
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use url::Url;

/// `n` random bytes as base64url without padding (`state`, `nonce`, PKCE verifier).
pub fn random_b64url(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal("the OS random source failed").cause(e))?;
    Ok(URL_SAFE_NO_PAD.encode(&bytes))
}

/// A fresh, unguessable `state` or `nonce` (256 bits).
pub fn new_state() -> Result<String> {
    random_b64url(32)
}

/// PKCE (RFC 7636) with S256. The verifier is a secret used once: this type is deliberately not
/// `Clone`, so it cannot be copied out of the one redemption it belongs to.
pub struct Pkce {
    verifier: Secret<String>,
    challenge: String,
}

impl Pkce {
    /// A 43-character verifier (32 random bytes) and its S256 challenge.
    pub fn new() -> Result<Pkce> {
        Ok(Pkce::from_verifier(random_b64url(32)?))
    }
    pub fn from_verifier(verifier: String) -> Pkce {
        let challenge = s256(&verifier);
        Pkce {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
    /// Consumes the PKCE pair for the one token request it is for.
    pub fn into_verifier(self) -> Secret<String> {
        self.verifier
    }
}

/// `BASE64URL(SHA256(ASCII(verifier)))`.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Parameters of an interactive `/authorize` request (v2).
pub struct AuthorizeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Space-separated scopes, OIDC scopes included.
    pub scope: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub login_hint: Option<&'a str>,
    pub prompt: Option<&'a str>,
}

/// `{authority}/{tenant}/oauth2/v2.0/authorize?...` with PKCE S256 and `response_mode=query`.
pub fn authorize_url(authority: &Url, tenant: &str, r: &AuthorizeRequest) -> Url {
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
pub enum ConsentKind<'a> {
    /// `/{tenant}/adminconsent`: every permission configured on the app.
    All,
    /// `/{tenant}/v2.0/adminconsent` with explicit scopes.
    Scopes(&'a str),
    /// v1 `/{tenant}/oauth2/authorize?...&resource=R&prompt=admin_consent`.
    V1Resource(&'a str),
}

/// The admin-consent URL (entra-protocol.md §1, §6).
pub fn consent_url(
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

/// A redirect URI the loopback listener can serve: `http`, a loopback host, and its port
/// (0 = any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackUri {
    pub url: Url,
    pub host: LoopbackHost,
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopbackHost {
    /// `localhost`: served on 127.0.0.1 and [::1] (browsers may resolve either).
    Localhost,
    V4,
    V6,
}

impl LoopbackUri {
    /// Checks that `raw` can be served locally; names `flag` in the error.
    pub fn parse(raw: &str, flag: &str) -> Result<LoopbackUri> {
        let url = Url::parse(raw).map_err(|e| Error::usage(format!("{flag}: '{raw}' is not a URL")).cause(e))?;
        let listen_hint =
            "a local listener needs http://localhost:PORT/ (or http://127.0.0.1:PORT/); port 0 picks a free one";
        if url.scheme() != "http" {
            return Err(
                Error::usage(format!("{flag}: '{raw}' cannot be served on this machine (not http)")).hint(listen_hint),
            );
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => LoopbackHost::Localhost,
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => LoopbackHost::V4,
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => LoopbackHost::V6,
            _ => {
                return Err(Error::usage(format!("{flag}: '{raw}' is not a loopback address")).hint(listen_hint));
            }
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::usage(format!(
                "{flag}: '{raw}' must not have a query or fragment"
            )));
        }
        let port = url.port().unwrap_or(80);
        Ok(LoopbackUri { url, host, port })
    }

    /// The URI with the port actually bound.
    pub fn with_port(&self, port: u16) -> Url {
        let mut u = self.url.clone();
        let _ = u.set_port(Some(port));
        u
    }
}

/// What came back on the redirect URI's query string.
#[derive(Debug, Default)]
pub struct RedirectParams {
    pub code: Option<Secret<String>>,
    pub state: Option<String>,
    pub tenant: Option<String>,
    pub admin_consent: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub error_subcode: Option<String>,
}

impl RedirectParams {
    /// Parses a query string (the first value of a repeated name wins).
    pub fn from_query(query: &str) -> RedirectParams {
        let mut p = RedirectParams::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.into_owned();
            let slot = match k.as_ref() {
                "code" => {
                    if p.code.is_none() {
                        p.code = Some(Secret::new(v));
                    }
                    continue;
                }
                "state" => &mut p.state,
                "tenant" => &mut p.tenant,
                "admin_consent" => &mut p.admin_consent,
                "scope" => &mut p.scope,
                "error" => &mut p.error,
                "error_description" => &mut p.error_description,
                "error_subcode" => &mut p.error_subcode,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        p
    }

    /// Parses the full URL a browser landed on (`redeem --redirect-url`).
    pub fn from_url(raw: &str) -> Result<RedirectParams> {
        let url = Url::parse(raw.trim())
            .map_err(|e| Error::usage(format!("--redirect-url: '{}' is not a URL", raw.trim())).cause(e))?;
        // a fragment response (response_mode=fragment) carries the same parameters
        let query = url.query().or(url.fragment()).unwrap_or("");
        Ok(RedirectParams::from_query(query))
    }

    /// Whether this looks like an OAuth redirect at all (and not, say, a browser's probe).
    pub fn is_redirect(&self) -> bool {
        self.code.is_some() || self.error.is_some() || self.tenant.is_some() || self.admin_consent.is_some()
    }

    /// The exit-3 error for an `error=` redirect, showing the AADSTS code(s); `None` if no error.
    pub fn error(&self, what: &str) -> Option<Error> {
        let error = self.error.as_deref()?;
        let description = self.error_description.as_deref().unwrap_or("");
        let codes = hints::codes_in_text(description);
        let label: Vec<String> = codes.iter().map(|c| format!("AADSTS{c}")).collect();
        let mut head = format!("the {what} was not completed: {error}");
        if !label.is_empty() {
            head.push_str(&format!(" ({})", label.join(", ")));
        }
        let mut err = Error::rejected(head);
        let summary = description.split(['\r', '\n']).next().unwrap_or("").trim();
        if !summary.is_empty() {
            err = err.cause(summary.to_string());
        }
        if let Some(sub) = &self.error_subcode {
            err = err.cause(format!("error_subcode: {sub}"));
        }
        let hint = if self.error_subcode.as_deref() == Some("cancel") {
            Some("the sign-in or consent was cancelled in the browser: run the command again to retry")
        } else {
            hints::for_codes(&codes)
        };
        if let Some(h) = hint {
            err = err.hint(h);
        }
        Some(err)
    }

    /// Checks `state` against the expected value (missing counts as different).
    pub fn state_matches(&self, expected: &str) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The exit-2 error for a redirect whose `state` is not the one this run sent.
pub fn state_mismatch() -> Error {
    Error::usage("the redirect's state does not match the one sent: it was not started by this command, so it was refused and nothing was redeemed")
        .hint("run the command again and complete the sign-in in the browser it opens (a stale tab or a forged link can cause this)")
}

/// The scopes of an interactive sign-in: the requested ones plus `openid profile offline_access`.
pub fn with_oidc_scopes(scopes: &str) -> String {
    let mut out: Vec<&str> = scopes.split_whitespace().collect();
    for s in ["openid", "profile", "offline_access"] {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(" ")
}

/// The token URL of a grant at `tenant`.
pub fn device_code_url(authority: &Url, tenant: &str) -> Url {
    join(authority, tenant, "oauth2/v2.0/devicecode")
}

/// The signed-in user, from the id_token (else the access token): UPN, tenant and object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `preferred_username` or `upn` (or v1's `unique_name`), lower-cased: the account's name in
    /// the cache and for `--account`.
    pub upn: String,
    pub tid: Option<String>,
    pub oid: Option<String>,
}

impl Account {
    /// The account named by the first token that has a user name claim.
    pub fn from_tokens(tokens: &[Option<&str>]) -> Option<Account> {
        tokens.iter().flatten().find_map(|t| {
            let d = super::jwt::decode(t)?;
            let c = &d.claims;
            let upn = ["preferred_username", "upn", "unique_name", "email"]
                .iter()
                .find_map(|k| super::jwt::claim_str(c, k).filter(|v| !v.trim().is_empty()))?;
            Some(Account {
                upn: upn.trim().to_ascii_lowercase(),
                tid: super::jwt::claim_str(c, "tid").map(str::to_string),
                oid: super::jwt::claim_str(c, "oid").map(str::to_string),
            })
        })
    }
}

/// The nonce claim of an id_token (to compare with the one sent at /authorize).
pub fn id_token_nonce(id_token: &str) -> Option<String> {
    let d = super::jwt::decode(id_token)?;
    super::jwt::claim_str(&d.claims, "nonce").map(str::to_string)
}

/// A device authorization reply (RFC 8628; Entra's v1-style replies say `verification_url`,
/// and `interval`/`expires_in` may be strings).
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: Secret<String>,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: u64,
    pub interval: u64,
    pub message: Option<String>,
}

impl DeviceAuthorization {
    pub fn from_json(v: &serde_json::Value) -> Option<DeviceAuthorization> {
        let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        let num = |k: &str| super::token::int_field(v, k).filter(|n| *n >= 0).map(|n| n as u64);
        Some(DeviceAuthorization {
            device_code: Secret::new(s("device_code")?),
            user_code: s("user_code")?,
            verification_uri: s("verification_uri").or_else(|| s("verification_url"))?,
            expires_in: num("expires_in").unwrap_or(900),
            interval: num("interval").unwrap_or(5),
            message: s("message"),
        })
    }

    /// What to tell the user: Entra's own message, else one built from the URI and code.
    pub fn instructions(&self) -> String {
        self.message.clone().unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}",
                self.verification_uri, self.user_code
            )
        })
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
    fn loopback_uris() {
        let l = LoopbackUri::parse("http://localhost:0/", "--redirect-uri").unwrap();
        assert_eq!((l.host, l.port), (LoopbackHost::Localhost, 0));
        assert_eq!(l.with_port(5123).as_str(), "http://localhost:5123/");
        assert_eq!(
            LoopbackUri::parse("http://127.0.0.1:8400/cb", "x").unwrap().host,
            LoopbackHost::V4
        );
        assert_eq!(
            LoopbackUri::parse("http://[::1]:8400/", "x").unwrap().host,
            LoopbackHost::V6
        );
        assert_eq!(LoopbackUri::parse("http://localhost/", "x").unwrap().port, 80);
        for bad in [
            "https://localhost/",
            "http://app.contoso.com/",
            "http://10.0.0.1/",
            "nonsense",
        ] {
            assert_eq!(LoopbackUri::parse(bad, "x").unwrap_err().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn redirect_success_forms() {
        let p = RedirectParams::from_query("code=abc&state=s1&session_state=x");
        assert_eq!(p.code.as_ref().unwrap().expose(), "abc");
        assert!(p.state_matches("s1") && !p.state_matches("s2") && p.error("sign-in").is_none());
        let c = RedirectParams::from_query(
            "admin_consent=True&tenant=t-1&state=s&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        );
        assert_eq!(c.tenant.as_deref(), Some("t-1"));
        assert_eq!(c.scope.as_deref(), Some("https://graph.microsoft.com/.default"));
        assert!(c.is_redirect());
        assert!(!RedirectParams::from_query("").is_redirect());
        assert!(!RedirectParams::from_query("code=a").state_matches("s"));
        let u = RedirectParams::from_url("http://localhost:5000/?code=c&state=z").unwrap();
        assert_eq!(u.state.as_deref(), Some("z"));
        assert_eq!(RedirectParams::from_url("not a url").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn redirect_error_forms() {
        let cases = [
            (
                "error=permission_denied&error_description=The+admin+canceled+the+request",
                None,
            ),
            (
                "admin_consent=True&error=consent_required&error_description=AADSTS65004%3a+User+declined&state=s",
                Some(65004),
            ),
            (
                "error=access_denied&error_subcode=cancel&error_description=AADSTS65004%3a+User+declined+to+consent.&state=s",
                Some(65004),
            ),
        ];
        for (q, code) in cases {
            let p = RedirectParams::from_query(q);
            let e = p.error("admin consent").expect("an error");
            assert_eq!(e.exit_code(), 3);
            if let Some(c) = code {
                assert!(e.render().contains(&format!("AADSTS{c}")), "{}", e.render());
            }
        }
        let cancel = RedirectParams::from_query("error=access_denied&error_subcode=cancel")
            .error("x")
            .unwrap();
        assert!(cancel.render().contains("cancelled"));
        assert_eq!(state_mismatch().exit_code(), 2);
    }

    #[test]
    fn oidc_scopes_added_once() {
        assert_eq!(
            with_oidc_scopes("User.Read openid"),
            "User.Read openid profile offline_access"
        );
    }

    #[test]
    fn accounts_from_tokens() {
        use base64::Engine;
        let enc = |v: &str| URL_SAFE_NO_PAD.encode(v.as_bytes());
        let jwt = |claims: &str| format!("{}.{}.sig", enc(r#"{"alg":"RS256","typ":"JWT"}"#), enc(claims));
        let id = jwt(r#"{"preferred_username":"Admin@Contoso.onmicrosoft.com","tid":"t","oid":"o","nonce":"n1"}"#);
        let at = jwt(r#"{"upn":"other@x.com"}"#);
        let a = Account::from_tokens(&[Some(&id), Some(&at)]).unwrap();
        assert_eq!(a.upn, "admin@contoso.onmicrosoft.com");
        assert_eq!((a.tid.as_deref(), a.oid.as_deref()), (Some("t"), Some("o")));
        assert_eq!(Account::from_tokens(&[None, Some(&at)]).unwrap().upn, "other@x.com");
        assert!(Account::from_tokens(&[Some("opaque")]).is_none());
        assert_eq!(id_token_nonce(&id).as_deref(), Some("n1"));
    }

    #[test]
    fn device_authorization_forms() {
        let v2 = serde_json::json!({"device_code":"d","user_code":"U1","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"go"});
        let d = DeviceAuthorization::from_json(&v2).unwrap();
        assert_eq!((d.expires_in, d.interval, d.instructions().as_str()), (900, 5, "go"));
        let v1 = serde_json::json!({"device_code":"d","user_code":"U1","verification_url":"https://aka.ms/devicelogin","expires_in":"600","interval":"2"});
        let d = DeviceAuthorization::from_json(&v1).unwrap();
        assert_eq!((d.expires_in, d.interval), (600, 2));
        assert!(d.instructions().contains("https://aka.ms/devicelogin") && d.instructions().contains("U1"));
        assert!(DeviceAuthorization::from_json(&serde_json::json!({"user_code":"x"})).is_none());
    }
}
