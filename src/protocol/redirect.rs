//! What a browser brings back to a redirect URI, as pure functions (no I/O): loopback redirect
//! URIs the listener can serve, and the parameters of a redirect — success, consent outcome, or
//! one of Entra's error forms
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>).

use crate::error::{Error, Result};
use crate::hints;
use crate::secret::Secret;
use url::Url;

/// A redirect URI the loopback listener can serve: `http`, a loopback host, and its port
/// (0 = any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoopbackUri {
    pub(crate) url: Url,
    pub(crate) host: LoopbackHost,
    pub(crate) port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoopbackHost {
    /// `localhost`: served on 127.0.0.1 and [::1] (browsers may resolve either).
    Localhost,
    V4,
    V6,
}

impl LoopbackUri {
    /// Checks that `raw` can be served locally; names `flag` in the error.
    pub(crate) fn parse(raw: &str, flag: &str) -> Result<LoopbackUri> {
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
    pub(crate) fn with_port(&self, port: u16) -> Url {
        let mut u = self.url.clone();
        let _ = u.set_port(Some(port));
        u
    }
}

/// What came back on the redirect URI's query string.
#[derive(Debug, Default)]
pub(crate) struct RedirectParams {
    pub(crate) code: Option<Secret<String>>,
    pub(crate) state: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) admin_consent: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
    pub(crate) error_subcode: Option<String>,
}

impl RedirectParams {
    /// Parses a query string (the first value of a repeated name wins).
    pub(crate) fn from_query(query: &str) -> RedirectParams {
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
    pub(crate) fn from_url(raw: &str) -> Result<RedirectParams> {
        let url = Url::parse(raw.trim())
            .map_err(|e| Error::usage(format!("--redirect-url: '{}' is not a URL", raw.trim())).cause(e))?;
        // a fragment response (response_mode=fragment) carries the same parameters
        let query = url.query().or(url.fragment()).unwrap_or("");
        Ok(RedirectParams::from_query(query))
    }

    /// Whether this looks like an OAuth redirect at all (and not, say, a browser's probe).
    pub(crate) fn is_redirect(&self) -> bool {
        self.code.is_some() || self.error.is_some() || self.tenant.is_some() || self.admin_consent.is_some()
    }

    /// The exit-3 error for an `error=` redirect, showing the AADSTS code(s); `None` if no error.
    pub(crate) fn error(&self, what: &str) -> Option<Error> {
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
    pub(crate) fn state_matches(&self, expected: &str) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The exit-2 error for a redirect whose `state` is not the one this run sent.
pub(crate) fn state_mismatch() -> Error {
    Error::usage("the redirect's state does not match the one sent: it was not started by this command, so it was refused and nothing was redeemed")
        .hint("start again with a new command and use the URL that run prints (a stale tab or a forged link can cause this)")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
