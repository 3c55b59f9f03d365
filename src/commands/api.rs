//! `api`: one authenticated call to Graph, Intune, the Office 365 Management Activity API or
//! ARM, or (`--paginate`) a whole collection merged or as NDJSON. Everything that can be checked
//! locally is checked before anything is sent (exit 2); the token comes from the token layer
//! ([`TokenSource`], as for `get`) and only ever goes to the origin of the URL asked for;
//! 429/503/504 are retried by `http::Http`; a 401 for a token that ran out gets one fresh token;
//! a non-2xx answer ends with exit 5 and a summary on stderr.

mod reply;
mod session;

use crate::cli::ApiArgs;
use crate::error::{Error, Result};
use crate::http::{Http, retry};
use crate::input;
use crate::log;
use crate::output::jq::JqFilter;
use crate::progress::Progress;
use crate::protocol::api::{self as api_proto, ApiKind, ServiceBase};
use crate::protocol::authority::{self, Audience, Endpoint};
use crate::rt;
use crate::settings::Settings;
use crate::token::TokenSource;
use session::Session;
use url::Url;

/// A page of a paginated collection larger than this is refused (exit 4). Pages are held one at
/// a time, so this bounds memory, not the collection: a page's bytes plus its parsed items come
/// to several times the page size. Services page far below it (Graph: at most 999 items).
pub(crate) const PAGE_CAP: usize = 32 * 1024 * 1024;
/// The most of a single (not paginated) reply that `--pretty` reads whole to reindent it.
pub(crate) const PRETTY_CAP: usize = 256 * 1024 * 1024;
/// The most of an error reply (or a retried reply) that is read.
pub(crate) const ERROR_BODY_CAP: usize = 4 * 1024 * 1024;
/// A token is renewed before a request when it has less than this many seconds left.
const RENEW_BELOW: i64 = 60;
/// Freshness asked of the cache for an `api` token (as `get`'s default `--min-validity`).
const MIN_VALIDITY: i64 = 300;

/// What the command line asks for, checked; nothing has been sent yet.
struct Plan {
    method: reqwest::Method,
    url: Url,
    headers: Vec<(String, String)>,
    body: Option<bytes::Bytes>,
    /// The token's scope; `None` when the user sends their own `Authorization`.
    scope: Option<String>,
    kind: Option<ApiKind>,
    /// `--user`: a delegated token (else app-only, or the user's own header).
    delegated: bool,
}

/// Where the bearer token comes from: the token layer (app-only, or with `--user` the signed-in
/// account's), or nowhere when the user sends their own `Authorization`.
enum Auth<'s> {
    /// The user passed `-H 'Authorization: ...'`: it is sent as given, nothing is fetched.
    UserHeader,
    Token(Box<TokenSource<'s>>),
}

pub(crate) fn run(settings: &Settings, args: &ApiArgs) -> Result<()> {
    let jq = args.jq.as_deref().map(JqFilter::compile).transpose()?;
    let plan = plan(settings, args)?;
    let credential = settings.credential(&args.credential);
    let auth = match &plan.scope {
        None => Auth::UserHeader,
        Some(scope) if args.user => Auth::Token(Box::new(TokenSource::user(
            settings,
            &credential,
            scope.clone(),
            args.account.as_deref(),
        )?)),
        Some(scope) => Auth::Token(Box::new(TokenSource::app(
            settings,
            &credential,
            Endpoint::V2,
            Audience::Scope(scope.clone()),
        )?)),
    };
    rt::block_on(async {
        let mut session = Session {
            http: Http::for_api(settings.timeout, &settings.tls_roots)?,
            policy: retry::Policy::api(args.max_retries, &plan.method),
            timeout: settings.timeout,
            auth: &auth,
            token: None,
            token_from_cache: false,
            origin: plan.url.origin(),
            include: args.include,
            progress: Progress::for_stderr(log::verbosity()),
        };
        let result = if args.paginate {
            reply::paginate(&mut session, &plan, args, jq.as_ref()).await
        } else {
            reply::single(&mut session, &plan, args, jq.as_ref()).await
        };
        session.progress.finish();
        result
    })
}

