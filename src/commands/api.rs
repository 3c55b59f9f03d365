//! `api`: one authenticated call to Graph, Intune, the Office 365 Management Activity API or
//! ARM, or (`--paginate`) a whole collection merged or as NDJSON. Everything that can be checked
//! locally is checked before anything is sent (exit 2); the token comes from the token layer
//! ([`TokenSource`], as for `get`) and only ever goes to the origin of the URL asked for;
//! 429/503/504 are retried by `http::Http`; a 401 for a token that ran out gets one fresh token;
//! a non-2xx answer ends with exit 5 and a summary on stderr.

use crate::cache::CachedToken;
use crate::cli::ApiArgs;
use crate::error::{Error, Result};
use crate::http::pager::{self, Pager, Shape};
use crate::http::{Deadline, Http, Pending, Request, retry};
use crate::input;
use crate::log;
use crate::output::{self, ItemFormat, ItemWriter, Sink};
use crate::protocol::api::{self as api_proto, ApiKind, ServiceError};
use crate::protocol::authority::{self, Audience, Endpoint};
use crate::rt;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::token::TokenSource;
use std::cell::Cell;
use std::io::IsTerminal;
use std::time::Duration;
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
}

/// Where the bearer token comes from: the token layer (app-only, or with `--user` the signed-in
/// account's), or nowhere when the user sends their own `Authorization`.
enum Auth<'s> {
    /// The user passed `-H 'Authorization: ...'`: it is sent as given, nothing is fetched.
    UserHeader,
    Token(Box<TokenSource<'s>>),
}

pub(crate) fn run(settings: &Settings, args: &ApiArgs) -> Result<()> {
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
            progress: Progress::new(),
        };
        let result = if args.paginate {
            paginate(&mut session, &plan, args).await
        } else {
            single(&mut session, &plan, args).await
        };
        session.progress.done();
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
    let graph_base = match &args.graph_url {
        Some(raw) => authority::parse_authority_host(raw, "--graph-url")?,
        None => Url::parse(settings.cloud.graph()).expect("built-in Graph URL"),
    };
    let url = target_url(&args.target, &graph_base)?;

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
            let bytes = input::read(path, "--input")?;
            if !content_type {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(bytes::Bytes::from(bytes))
        }
        None => None,
    };

    let mut kind = api_proto::kind_of(&url, &graph_base);
    let scope = if user_authorization {
        None
    } else if let Some(s) = &args.scope {
        Some(s.trim().to_string())
    } else {
        match api_proto::infer_scope(&url, &graph_base, &settings.default_scope()) {
            Some((_, s)) => Some(s),
            None => {
                let host = url.host_str().unwrap_or("");
                return Err(Error::usage(format!(
                    "no token scope is known for {}; nothing was sent",
                    url.origin().ascii_serialization()
                ))
                .hint(format!(
                    "pass --scope (e.g. --scope https://{host}/.default, or the API's App ID URI + /.default), --graph-url if it is a Graph endpoint, or your own -H 'Authorization: ...'"
                )));
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
    })
}

/// An absolute `https://` (or loopback `http://`) URL as given, or a path under the Graph base.
fn target_url(target: &str, graph_base: &Url) -> Result<Url> {
    let t = target.trim();
    let url = if t.contains("://") {
        Url::parse(t).map_err(|e| Error::usage(format!("'{t}' is not a valid URL")).cause(e))?
    } else {
        let base = graph_base.as_str().trim_end_matches('/');
        let joined = format!("{base}/{}", t.trim_start_matches('/'));
        Url::parse(&joined).map_err(|e| Error::usage(format!("'{t}' is not a valid path")).cause(e))?
    };
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

/// One run's connection, token and retry policy.
struct Session<'a, 's> {
    http: Http,
    policy: retry::Policy,
    timeout: Duration,
    auth: &'a Auth<'s>,
    token: Option<CachedToken>,
    /// Whether `token` was served from the cache (it may have been revoked since) rather than
    /// fetched by this run.
    token_from_cache: bool,
    /// The origin the token is for: the first URL's.
    origin: url::Origin,
    include: bool,
    progress: Progress,
}

impl Session<'_, '_> {
    /// The token to send to `url`: only to the token's own origin, renewed when nearly expired.
    async fn bearer(&mut self, url: &Url, force: bool) -> Result<Option<Secret<String>>> {
        let auth: &Auth<'_> = self.auth;
        let Auth::Token(source) = auth else {
            return Ok(None);
        };
        if url.origin() != self.origin {
            return Ok(None);
        }
        let renew = force
            || self
                .token
                .as_ref()
                .is_none_or(|t| t.meta.expires_on - rt::now() < RENEW_BELOW);
        if renew {
            let served = source.token_async(MIN_VALIDITY, force).await?;
            self.token = Some(served.token);
            self.token_from_cache = served.from_cache;
        }
        Ok(self.token.as_ref().and_then(|t| t.access_token.clone()))
    }

    /// A 401 is worth one fresh token when ours may have gone stale: it expired (or nearly) by
    /// our clock, or it came from the cache (revoked, or issued by another sign-in). A token
    /// fetched a moment ago would only be rejected again.
    fn token_may_be_stale(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| t.meta.expires_on - rt::now() < RENEW_BELOW || self.token_from_cache)
    }

    /// Sends one request (retries per policy), with one fresh-token retry after a 401.
    async fn call(&mut self, method: &reqwest::Method, url: &Url, plan: &Plan) -> Result<(Pending, Deadline)> {
        let mut refreshed = false;
        loop {
            let mut req = Request::new(method.clone(), url.clone());
            req.headers = plan.headers.clone();
            req.body = plan.body.clone();
            req.bearer = self.bearer(url, refreshed).await?;
            let sent_token = req.bearer.is_some();
            let deadline = Deadline::after(self.timeout);
            let progress = &self.progress;
            let on_wait = |status: u16, wait: Duration| progress.waiting(status, wait);
            let pending = self
                .http
                .send_streaming(&req, &self.policy, deadline, ERROR_BODY_CAP, &on_wait)
                .await?;
            if pending.status == 401 && sent_token && !refreshed && self.token_may_be_stale() {
                log::info("HTTP 401 for a token that may have expired: getting a new one and retrying once");
                let _ = pending.read_by(ERROR_BODY_CAP, deadline).await;
                refreshed = true;
                continue;
            }
            if self.include {
                print_head(&pending);
            }
            return Ok((pending, deadline));
        }
    }
}

