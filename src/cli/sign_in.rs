//! The delegated (user) commands: `consent-url`, `redeem`, `login` and `logout`.

use super::{CredentialArgs, ListFormat};
use crate::output::OutputFormat;
use crate::protocol::authorize::Prompt;
use clap::Args;

pub(super) const CONSENT_EXAMPLES: &str = "\
Examples:
  entra-token consent-url --redirect-uri https://app.contoso.com/callback
  TENANT=$(entra-token consent-url --listen)                # serves http://localhost:<free port>/
  entra-token consent-url --listen --scope https://graph.microsoft.com/.default -o json
  entra-token consent-url --v1 --resource https://manage.office.com --redirect-uri https://app.contoso.com/callback
Then: entra-token get --tenant \"$TENANT\" (app-only tokens for the customer's tenant).";

pub(super) const LOGIN_EXAMPLES: &str = "\
Examples:
  entra-token login                                         # browser sign-in, Graph scopes
  entra-token login --no-browser --login-hint admin@contoso.com
  entra-token login --device-code                           # on a machine without a browser
  entra-token get --user --scope https://graph.microsoft.com/User.Read
  entra-token logout --account admin@contoso.com
No credential configured: a public client (nothing secret is sent). With one: a confidential client.";

#[derive(Debug, Args)]
pub struct ConsentUrlArgs {
    /// Explicit scopes: the /{tenant}/v2.0/adminconsent form (`/.default` for app permissions)
    #[arg(long, value_name = "SCOPE", conflicts_with = "v1")]
    pub scope: Option<String>,
    /// The v1 form: /oauth2/authorize with prompt=admin_consent (needs --resource)
    #[arg(long, requires = "resource")]
    pub v1: bool,
    /// With --v1: the resource to consent to, e.g. https://manage.office.com
    #[arg(long, value_name = "URI", requires = "v1")]
    pub resource: Option<String>,
    /// The state to send [default: a new random value]
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Where Entra sends the admin back [default with --listen: http://localhost:0/, a free port]
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,
    /// Serve the redirect URI on loopback and print the outcome (the tenant ID)
    #[arg(long)]
    pub listen: bool,
    /// With --listen: do not open a browser (the URL is printed on stderr)
    #[arg(long, requires = "listen")]
    pub no_browser: bool,
    /// With --listen: seconds to wait for the redirect
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub wait: u64,
    /// With --listen: the outcome as the tenant ID alone (text) or JSON
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: ListFormat,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

#[derive(Debug, Args)]
pub struct RedeemArgs {
    /// The authorization code
    #[arg(
        long,
        value_name = "CODE",
        required_unless_present = "redirect_url",
        conflicts_with = "redirect_url"
    )]
    pub code: Option<String>,
    /// The whole URL the browser landed on (code and state are taken from it)
    #[arg(long, value_name = "URL")]
    pub redirect_url: Option<String>,
    /// The redirect URI used at /authorize [default: the --redirect-url without its query]
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,
    /// Refuse a --redirect-url whose state is not this one
    #[arg(long, value_name = "STATE", requires = "redirect_url")]
    pub expected_state: Option<String>,
    /// File holding the PKCE code verifier, if /authorize had a code_challenge ('-' reads stdin)
    #[arg(long, value_name = "PATH")]
    pub code_verifier_file: Option<std::path::PathBuf>,
    /// Refused: a code verifier on the command line is visible to other users (see --code-verifier-file)
    #[arg(long, hide = true, value_name = "VERIFIER", num_args = 0..=1, allow_hyphen_values = true)]
    pub code_verifier: Option<Option<String>>,
    /// v2 scope(s) [default: the cloud's Graph /.default plus openid profile offline_access]
    #[arg(long, value_name = "SCOPE", conflicts_with = "resource")]
    pub scope: Option<String>,
    /// With --v1: the resource
    #[arg(long, value_name = "URI", requires = "v1")]
    pub resource: Option<String>,
    /// Use the v1 endpoint (/oauth2/token with resource=)
    #[arg(long)]
    pub v1: bool,
    /// Output format
    #[arg(short, long, value_name = "FORMAT", default_value = "token")]
    pub output: OutputFormat,
    /// Include `refresh_token` in -o json (it is stored in the cache either way)
    #[arg(long)]
    pub show_refresh_token: bool,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Scopes to sign in for (openid profile offline_access are added) [default: the cloud's Graph /.default]
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Loopback redirect URI to listen on; port 0 picks a free port
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://localhost:0/",
        conflicts_with = "device_code"
    )]
    pub redirect_uri: String,
    /// Pre-fill the account name on the sign-in page
    #[arg(long, value_name = "UPN")]
    pub login_hint: Option<String>,
    /// Sent as OpenID Connect's `prompt`
    #[arg(long, value_name = "PROMPT")]
    pub prompt: Option<Prompt>,
    /// Seconds to wait for the browser sign-in (or for the device code to be entered)
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub wait: u64,
    /// Do not open a browser (the URL is printed on stderr)
    #[arg(long)]
    pub no_browser: bool,
    /// Device-code flow: enter a code on another device instead of a local browser
    #[arg(long)]
    pub device_code: bool,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Only this account (UPN)
    #[arg(long, value_name = "UPN")]
    pub account: Option<String>,
}
