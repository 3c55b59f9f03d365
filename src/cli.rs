//! clap types only: the shape of the command line. House rules: every valued option has an
//! UPPERCASE value_name, doc comments are the help text, a value set shared with the rest of the
//! crate (cloud, cache mode, assertion algorithm, token output format) is declared once as a
//! `ValueEnum` in the module that owns the concept, and meaning and precedence (flags >
//! environment > profile) are resolved later, in `settings`. Environment variable names live in
//! `env`. One file per large command.

mod activity;
mod api;
mod cache;
mod cert;
mod get;
mod sign_in;

pub use activity::{
    ActivityCommand, ActivityListenArgs, ActivityPullArgs, FeedArgs, SubscriptionArgs, SubscriptionStartArgs,
    SubscriptionsCommand,
};
pub use api::ApiArgs;
pub use cache::{CacheClearArgs, CacheCommand, CacheOutputArgs};
pub use cert::{CertCommand, CertCreateArgs, CertInspectArgs, CertManifestArgs, CertOutputFormat};
pub use get::GetArgs;
pub use sign_in::{ConsentUrlArgs, LoginArgs, LogoutArgs, RedeemArgs};

use crate::cache::Mode;
use crate::credential::certificate::AssertionAlg;
use crate::protocol::authority::Cloud;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  TOKEN=$(entra-token get)                                  # Graph app-only token (AZURE_* env)
  curl -H \"$(entra-token get -o header)\" https://graph.microsoft.com/v1.0/users
  entra-token get --v1 --resource https://manage.office.com -o json
  entra-token get --tenant contoso.onmicrosoft.com --client-id APP_ID --client-secret-file secret.txt
  entra-token get --certificate app.pem                     # certificate credential (PEM or PFX)
  entra-token cert create --subject \"CN=my-app\" --out app.pem && entra-token cert inspect app.pem
  entra-token decode \"$TOKEN\"
  entra-token api --paginate --ndjson /v1.0/users         # every user, one JSON object per line
  entra-token emulator exec -- entra-token get -o json      # offline, no tenant needed

Environment: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_CLIENT_SEND_CERTIFICATE_CHAIN, AZURE_FEDERATED_TOKEN_FILE,
AZURE_AUTHORITY_HOST, ENTRA_TOKEN_PROFILE, ENTRA_TOKEN_CACHE; SSL_CERT_FILE/SSL_CERT_DIR add trusted CAs; HTTPS_PROXY/NO_PROXY are honoured.
Exit codes: 0 ok, 1 internal error, 2 usage or local input, 3 rejected by Entra (or a managed-identity
or Azure DevOps OIDC endpoint), 4 network or protocol,
5 the API answered non-2xx (api).";

/// The command line's definition: the derived one, with the help of the global `--tenant` and
/// `--client-id` reworded under `cache clear`, where they are filters taken from the flags alone
/// (`AZURE_TENANT_ID` and `AZURE_CLIENT_ID` do not narrow what is cleared).
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    // A subcommand's own argument with a global one's id takes its place there (clap propagates a
    // global argument only where none of that id exists); the values still reach `GlobalArgs`.
    let filter = |id: &'static str, long: &'static str, value_name: &'static str, help: &'static str, order| {
        clap::Arg::new(id)
            .long(long)
            .value_name(value_name)
            .help(help)
            .help_heading("Global options")
            .display_order(order)
    };
    cmd.mut_subcommand("cache", |cache| {
        cache.mut_subcommand("clear", |clear| {
            clear
                .arg(filter(
                    "tenant",
                    "tenant",
                    "TENANT",
                    "Only entries for this tenant (the flag only: AZURE_TENANT_ID is not a filter)",
                    0,
                ))
                .arg(filter(
                    "client_id",
                    "client-id",
                    "GUID",
                    "Only entries for this application (client) ID (the flag only: AZURE_CLIENT_ID is not a filter)",
                    1,
                ))
        })
    })
}

