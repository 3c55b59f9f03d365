//! `activity`: the Office 365 Management Activity API feed — `subscriptions start|stop|list`,
//! `pull` (NDJSON on stdout, resumable with `--state`) and `listen` (the webhook receiver). The
//! engine (windows, listing, downloads, state file, the receiver's decisions) is
//! `crate::activity`; this module checks the flags, gets the app-only token, implements the
//! engine's `ManagementApi` on the shared HTTP client (retries, `Retry-After`, one fresh token
//! after a 401, the service's `AFnnnnn` errors) and runs the receiver's HTTP server.
//! Reference: <https://learn.microsoft.com/en-us/office/office-365-management-api/office-365-management-activity-api-reference>.

mod client;
mod listen;
mod progress;

use crate::activity::feed::{self, CONTENT_TYPES, SubscriptionOp, UrlRule};
use crate::activity::pull::{self, Engine, PullOptions};
use crate::activity::state::StateFile;
use crate::activity::times;
use crate::activity::webhook::AuthId;
use crate::cli::{
    ActivityCommand, ActivityListenArgs, ActivityPullArgs, FeedArgs, SubscriptionArgs, SubscriptionStartArgs,
    SubscriptionsCommand,
};
use crate::env::EnvVars;
use crate::error::{Error, Result};
use crate::protocol::authority::Tenant;
use crate::rt;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::{input, output};
use client::Client;
use progress::StderrProgress;
use std::io::Write;
use std::path::Path;

pub(crate) fn run(settings: &Settings, command: &ActivityCommand) -> Result<()> {
    match command {
        ActivityCommand::Subscriptions(SubscriptionsCommand::Start(a)) => start_subscriptions(settings, a),
        ActivityCommand::Subscriptions(SubscriptionsCommand::Stop(a)) => {
            subscriptions(settings, a, SubscriptionOp::Stop, None)
        }
        ActivityCommand::Subscriptions(SubscriptionsCommand::List(f)) => list_subscriptions(settings, f),
        ActivityCommand::Pull(a) => pull(settings, a),
        ActivityCommand::Listen(a) => listen(settings, a),
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

/// The webhook's auth id: `--auth-id-file`, else `ENTRA_TOKEN_WEBHOOK_AUTH_ID`; with where it
/// came from (for errors).
fn auth_id(settings: &Settings, file: Option<&Path>) -> Result<Option<(Secret<String>, String)>> {
    if let Some(path) = file {
        let secret = input::read_secret(path, "--auth-id-file", settings.timeout)?;
        return Ok(Some((secret, "--auth-id-file".to_string())));
    }
    Ok(settings
        .webhook_auth_id()
        .map(|secret| (secret, EnvVars::ENTRA_TOKEN_WEBHOOK_AUTH_ID.to_string())))
}

/// `--webhook URL`: HTTPS (plain HTTP only to a loopback address, for local tests).
fn webhook_address(text: &str) -> Result<url::Url> {
    let bad = |why: &str| Error::usage(format!("--webhook {text:?}: {why}"));
    let url = url::Url::parse(text.trim()).map_err(|e| bad("not a URL").cause(e))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(bad("the service only notifies https:// addresses")
                .hint("put `activity listen` behind a reverse proxy that terminates TLS"));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials in the URL are not sent; the auth id is the webhook's secret",
        ));
    }
    Ok(url)
}

fn start_subscriptions(settings: &Settings, args: &SubscriptionStartArgs) -> Result<()> {
    let body = match &args.webhook {
        None => None,
        Some(address) => {
            let address = webhook_address(address)?;
            let (secret, _) = auth_id(settings, args.auth_id_file.as_deref())?.ok_or_else(|| {
                Error::usage(
                    "--webhook needs the webhook's auth id: --auth-id-file PATH or ENTRA_TOKEN_WEBHOOK_AUTH_ID",
                )
                .hint("the same secret `activity listen` is given; the service sends it with every notification")
            })?;
            let body = serde_json::json!({"webhook": {
                "address": address.as_str(),
                "authId": secret.expose(),
                "expiration": "",
            }});
            Some(Secret::new(body.to_string().into_bytes()))
        }
    };
    subscriptions(settings, &args.subscription, SubscriptionOp::Start, body.as_ref())
}