/// Without `--paginate`: the body goes to stdout as it arrives (no size cap), or whole and
/// reindented with `--pretty`.
async fn single(session: &mut Session<'_, '_>, plan: &Plan, args: &ApiArgs) -> Result<()> {
    let (mut pending, deadline) = session.call(&plan.method, &plan.url, plan).await?;
    if !pending.is_success() {
        return Err(failure(pending, deadline, plan, args).await);
    }
    if args.pretty {
        let reply = pending.read_by(PRETTY_CAP, deadline).await?;
        let text = String::from_utf8_lossy(&reply.body);
        let mut out = Vec::with_capacity(reply.body.len() + 1);
        if serde_json::from_str::<&serde_json::value::RawValue>(&text).is_ok() {
            output::reformat_json(&text, Some(2), 0, &mut out);
            out.push(b'\n');
        } else {
            out.extend_from_slice(&reply.body);
        }
        return output::write_stdout(&out);
    }
    let mut sink = Sink::stdout();
    loop {
        let chunk = match tokio::time::timeout(session.timeout, pending.chunk()).await {
            Ok(c) => c?,
            Err(_) => {
                return Err(Error::network(format!(
                    "the reply from {} stalled for {} s",
                    host(&pending.url),
                    session.timeout.as_secs_f64()
                ))
                .hint("raise --timeout (it bounds each wait for more of the body)"));
            }
        };
        match chunk {
            Some(bytes) => {
                if !sink.write(&bytes)? {
                    return Ok(());
                }
            }
            None => break,
        }
    }
    sink.flush().map(|_| ())
}