/// Microsoft Entra ID (Azure AD) OAuth 2.0 tokens for scripts and CI jobs.
#[derive(Debug, Parser)]
#[command(name = "entra-token", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Tenant: directory GUID or verified domain [env: AZURE_TENANT_ID]
    #[arg(long, global = true, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Application (client) ID [env: AZURE_CLIENT_ID]
    #[arg(long, global = true, value_name = "GUID")]
    pub client_id: Option<String>,
    /// Authority host URL, e.g. https://login.microsoftonline.us [env: AZURE_AUTHORITY_HOST]
    #[arg(long, global = true, value_name = "URL")]
    pub authority_host: Option<String>,
    /// National cloud: sets the authority, Graph and Management hosts together
    #[arg(long, global = true, value_name = "CLOUD")]
    pub cloud: Option<Cloud>,
    /// Profile from $XDG_CONFIG_HOME/entra-token/config.toml [env: ENTRA_TOKEN_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Deadline in seconds for one logical request, retries included [default: 30; 90 for a managed identity]
    #[arg(long, global = true, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Token cache: auto (keyring if one answers, else files), keyring, file, none [env: ENTRA_TOKEN_CACHE]
    #[arg(long, global = true, value_name = "MODE")]
    pub cache: Option<Mode>,
    /// Log HTTP exchanges to stderr (-vv adds headers and bodies; secrets are always redacted)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Refused: secrets on the command line are visible to other users (see AZURE_CLIENT_SECRET)
    #[arg(long, global = true, hide = true, value_name = "SECRET", num_args = 0..=1, allow_hyphen_values = true)]
    pub client_secret: Option<Option<String>>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print an access token (app-only by default)
    #[command(after_help = get::GET_EXAMPLES)]
    Get(GetArgs),
    /// Call Microsoft Graph, Intune, the Office 365 Management Activity API or ARM with a token
    #[command(after_help = api::API_EXAMPLES)]
    Api(ApiArgs),
    /// The Office 365 Management Activity API feed: subscriptions, a resumable NDJSON pull, the webhook receiver
    #[command(subcommand, after_help = activity::ACTIVITY_EXAMPLES)]
    Activity(ActivityCommand),
    /// Inspect or clear the token cache (tokens are never printed)
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Show a JWT's header and claims (does not verify the signature)
    Decode(DecodeArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Certificate helpers: inspect a PEM/PFX, create a self-signed one, print its manifest entry
    #[command(subcommand)]
    Cert(CertCommand),
    /// Print an admin-consent URL; with --listen, capture the redirect and print the tenant ID
    #[command(after_help = sign_in::CONSENT_EXAMPLES)]
    ConsentUrl(ConsentUrlArgs),
    /// Exchange an authorization code (or the URL the browser landed on) for tokens
    Redeem(RedeemArgs),
    /// Sign in as a user (browser with PKCE, or --device-code); then `get --user`
    #[command(after_help = sign_in::LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Forget a signed-in account's tokens (all accounts without --account)
    Logout(LogoutArgs),
    /// Which credential source `get` uses and why, and what its token says (never the token)
    Whoami(WhoamiArgs),
    Emulator(entra_token_emulator::EmulatorArgs),
}

/// How the client authenticates to Entra. Secrets never come from argv.
#[derive(Debug, Args, Default, Clone)]
pub struct CredentialArgs {
    /// Read the client secret from PATH ('-' = stdin); one trailing newline is removed
    #[arg(long, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,
    /// PEM (key + certificate) or PFX/PKCS#12 file [env: AZURE_CLIENT_CERTIFICATE_PATH]
    #[arg(long, value_name = "PATH")]
    pub certificate: Option<PathBuf>,
    /// Read the certificate/key password from PATH ('-' = stdin); or the password itself in AZURE_CLIENT_CERTIFICATE_PASSWORD
    #[arg(long, value_name = "PATH")]
    pub certificate_password_file: Option<PathBuf>,
    /// Client assertion signature: ps256 (with x5t#S256) or rs256 (with x5t) [default: ps256]
    #[arg(long, value_name = "ALG")]
    pub assertion_alg: Option<AssertionAlg>,
    /// Send the certificate chain (x5c) for subject name + issuer authentication
    /// [env: AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=1]
    #[arg(long)]
    pub send_x5c: bool,
    /// File holding a federated (workload identity) token, re-read for every request
    /// [env: AZURE_FEDERATED_TOKEN_FILE]
    #[arg(long, value_name = "PATH")]
    pub federated_token_file: Option<PathBuf>,
    /// The federated token is the value of the environment variable NAME (GitLab CI `id_tokens`
    /// and similar), read for every request
    #[arg(long, value_name = "NAME")]
    pub federated_token_env: Option<String>,
    /// In GitHub Actions (`permissions: id-token: write`): use a fresh OIDC token from
    /// ACTIONS_ID_TOKEN_REQUEST_URL as the federated credential
    #[arg(long)]
    pub federated_github: bool,
    /// Audience requested from GitHub Actions OIDC [default: api://AzureADTokenExchange]
    #[arg(long, value_name = "AUDIENCE", requires = "federated_github")]
    pub federated_audience: Option<String>,
    /// In Azure Pipelines: a fresh OIDC token for the service connection as the federated
    /// credential (needs SYSTEM_ACCESSTOKEN mapped into the step's env)
    #[arg(long)]
    pub federated_azure_pipelines: bool,
    /// The Azure service connection's id [env: AZURESUBSCRIPTION_SERVICE_CONNECTION_ID]
    #[arg(long, value_name = "ID")]
    pub service_connection_id: Option<String>,
    /// Use the managed identity of the Azure VM, App Service, Arc server, Cloud Shell or
    /// Service Fabric app this runs on (user-assigned: --client-id, --mi-object-id or
    /// --mi-resource-id)
    #[arg(long)]
    pub managed_identity: bool,
    /// A user-assigned managed identity by its object (principal) id
    #[arg(long, value_name = "ID")]
    pub mi_object_id: Option<String>,
    /// A user-assigned managed identity by its ARM resource id
    #[arg(long, value_name = "ARM_ID")]
    pub mi_resource_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// v2 scope of the token looked at [default: the cloud's Graph /.default]
    #[arg(long, value_name = "SCOPE", conflicts_with = "resource")]
    pub scope: Option<String>,
    /// Resource URI (scope RESOURCE/.default)
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,
    /// Output format: text or json
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: ListFormat,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The token ('-' or nothing reads stdin)
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}
