//! `api`: an authenticated call to Graph, Intune, the Management Activity API or ARM.

use super::CredentialArgs;
use clap::Args;
use std::path::PathBuf;

pub(super) const API_EXAMPLES: &str = "\
Examples:
  entra-token api /v1.0/users                                  # Graph (the cloud's, or --graph-url)
  entra-token api --paginate --ndjson '/beta/deviceManagement/managedDevices?$top=100' > devices.ndjson
  entra-token api --paginate -H 'ConsistencyLevel: eventual' '/v1.0/users?$count=true&$filter=endsWith(mail,'\\''@contoso.com'\\'')'
  entra-token api /v1.0/users --jq '.value[].userPrincipalName'   # one per line, no quotes
  entra-token api -X POST /v1.0/groups --input group.json      # Content-Type: application/json
  entra-token api --paginate \"https://manage.office.com/api/v1.0/$TENANT/activity/feed/subscriptions/content?contentType=Audit.General\"
  entra-token api --scope api://my-api/.default https://my-api.example.com/items

Scopes: Graph, the Office 365 Management Activity API and Azure Resource Manager hosts (all clouds)
get their /.default scope; any other host needs --scope (or your own -H 'Authorization: ...').
The token is sent only to the origin of URL; next links and redirects to another origin never get it.
stdout is the body as received; -i prints the status line and headers to stderr.
A non-2xx answer (after retrying 429/503/504) exits 5 with a summary on stderr.";

/// `api`: one authenticated call, or a paginated collection.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Absolute URL, or a path such as /v1.0/users that goes to Microsoft Graph
    #[arg(value_name = "URL|PATH")]
    pub target: String,
    /// HTTP method [default: GET, or POST with --input]
    #[arg(short = 'X', long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Request header 'Name: value', repeatable, sent on every page; your own Authorization
    /// replaces the token
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Send the body from FILE ('-' = stdin) as application/json unless -H sets Content-Type
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print the status line and response headers to stderr (stdout stays the body)
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Reindent JSON bodies (by default they are written as received)
    #[arg(long)]
    pub pretty: bool,
    /// Follow @odata.nextLink, nextLink (ARM) and NextPageUri (Management API); GET only
    #[arg(long)]
    pub paginate: bool,
    /// With --paginate: one item per line instead of one merged JSON document
    #[arg(long, requires = "paginate", conflicts_with = "pretty")]
    pub ndjson: bool,
    /// Filter the JSON body with a jq expression, one result per line (strings raw), as `gh api
    /// --jq`; with --paginate it runs on each page as received (with --ndjson: on each item)
    #[arg(long, value_name = "EXPR", conflicts_with = "pretty")]
    pub jq: Option<String>,
    /// With --paginate: stop after N pages
    #[arg(long, value_name = "N", requires = "paginate", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages: Option<u64>,
    /// Token scope for hosts other than Graph, Management and ARM (which are inferred)
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Graph base URL for relative paths, e.g. a national cloud or the emulator [default: the cloud's Graph]
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,
    /// Retries of 429, 503 and (idempotent methods) 504 per request, honouring Retry-After
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_retries: u32,
    /// On a non-2xx answer, write its body to stdout as well as the summary to stderr
    #[arg(long)]
    pub include_error_body: bool,
    /// A delegated token of the account signed in with `login` (from its refresh token)
    #[arg(long)]
    pub user: bool,
    /// With --user: which signed-in account, when there are several
    #[arg(long, value_name = "UPN", requires = "user")]
    pub account: Option<String>,
    #[command(flatten)]
    pub credential: CredentialArgs,
}
