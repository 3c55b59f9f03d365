//! What `api` does with a reply: the body streamed to stdout (or reindented with `--pretty`),
//! pages merged or written as NDJSON (`--paginate`), and the exit-5 summary of a non-2xx answer.

use super::session::Session;
use super::{ERROR_BODY_CAP, PAGE_CAP, PRETTY_CAP, Plan};
use crate::cli::ApiArgs;
use crate::error::{Error, Kind, Result};
use crate::http::pager::{self, Pager, Shape};
use crate::http::{Deadline, Pending};
use crate::log;
use crate::output::jq::JqFilter;
use crate::output::{self, ItemFormat, ItemWriter, Sink};
use crate::protocol::api::{self as api_proto, ApiKind, ServiceError};
use url::Url;

/// Without `--paginate`: the body goes to stdout as it arrives (no size cap), or whole and
/// reindented with `--pretty`, or whole through the `--jq` filter.
pub(super) async fn single(
    session: &mut Session<'_, '_>,
    plan: &Plan,
    args: &ApiArgs,
    jq: Option<&JqFilter>,
) -> Result<()> {
    let (mut pending, deadline) = session.call(&plan.method, &plan.url, plan).await?;
    if !pending.is_success() {
        return Err(failure(pending, deadline, plan, args).await);
    }
    if let Some(filter) = jq {
        let reply = pending.read_by(PRETTY_CAP, deadline).await?;
        let mut out = Vec::new();
        // an empty body (204 No Content) is no input: no output, as `jq` says nothing for it
        if !reply.body.trim_ascii().is_empty() {
            filter
                .run_json(&reply.body, &mut out)
                .map_err(|e| e.into_error(Kind::Api))?;
        }
        return output::write_stdout(&out);
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

/// `--paginate`: page after page over one connection, items written as each page arrives. With
/// `--jq`, as `gh api --paginate --jq` does, the filter runs on each page as received (with
/// `--ndjson`, on each item) and its results are written instead.
pub(super) async fn paginate(
    session: &mut Session<'_, '_>,
    plan: &Plan,
    args: &ApiArgs,
    jq: Option<&JqFilter>,
) -> Result<()> {
    let format = if args.ndjson {
        ItemFormat::Ndjson
    } else {
        ItemFormat::Merged { pretty: args.pretty }
    };
    let mut writer = ItemWriter::new(format);
    let mut pager = Pager::new(plan.url.clone(), args.max_pages);
    let mut delta_link = None;
    let mut filtered_items = 0;
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
        if let Some(filter) = jq {
            let mut out = Vec::new();
            let ran = if args.ndjson && page.shape != Shape::Single {
                page.items
                    .iter()
                    .try_for_each(|item| filter.run_json(item.get().as_bytes(), &mut out))
            } else {
                filter.run_json(&reply.body, &mut out)
            };
            ran.map_err(|e| {
                let mut e = e.into_error(Kind::Api);
                e.message = format!("page {number}: {}", e.message);
                e
            })?;
            if !writer.raw(&out)? || !writer.page_done()? || page.shape == Shape::Single {
                return Ok(());
            }
            filtered_items += page.items.len() as u64;
            session
                .progress
                .update(&[("pages", pager.pages), ("items", filtered_items)]);
            continue;
        }
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
        session
            .progress
            .update(&[("pages", pager.pages), ("items", writer.items())]);
    }
    let trailer: Vec<(&str, &str)> = delta_link.iter().map(|d| ("@odata.deltaLink", d.as_str())).collect();
    writer.finish(&trailer)?;
    if let Some(next) = &pager.stopped_before {
        session.progress.finish(); // the warning gets its own line
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
        403 if plan.delegated => Some(match api_proto::missing_permission(plan.method.as_str(), url) {
            Some(p) => format!(
                "the signed-in user's token likely lacks the delegated permission {p} (or the user lacks the role): add it under API permissions (Delegated), then sign in again with `entra-token login --scope` naming it"
            ),
            None => "the signed-in user's token likely lacks a delegated permission for this call (or the user lacks the role): check the API's permissions reference, then sign in again with `entra-token login --scope` naming it".to_string(),
        }),
        403 => Some(match api_proto::missing_permission(plan.method.as_str(), url) {
            Some(p) => format!(
                "the app likely lacks the application permission {p}: add it under API permissions (Application) and grant admin consent, then get a new token"
            ),
            None => "the app likely lacks an application permission for this call: check the API's permissions reference, add it under API permissions (Application) and grant admin consent".to_string(),
        }),
        400 | 404
            if plan.scope.is_some()
                && !plan.delegated
                && url.path_segments().is_some_and(|mut s| s.nth(1) == Some("me")) =>
        {
            Some("/me is the signed-in user, and an app-only token has none: sign in with `entra-token login` and add --user, or use /users/{id or userPrincipalName}".to_string())
        }
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

/// `-i`: the status line and headers, on stderr (stdout is the body only), redacted.
pub(super) fn print_head(p: &Pending) {
    let reason = reqwest::StatusCode::from_u16(p.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut text = format!("{:?} {} {reason}\n", p.version, p.status);
    for (k, v) in &p.headers {
        // redacted as -vv does: a server may echo the bearer token in a header
        text.push_str(&format!(
            "{k}: {}\n",
            crate::log::header_value_for_display(k.as_str(), v.as_bytes())
        ));
    }
    text.push('\n');
    eprint!("{text}");
}

fn host(url: &Url) -> &str {
    url.host_str().unwrap_or("the server")
}