fn subscriptions(
    settings: &Settings,
    args: &SubscriptionArgs,
    op: SubscriptionOp,
    body: Option<&Secret<Vec<u8>>>,
) -> Result<()> {
    let types = content_types(&args.content_types)?;
    let progress = StderrProgress::new();
    let body = body.map(|b| bytes::Bytes::copy_from_slice(b.expose()));
    rt::block_on(async {
        let client = Client::connect(settings, &args.feed, &progress).await?;
        for ct in &types {
            let body = client.subscription(op, Some(ct), body.as_ref()).await?;
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
        let body = client.subscription(SubscriptionOp::List, None, None).await?;
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
    let state = open_state_early(settings, args.state.as_deref(), now)?;
    let progress = StderrProgress::new();
    rt::block_on(async {
        let client = Client::connect(settings, &args.feed, &progress).await?;
        let mut state = state_for_token(settings, args.state.as_deref(), state, &client, now)?;
        let opts = PullOptions {
            content_types,
            since,
            until,
            overlap,
            now,
        };
        let plan = pull::plan(&opts, state.as_ref(), &progress)?;
        let rule = url_rule(settings, &client);
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

/// The rule for the URLs the service hands out: the Management API's origin (with
/// `--management-url`, URLs on the cloud's real host are rebased onto it).
fn url_rule(settings: &Settings, client: &Client<'_>) -> UrlRule {
    match client.base_override() {
        Some(base) => UrlRule::rebasing(
            base,
            &url::Url::parse(settings.cloud.management()).expect("built-in Management URL"),
        ),
        None => UrlRule::new(client.base()),
    }
}

/// A tenant GUID names the state file's tenant before the token does: a foreign state file is
/// refused with nothing sent.
fn open_state_early(settings: &Settings, path: Option<&Path>, now: i64) -> Result<Option<StateFile>> {
    match (path, settings.tenant.as_ref().map(|(t, _)| t)) {
        (Some(path), Some(Tenant::Id(tid))) => Ok(Some(StateFile::open(path, tid, settings.timeout, now)?)),
        _ => Ok(None),
    }
}

/// The state file for the token's tenant (`tid`): the one opened early, checked, or opened now.
fn state_for_token(
    settings: &Settings,
    path: Option<&Path>,
    early: Option<StateFile>,
    client: &Client<'_>,
    now: i64,
) -> Result<Option<StateFile>> {
    let Some(path) = path else { return Ok(None) };
    match early {
        Some(s) if s.tenant() != client.tenant() => Err(Error::usage(format!(
            "--state {}: the token is for tenant {}, not {}",
            path.display(),
            client.tenant(),
            s.tenant()
        ))),
        Some(s) => Ok(Some(s)),
        None => Ok(Some(StateFile::open(path, client.tenant(), settings.timeout, now)?)),
    }
}

fn listen(settings: &Settings, args: &ActivityListenArgs) -> Result<()> {
    // Everything that can be checked locally is checked before anything is sent or bound.
    let bind: std::net::SocketAddr = args.bind.trim().parse().map_err(|_| {
        Error::usage(format!("--bind {:?} is not ADDR:PORT", args.bind))
            .hint("for example 127.0.0.1:8400 behind the reverse proxy, or [::]:8400 in a container")
    })?;
    let (secret, source) = auth_id(settings, args.auth_id_file.as_deref())?.ok_or_else(|| {
        Error::usage("activity listen needs the webhook's auth id: --auth-id-file PATH or ENTRA_TOKEN_WEBHOOK_AUTH_ID")
            .hint("the secret given to `activity subscriptions start --webhook URL`; the service sends it as Webhook-AuthId")
    })?;
    let auth = AuthId::new(&secret, &source)?;
    drop(secret);
    let concurrency = pull::check_concurrency(args.concurrency)?;
    let now = rt::now();
    let state = open_state_early(settings, args.state.as_deref(), now)?;
    let progress = StderrProgress::new();
    rt::block_on(async {
        let stop = listen::Stop::install()?;
        let client = Client::connect(settings, &args.feed, &progress).await?;
        let state = state_for_token(settings, args.state.as_deref(), state, &client, now)?;
        let rule = url_rule(settings, &client);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| Error::usage(format!("cannot listen on --bind {bind}")).cause(e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal("a listener without an address").cause(e))?;
        eprintln!("listening for the Management Activity API's notifications on http://{addr}/");
        let receiver = listen::Receiver {
            auth,
            tenant: client.tenant(),
            rule: &rule,
            progress: &progress,
        };
        let worker = listen::Worker {
            client: &client,
            rule: &rule,
            concurrency,
            progress: &progress,
            state,
        };
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let served = listen::serve(listener, stop, receiver, worker, &mut out).await;
        let _ = out.flush();
        served
    })
}