/// `--paginate`: page after page over one connection, items written as each page arrives.
async fn paginate(session: &mut Session<'_, '_>, plan: &Plan, args: &ApiArgs) -> Result<()> {
    let format = if args.ndjson {
        ItemFormat::Ndjson
    } else {
        ItemFormat::Merged { pretty: args.pretty }
    };
    let mut writer = ItemWriter::new(format);
    let mut pager = Pager::new(plan.url.clone(), args.max_pages);
    let mut delta_link = None;
    while let Some(url) = pager.next_url().cloned() {
        let (pending, deadline) = session.call(&plan.method, &url, plan).await?;
        if !pending.is_success() {
            writer.page_done()?;
            return Err(failure(pending, deadline, plan, args).await);
        }
        let next_page_uri = pending.header("nextpageuri").map(str::to_string);
        let page_url = pending.url.clone();
        let number = pager.pages + 1;
        let reply = pending.read_by(PAGE_CAP, deadline).await.map_err(|mut e| {
            // e.g. "page 3: the reply from graph.microsoft.com is too large (...; the limit is 32 MiB)"
            e.message = format!("page {number}: {}", e.message);
            e
        })?;
        let page = pager::parse_page(&reply.body, next_page_uri.as_deref()).map_err(|why| {
            Error::network(format!(
                "page {number} from {} is not a JSON page: {why}",
                host(&page_url)
            ))
        })?;
        let first = pager.pages == 0;
        pager.advance(&page, &page_url)?;
        if page.shape == Shape::Single {
            // not a collection: written as it is (a single page by construction)
            writer.single(&reply.body)?;
            return Ok(());
        }
        if first {
            let mut members = Vec::new();
            if let Some(c) = page.context {
                members.push(("@odata.context", c));
            }
            if let Some(c) = page.count {
                members.push(("@odata.count", c));
            }
            writer.begin(page.shape == Shape::Collection, &members)?;
        }
        for item in &page.items {
            if !writer.item(item)? {
                return Ok(());
            }
        }
        if !writer.page_done()? {
            return Ok(());
        }
        delta_link = page.delta_link.clone().or(delta_link);
        session.progress.page(pager.pages, writer.items());
    }
    let trailer: Vec<(&str, &str)> = delta_link.iter().map(|d| ("@odata.deltaLink", d.as_str())).collect();
    writer.finish(&trailer)?;
    if let Some(next) = &pager.stopped_before {
        log::warn(format!(
            "stopped after {} page{} (--max-pages); the next page would have been {next}",
            pager.pages,
            if pager.pages == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

/// A non-2xx answer: its body on stdout with `--include-error-body`, and the exit-5 summary.
async fn failure(pending: Pending, deadline: Deadline, plan: &Plan, args: &ApiArgs) -> Error {
    let status = pending.status;
    let url = pending.url.clone();
    let location = pending.header("location").map(str::to_string);
    let reply = match pending.read_by(ERROR_BODY_CAP, deadline).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    if args.include_error_body
        && let Err(e) = output::write_stdout(&reply.body)
    {
        return e;
    }
    let found = ServiceError::parse(&reply.body, |h| reply.header(h).map(str::to_string));
    summary(status, &found, &url, location.as_deref(), plan)
}

/// The one-paragraph summary of a non-2xx answer (exit 5).
fn summary(status: u16, found: &ServiceError, url: &Url, location: Option<&str>, plan: &Plan) -> Error {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let who = plan.kind.map(ApiKind::label).unwrap_or("the API");
    let mut text = format!(
        "{who} answered HTTP {status} {reason} to {} {}",
        plan.method,
        url.path()
    )
    .trim_end()
    .to_string();
    match (&found.code, &found.message) {
        (Some(c), Some(m)) => text.push_str(&format!(": {c}: {m}")),
        (Some(c), None) => text.push_str(&format!(": {c}")),
        (None, Some(m)) => text.push_str(&format!(": {m}")),
        (None, None) => {}
    }
    if let Some(id) = &found.request_id {
        text.push_str(&format!(" (request-id {id})"));
    }
    let mut err = Error::api(text);
    let hint = match status {
        401 if plan.scope.is_none() => Some("the Authorization header you passed was not accepted".to_string()),
        401 => Some(format!(
            "the token was not accepted: check that its audience ({}) is the API's and that the tenant in the URL is the token's tenant (AF20010 for the Management API); pass --scope if the host needs another audience",
            plan.scope.as_deref().unwrap_or("")
        )),
        403 => Some(match api_proto::missing_permission(plan.method.as_str(), url) {
            Some(p) => format!(
                "the app likely lacks the application permission {p}: add it under API permissions (Application) and grant admin consent, then get a new token"
            ),
            None => "the app likely lacks an application permission for this call: check the API's permissions reference, add it under API permissions (Application) and grant admin consent".to_string(),
        }),
        404 => Some("check the path and the API version (v1.0 or beta)".to_string()),
        429 | 503 | 504 => Some(
            "still throttled or unavailable after the retries: raise --max-retries or --timeout, or try again later"
                .to_string(),
        ),
        300..=399 => Some(match location {
            Some(l) => format!(
                "the API redirects to {l}; entra-token follows at most {} redirects and never to plain http",
                crate::http::API_MAX_REDIRECTS
            ),
            None => "the API answered a redirect without a Location".to_string(),
        }),
        _ => None,
    };
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err
}

/// `-i`: the status line and headers, on stderr (stdout is the body only).
fn print_head(p: &Pending) {
    let reason = reqwest::StatusCode::from_u16(p.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("{:?} {} {reason}\n", p.version, p.status);
    for (k, v) in &p.headers {
        text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    text.push('\n');
    eprint!("{text}");
}

fn host(url: &Url) -> &str {
    url.host_str().unwrap_or("the server")
}

/// Pages, items and throttling waits on one stderr line, only when stderr is a terminal.
struct Progress {
    on: bool,
    shown: Cell<bool>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            on: std::io::stderr().is_terminal() && log::verbosity() == 0,
            shown: Cell::new(false),
        }
    }

    fn line(&self, text: &str) {
        if self.on {
            eprint!("\r\x1b[K{text}");
            self.shown.set(true);
        }
    }

    fn page(&self, pages: u64, items: u64) {
        self.line(&format!(
            "{pages} page{}, {items} items",
            if pages == 1 { "" } else { "s" }
        ));
    }

    fn waiting(&self, status: u16, wait: Duration) {
        let why = if status == 0 {
            "connection failed".to_string()
        } else {
            format!("HTTP {status}")
        };
        self.line(&format!("{why}: waiting {:.1} s before retrying", wait.as_secs_f64()));
    }

    fn done(&self) {
        if self.shown.get() {
            eprint!("\r\x1b[K");
        }
    }
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
    }
}