/// Flag and input checks, URL, headers, body and scope: everything that can fail before a byte
/// is sent (exit 2).
fn plan(settings: &Settings, args: &ApiArgs) -> Result<Plan> {
    let method = match &args.method {
        Some(m) => reqwest::Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| Error::usage(format!("-X: '{m}' is not an HTTP method")))?,
        None if args.input.is_some() => reqwest::Method::POST,
        None => reqwest::Method::GET,
    };
    if args.paginate && method != reqwest::Method::GET {
        return Err(
            Error::usage(format!("--paginate follows next links of GET requests, not {method}"))
                .hint("drop --paginate, or -X/--input"),
        );
    }
    let bases = service_bases(settings, args)?;
    let asked = target_url(&args.target, &bases[0].base)?;
    let (url, service) = api_proto::route(&asked, &bases);

    let mut headers = Vec::new();
    let mut user_authorization = false;
    let mut content_type = false;
    for raw in &args.headers {
        let (name, value) = parse_header(raw)?;
        user_authorization |= name.eq_ignore_ascii_case("authorization");
        content_type |= name.eq_ignore_ascii_case("content-type");
        headers.push((name, value));
    }
    let body = match &args.input {
        Some(path) => {
            let bytes = input::read(path, "--input", input::BODY_CAP, settings.timeout)?;
            if !content_type {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(bytes::Bytes::from(bytes))
        }
        None => None,
    };

    let mut kind = if api_proto::is_management_path(&url) {
        Some(ApiKind::Management)
    } else {
        service.as_ref().map(|(k, _)| *k)
    };
    let scope = if user_authorization {
        None
    } else if let Some(s) = &args.scope {
        Some(s.trim().to_string())
    } else {
        match service {
            Some((_, s)) => Some(s),
            None => {
                let host = url.host_str().unwrap_or("");
                let hint = if authority::is_loopback(&url) {
                    // a local stand-in (the emulator): its tokens keep the real service's audience
                    "for a local stand-in of Graph, the Office 365 Management Activity API or Azure Resource Manager (such as `entra-token emulator`), pass its base URL with --graph-url, --management-url or --arm-url (or ENTRA_TOKEN_GRAPH_URL, ENTRA_TOKEN_MANAGEMENT_URL, ENTRA_TOKEN_ARM_URL): the token keeps the real audience; for another API pass --scope with its App ID URI + /.default".to_string()
                } else {
                    format!(
                        "pass --scope (e.g. --scope https://{host}/.default, or the API's App ID URI + /.default), --graph-url if it is a Graph endpoint, or your own -H 'Authorization: ...'"
                    )
                };
                return Err(Error::usage(format!(
                    "no token scope is known for {}; nothing was sent",
                    url.origin().ascii_serialization()
                ))
                .hint(hint));
            }
        }
    };
    kind = kind.or_else(|| scope.as_deref().and_then(api_proto::kind_of_scope));
    Ok(Plan {
        method,
        url,
        headers,
        body,
        scope,
        kind,
        delegated: args.user,
    })
}

/// Graph, the Management Activity API and ARM: each the cloud's, or the override its flag or
/// variable names (Graph first: relative paths go there).
fn service_bases(settings: &Settings, args: &ApiArgs) -> Result<[ServiceBase; 3]> {
    let (graph, graph_set) = settings.graph_base(args.graph_url.as_deref())?;
    let (management, management_set) = settings.management_base(args.management_url.as_deref())?;
    let (arm, arm_set) = settings.arm_base(args.arm_url.as_deref())?;
    Ok([
        ServiceBase {
            kind: ApiKind::Graph,
            base: graph,
            resource: settings.cloud.graph().to_string(),
            overridden: graph_set,
        },
        ServiceBase {
            kind: ApiKind::Management,
            base: management,
            resource: settings.cloud.management().to_string(),
            overridden: management_set,
        },
        ServiceBase {
            kind: ApiKind::ResourceManager,
            base: arm,
            resource: settings.cloud.arm().to_string(),
            overridden: arm_set,
        },
    ])
}

/// An absolute `https://` (or loopback `http://`) URL as given, or a path under the Graph base.
fn target_url(target: &str, graph_base: &Url) -> Result<Url> {
    let t = target.trim();
    if t.is_empty() {
        return Err(
            Error::usage("the API URL or path is empty").hint("e.g. entra-token api /v1.0/me, or a full https:// URL")
        );
    }
    authority::check_url_text(t, "the API URL")?;
    let url = if t.contains("://") {
        Url::parse(t)
            .map_err(|e| Error::usage(format!("'{}' is not a valid URL", authority::without_userinfo(t))).cause(e))?
    } else {
        let base = graph_base.as_str().trim_end_matches('/');
        let joined = format!("{base}/{}", t.trim_start_matches('/'));
        Url::parse(&joined).map_err(|e| Error::usage(format!("'{t}' is not a valid path")).cause(e))?
    };
    authority::check_url(&url, "the API URL")?;
    authority::check_transport(&url, "the API URL")?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::usage(format!("'{t}' has no host")));
    }
    Ok(url)
}

/// `-H 'Name: value'`.
fn parse_header(raw: &str) -> Result<(String, String)> {
    let bad = || {
        Error::usage(format!("-H '{raw}' is not a header"))
            .hint("write it as -H 'Name: value', e.g. -H 'ConsistencyLevel: eventual'")
    };
    let (name, value) = raw.split_once(':').ok_or_else(bad)?;
    let (name, value) = (name.trim(), value.trim());
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
        || reqwest::header::HeaderValue::from_str(value).is_err()
    {
        return Err(bad());
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_targets() {
        assert_eq!(
            parse_header("ConsistencyLevel: eventual").unwrap(),
            ("ConsistencyLevel".into(), "eventual".into())
        );
        assert_eq!(parse_header("X-Empty:").unwrap().1, "");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
        let g = Url::parse("https://graph.microsoft.com").unwrap();
        assert_eq!(
            target_url("/v1.0/users?$top=5", &g).unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/users?$top=5"
        );
        assert_eq!(
            target_url("v1.0/me", &g).unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/me"
        );
        let emu = Url::parse("http://127.0.0.1:9999/").unwrap();
        assert_eq!(
            target_url("/beta/x", &emu).unwrap().as_str(),
            "http://127.0.0.1:9999/beta/x"
        );
        assert_eq!(target_url("http://example.com/x", &g).unwrap_err().exit_code(), 2);
        assert_eq!(target_url("ftp://example.com/x", &g).unwrap_err().exit_code(), 2);
        for bad in [
            "",
            "  ",
            "/me\nx",
            "https://u:pw@graph.microsoft.com/v1.0/me",
            "https://../x",
        ] {
            let e = target_url(bad, &g).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
            assert!(!e.render().contains("pw@"), "{}", e.render());
        }
    }
}
