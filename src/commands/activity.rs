//! `activity`: the Office 365 Management Activity API feed — `subscriptions start|stop|list` and
//! `pull` (NDJSON on stdout, resumable with `--state`). The engine (windows, listing, downloads,
//! state file) is `crate::activity`; this module checks the flags, gets the app-only token and
//! implements the engine's `ManagementApi` on the shared HTTP client (retries, `Retry-After`,
//! one fresh token after a 401, the service's `AFnnnnn` errors).
//! Reference: <https://learn.microsoft.com/en-us/office/office-365-management-api/office-365-management-activity-api-reference>.

mod client;
mod progress;

use crate::activity::feed::{self, CONTENT_TYPES, SubscriptionOp, UrlRule};
use crate::activity::pull::{self, Engine, PullOptions};
use crate::activity::state::StateFile;
use crate::activity::times;
use crate::cli::{ActivityCommand, ActivityPullArgs, FeedArgs, SubscriptionArgs, SubscriptionsCommand};
use crate::error::Result;
use crate::output;
use crate::protocol::authority::Tenant;
use crate::rt;
use crate::settings::Settings;
use client::Client;
use progress::StderrProgress;
use std::io::Write;

pub(crate) fn run(settings: &Settings, command: &ActivityCommand) -> Result<()> {
    match command {
        ActivityCommand::Subscriptions(SubscriptionsCommand::Start(a)) => {
            subscriptions(settings, a, SubscriptionOp::Start)
        }
        ActivityCommand::Subscriptions(SubscriptionsCommand::Stop(a)) => {
            subscriptions(settings, a, SubscriptionOp::Stop)
        }
        ActivityCommand::Subscriptions(SubscriptionsCommand::List(f)) => list_subscriptions(settings, f),
        ActivityCommand::Pull(a) => pull(settings, a),
    }
}

/// `--content-type`s checked and canonical, in the order given (default: all five).
fn content_types(given: &[String]) -> Result<Vec<String>> {
    if given.is_empty() {
        return Ok(CONTENT_TYPES.iter().map(|s| s.to_string()).collect());
    }
    let mut out: Vec<String> = Vec::new();
    for t in given {
        let ct = feed::content_type(t)?.to_string();
        if !out.contains(&ct) {
            out.push(ct);
        }
    }
    Ok(out)
}

fn subscriptions(settings: &Settings, args: &SubscriptionArgs, op: SubscriptionOp) -> Result<()> {
    let types = content_types(&args.content_types)?;
    let progress = StderrProgress::new();
    rt::block_on(async {
        let client = Client::connect(settings, &args.feed, &progress).await?;
        for ct in &types {
            let body = client.subscription(op, Some(ct)).await?;
            if op == SubscriptionOp::Start {
                write_json_line(&body)?;
            }
        }
        Ok(())
    })
}

fn list_subscriptions(settings: &Settings, args: &FeedArgs) -> Result<()> {
    let progress = StderrProgress::new();
    rt::block_on(async {
        let client = Client::connect(settings, args, &progress).await?;
        let body = client.subscription(SubscriptionOp::List, None).await?;
        write_json_line(&body)
    })
}

fn write_json_line(body: &[u8]) -> Result<()> {
    let mut line = body.trim_ascii_end().to_vec();
    line.push(b'\n');
    output::write_stdout(&line)
}

fn pull(settings: &Settings, args: &ActivityPullArgs) -> Result<()> {
    // Everything that can be checked locally is checked before anything is sent.
    let now = rt::now();
    let content_types = content_types(&args.content_types)?;
    let since = args
        .since
        .as_deref()
        .map(|t| times::parse_time(t, "--since", now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| times::parse_time(t, "--until", now))
        .transpose()?;
    if let Some(since) = since {
        times::check_since(since, now)?;
    }
    times::resolve_until(until, since, now)?;
    let overlap = match &args.overlap {
        Some(d) => times::parse_duration(d, "--overlap")?,
        None => times::DEFAULT_OVERLAP,
    };
    let concurrency = pull::check_concurrency(args.concurrency)?;
    // A tenant GUID names the state file's tenant before the token does: a foreign state file is
    // refused with nothing sent.
    let mut state = match (&args.state, settings.tenant.as_ref().map(|(t, _)| t)) {
        (Some(path), Some(Tenant::Id(tid))) => Some(StateFile::open(path, tid, settings.timeout, now)?),
        _ => None,
    };
    let progress = StderrProgress::new();
    rt::block_on(async {
        let client = Client::connect(settings, &args.feed, &progress).await?;
        if let Some(path) = &args.state {
            match &state {
                Some(s) if s.tenant() != client.tenant() => {
                    return Err(crate::error::Error::usage(format!(
                        "--state {}: the token is for tenant {}, not {}",
                        path.display(),
                        client.tenant(),
                        s.tenant()
                    )));
                }
                Some(_) => {}
                None => state = Some(StateFile::open(path, client.tenant(), settings.timeout, now)?),
            }
        }
        let opts = PullOptions {
            content_types,
            since,
            until,
            overlap,
            now,
        };
        let plan = pull::plan(&opts, state.as_ref(), &progress)?;
        let rule = match client.base_override() {
            Some(base) => UrlRule::rebasing(
                base,
                &url::Url::parse(settings.cloud.management()).expect("built-in Management URL"),
            ),
            None => UrlRule::new(client.base()),
        };
        let engine = Engine::new(&client, rule, concurrency, now, &progress)?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let summary = engine.pull(&plan, state.as_mut(), &mut out).await?;
        if !summary.stdout_closed {
            let _ = out.flush();
        }
        crate::log::info(format!(
            "{} window(s), {} blob(s), {} event(s) written, {} blob(s) delivered before",
            summary.windows, summary.blobs, summary.events, summary.skipped
        ));
        Ok(())
    })
}
