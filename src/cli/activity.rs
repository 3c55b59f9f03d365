//! `activity`: the Office 365 Management Activity API feed — subscriptions, a resumable pull and
//! the webhook receiver.

use super::CredentialArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

pub(super) const ACTIVITY_EXAMPLES: &str = "\
Examples:
  entra-token activity subscriptions start                     # all five content types
  entra-token activity subscriptions list
  entra-token activity pull --state ~/.local/state/o365.json >> audit.ndjson
  entra-token activity pull --content-type Audit.AzureActiveDirectory --since 6h | jq -c .Operation
  entra-token activity subscriptions start --webhook https://hooks.example.com/o365 --auth-id-file hook.secret
  entra-token activity listen --bind 127.0.0.1:8400 --auth-id-file hook.secret --state o365.json >> audit.ndjson

Events are written to stdout as NDJSON, each blob's events together and in listing order.
With --state, every event is written once across runs (after a kill, only the blobs that were
in flight may come again); the state file is locked for the whole run. `listen` is the webhook
receiver to put behind a TLS reverse proxy; the auth id (a shared secret) comes from
--auth-id-file or ENTRA_TOKEN_WEBHOOK_AUTH_ID, never from the command line.";

/// `activity`: subscriptions, the pull and the webhook receiver.
#[derive(Debug, Subcommand)]
pub enum ActivityCommand {
    /// Start, stop or list the tenant's content subscriptions
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// Write the feed's events as NDJSON, in windows of at most 24 hours, resumably with --state
    Pull(ActivityPullArgs),
    /// Receive the feed's webhook notifications (behind a TLS reverse proxy) and write their events as NDJSON
    Listen(ActivityListenArgs),
}

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Start subscriptions (default: all five content types), optionally with a webhook
    Start(SubscriptionStartArgs),
    /// Stop subscriptions (default: all five content types)
    Stop(SubscriptionArgs),
    /// List the tenant's subscriptions (the service's JSON)
    List(FeedArgs),
}

/// What every call to the feed needs.
#[derive(Debug, Args)]
pub struct FeedArgs {
    /// The Management API's base URL, e.g. the emulator [env: ENTRA_TOKEN_MANAGEMENT_URL] [default: the cloud's]
    #[arg(long, value_name = "URL")]
    pub management_url: Option<String>,
    /// Sent as PublisherIdentifier on every call (the throttling quota) [default: the token's tenant id]
    #[arg(long, value_name = "GUID")]
    pub publisher_id: Option<String>,
    /// Retries of 429, 503 and 504 per request, honouring Retry-After
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_retries: u32,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

#[derive(Debug, Args)]
pub struct SubscriptionArgs {
    /// Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General or DLP.All; repeatable [default: all]
    #[arg(long = "content-type", value_name = "TYPE")]
    pub content_types: Vec<String>,
    #[command(flatten)]
    pub feed: FeedArgs,
}

#[derive(Debug, Args)]
pub struct SubscriptionStartArgs {
    #[command(flatten)]
    pub subscription: SubscriptionArgs,
    /// Have the service notify this HTTPS address (where `activity listen` is reachable) of new content
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Read the webhook's auth id (a shared secret the service sends as Webhook-AuthId) from PATH [env: ENTRA_TOKEN_WEBHOOK_AUTH_ID]
    #[arg(long, value_name = "PATH", requires = "webhook")]
    pub auth_id_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ActivityListenArgs {
    /// IP:PORT to listen on, e.g. 127.0.0.1:8400 behind the reverse proxy (port 0: any free port)
    #[arg(long, value_name = "ADDRESS")]
    pub bind: String,
    /// Read the auth id the notifications must carry (Webhook-AuthId) from PATH [env: ENTRA_TOKEN_WEBHOOK_AUTH_ID]
    #[arg(long, value_name = "PATH")]
    pub auth_id_file: Option<PathBuf>,
    /// The state file (as for pull): notified content already delivered is not fetched again
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Content blobs of one notification downloaded at once (1 to 64)
    #[arg(long, value_name = "N", default_value_t = crate::activity::pull::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    pub feed: FeedArgs,
}

#[derive(Debug, Args)]
pub struct ActivityPullArgs {
    /// Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General or DLP.All; repeatable [default: all]
    #[arg(long = "content-type", value_name = "TYPE")]
    pub content_types: Vec<String>,
    /// Start: RFC 3339, a date, or a duration ago (90m, 24h, 7d) [default: the state's cursor, else 24h]
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// End: as --since; a future time counts as now [default: now]
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The state file: cursor and the content ids delivered in the last 7 days, one tenant per file
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// How far before the state's cursor listing starts again (late-arriving content) [default: 24h]
    #[arg(long, value_name = "DURATION")]
    pub overlap: Option<String>,
    /// Content blobs downloaded at once (1 to 64)
    #[arg(long, value_name = "N", default_value_t = crate::activity::pull::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    pub feed: FeedArgs,
}
