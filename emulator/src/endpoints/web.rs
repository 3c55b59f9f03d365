//! Browser-facing replies of the sign-in endpoints: redirects carrying parameters in the query
//! or the fragment, auto-submitting `form_post` pages, and Entra's sign-in error page.

use std::collections::BTreeMap;

use crate::aadsts::AadError;

/// A browser-facing reply (redirect, form_post page, error page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebReply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The sign-in error page (no redirect), as Entra shows for AADSTS50011 and friends.
pub(crate) fn error_page(e: &AadError) -> WebReply {
    let trace = uuid::Uuid::new_v4();
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head><body>\n\
         <h1>Sorry, but we're having trouble signing you in.</h1>\n\
         <p id=\"error\">AADSTS{}: {}</p>\n<p>Request Id: {trace}</p>\n\
         <p><small>entra-token emulator (a test double of Microsoft Entra ID)</small></p>\n</body></html>\n",
        e.code,
        html_escape(&e.message)
    );
    WebReply {
        status: e.status,
        headers: Vec::new(),
        content_type: "text/html; charset=utf-8",
        body,
    }
}

/// How `/authorize` sends its result to the redirect URI (`response_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Query,
    Fragment,
    FormPost,
}

/// Sends `params` to `redirect_uri` by redirect (query or fragment) or an auto-submitting form.
pub(crate) fn deliver(redirect_uri: &str, params: &[(&str, String)], mode: Mode) -> WebReply {
    match mode {
        Mode::FormPost => {
            let inputs: String = params
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>",
                        html_escape(k),
                        html_escape(v)
                    )
                })
                .collect();
            WebReply {
                status: 200,
                headers: vec![("cache-control".into(), "no-store".into())],
                content_type: "text/html; charset=utf-8",
                body: format!(
                    "<!DOCTYPE html>\n<html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\">\n<form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\"/></noscript></form>\n</body></html>\n",
                    html_escape(redirect_uri)
                ),
            }
        }
        Mode::Query | Mode::Fragment => {
            let location = match url::Url::parse(redirect_uri) {
                Ok(mut u) => {
                    if mode == Mode::Query {
                        {
                            let mut q = u.query_pairs_mut();
                            for (k, v) in params {
                                q.append_pair(k, v);
                            }
                        }
                    } else {
                        let frag: String = url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                            .finish();
                        u.set_fragment(Some(&frag));
                    }
                    u.to_string()
                }
                Err(_) => redirect_uri.to_string(),
            };
            WebReply {
                status: 302,
                headers: vec![
                    ("location".into(), location),
                    ("cache-control".into(), "no-store".into()),
                ],
                content_type: "text/html; charset=utf-8",
                body: String::new(),
            }
        }
    }
}

/// Query parameters as a map (first value wins).
pub(crate) fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    m
}

/// The redirect parameters of a sign-in the user declined (AADSTS65004).
pub(crate) fn declined(params: &mut Vec<(&str, String)>, state: Option<&String>, admin_consent: bool) {
    params.push(("error", "access_denied".into()));
    params.push(("error_subcode", "cancel".into()));
    params.push((
        "error_description",
        "AADSTS65004: User declined to consent to access the app.".into(),
    ));
    params.push(("error_uri", "https://login.microsoftonline.com/error?code=65004".into()));
    if admin_consent {
        params.push(("admin_consent", "True".into()));
    }
    if let Some(s) = state {
        params.push(("state", s.clone()));
    }
}

/// The error redirect of `/authorize`: `error`, `error_description`, `error_uri`, `state`.
pub(crate) fn error_redirect(redirect_uri: &str, e: &AadError, state: Option<&String>, mode: Mode) -> WebReply {
    let mut params = vec![
        ("error", e.error.to_string()),
        ("error_description", format!("AADSTS{}: {}", e.code, e.message)),
        (
            "error_uri",
            format!("https://login.microsoftonline.com/error?code={}", e.code),
        ),
    ];
    if let Some(s) = state {
        params.push(("state", s.clone()));
    }
    deliver(redirect_uri, &params, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_carry_parameters() {
        let r = deliver(
            "http://localhost:8400/cb?x=1",
            &[("code", "a b".into()), ("state", "s".into())],
            Mode::Query,
        );
        assert_eq!(r.status, 302);
        assert_eq!(r.headers[0].1, "http://localhost:8400/cb?x=1&code=a+b&state=s");
        let f = deliver("http://localhost:1/", &[("code", "<x>".into())], Mode::FormPost);
        assert_eq!(f.status, 200);
        assert!(f.body.contains("value=\"&lt;x&gt;\""));
        let g = deliver("http://localhost:1/", &[("code", "c".into())], Mode::Fragment);
        assert_eq!(g.headers[0].1, "http://localhost:1/#code=c");
    }
}
