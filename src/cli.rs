//! clap types only: the shape of the command line (CLI contract). House rules: every valued
//! option has an UPPERCASE value_name, doc comments are the help text, environment variable names
//! are defined once in [`env`], and meaning/precedence is resolved later in `settings.rs`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Environment variable names (azure-identity's, so existing CI setups work unchanged).
pub mod env {
    pub const TENANT_ID: &str = "AZURE_TENANT_ID";
    pub const CLIENT_ID: &str = "AZURE_CLIENT_ID";
    pub const CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
    pub const CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
    pub const CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
    pub const CLIENT_SEND_CERTIFICATE_CHAIN: &str = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
    pub const FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
    pub const AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
    pub const CACHE: &str = "ENTRA_TOKEN_CACHE";
    pub const PROFILE: &str = "ENTRA_TOKEN_PROFILE";
    pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
    pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
}

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
Exit codes: 0 ok, 1 internal error, 2 usage or local input, 3 rejected by Entra, 4 network or protocol,
5 the API answered non-2xx (api).";

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
    pub cloud: Option<CloudArg>,
    /// Profile from $XDG_CONFIG_HOME/entra-token/config.toml [env: ENTRA_TOKEN_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Deadline in seconds for one logical request, retries included [default: 30]
    #[arg(long, global = true, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Token cache: auto (keyring if one answers, else files), keyring, file, none [env: ENTRA_TOKEN_CACHE]
    #[arg(long, global = true, value_name = "MODE")]
    pub cache: Option<CacheArg>,
    /// Log HTTP exchanges to stderr (-vv adds headers and bodies; secrets are always redacted)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Refused: secrets on the command line are visible to other users (see AZURE_CLIENT_SECRET)
    #[arg(long, global = true, hide = true, value_name = "SECRET", num_args = 0..=1, allow_hyphen_values = true)]
    pub client_secret: Option<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudArg {
    Public,
    Usgov,
    China,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheArg {
    Auto,
    Keyring,
    File,
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print an access token (app-only by default)
    #[command(after_help = GET_EXAMPLES)]
    Get(GetArgs),
    /// Call Microsoft Graph, Intune, the Office 365 Management Activity API or ARM with a token
    #[command(after_help = API_EXAMPLES)]
    Api(ApiArgs),
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
    #[command(after_help = CONSENT_EXAMPLES)]
    ConsentUrl(ConsentUrlArgs),
    /// Exchange an authorization code (or the URL the browser landed on) for tokens
    Redeem(RedeemArgs),
    /// Sign in as a user (browser with PKCE, or --device-code); then `get --user`
    #[command(after_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Forget a signed-in account's tokens (all accounts without --account)
    Logout(LogoutArgs),
    Emulator(entra_token_emulator::EmulatorArgs),
}

const CONSENT_EXAMPLES: &str = "\
Examples:
  entra-token consent-url --redirect-uri https://app.contoso.com/callback
  TENANT=$(entra-token consent-url --listen)                # serves http://localhost:<free port>/
  entra-token consent-url --listen --scope https://graph.microsoft.com/.default -o json
  entra-token consent-url --v1 --resource https://manage.office.com --redirect-uri https://app.contoso.com/callback
Then: entra-token get --tenant \"$TENANT\" (app-only tokens for the customer's tenant).";

const LOGIN_EXAMPLES: &str = "\
Examples:
  entra-token login                                         # browser sign-in, Graph scopes
  entra-token login --no-browser --login-hint admin@contoso.com
  entra-token login --device-code                           # on a machine without a browser
  entra-token get --user --scope https://graph.microsoft.com/User.Read
  entra-token logout --account admin@contoso.com
No credential configured: a public client (nothing secret is sent). With one: a confidential client.";

const GET_EXAMPLES: &str = "\
Examples:
  entra-token get                                           # https://graph.microsoft.com/.default
  entra-token get --scope https://vault.azure.net/.default
  entra-token get --v1 --resource https://manage.office.com
  entra-token get -o json | jq -r .expiresOn
  eval \"$(entra-token get -o env)\"                          # sets ENTRA_ACCESS_TOKEN
  entra-token get --certificate app.pem                     # key + certificate in one PEM file
  AZURE_CLIENT_CERTIFICATE_PASSWORD=... entra-token get --certificate app.pfx --send-x5c
  entra-token get --federated-token-file /var/run/secrets/azure/tokens/azure-identity-token
  entra-token get --federated-github                        # GitHub Actions, `id-token: write`

Credentials, first match wins: flags, then environment, then the profile; at one level a
certificate beats a client secret, which beats a federated token.
  certificate     --certificate / AZURE_CLIENT_CERTIFICATE_PATH / profile `certificate`
                  (PEM or PFX; password: --certificate-password-file or
                  AZURE_CLIENT_CERTIFICATE_PASSWORD; x5c: --send-x5c or
                  AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=1)
  client secret   --client-secret-file / AZURE_CLIENT_SECRET / profile `client_secret_file`
  federated       --federated-token-file / AZURE_FEDERATED_TOKEN_FILE / profile
                  `federated_token_file` (re-read for every request); or, only when asked for
                  with --federated-github or profile `federated = \"github\"` and no token file is
                  configured, a fresh token from the GitHub Actions OIDC endpoint
                  (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN)";

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
    pub assertion_alg: Option<AssertionAlgArg>,
    /// Send the certificate chain (x5c) for subject name + issuer authentication
    /// [env: AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=1]
    #[arg(long)]
    pub send_x5c: bool,
    /// File holding a federated (workload identity) token, re-read for every request
    /// [env: AZURE_FEDERATED_TOKEN_FILE]
    #[arg(long, value_name = "PATH", conflicts_with = "federated_github")]
    pub federated_token_file: Option<PathBuf>,
    /// In GitHub Actions (`permissions: id-token: write`): use a fresh OIDC token from
    /// ACTIONS_ID_TOKEN_REQUEST_URL as the federated credential
    #[arg(long)]
    pub federated_github: bool,
    /// Audience requested from GitHub Actions OIDC [default: api://AzureADTokenExchange]
    #[arg(long, value_name = "AUDIENCE", requires = "federated_github")]
    pub federated_audience: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssertionAlgArg {
    /// RSASSA-PSS SHA-256, header x5t#S256 (Microsoft's current recommendation)
    Ps256,
    /// RSASSA-PKCS1-v1_5 SHA-256, header x5t (SHA-1 thumbprint)
    Rs256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The token and a newline
    Token,
    /// `Authorization: Bearer <token>`
    Header,
    /// az account get-access-token compatible JSON
    Json,
    /// `export ENTRA_ACCESS_TOKEN=...` lines for eval
    Env,
    /// Kubernetes client.authentication.k8s.io/v1 ExecCredential
    ExecCredential,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// v2 scope [default: the cloud's Graph /.default]
    #[arg(long, value_name = "SCOPE", conflicts_with = "resource")]
    pub scope: Option<String>,
    /// Resource URI: sent as `resource` with --v1, else as scope RESOURCE/.default
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,
    /// Use the v1 endpoint (/oauth2/token with resource=)
    #[arg(long)]
    pub v1: bool,
    /// Output format
    #[arg(short, long, value_name = "FORMAT", default_value = "token")]
    pub output: OutputFormat,
    /// Serve a cached token only if it stays valid this many more seconds
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub min_validity: u64,
    /// Skip the cache read and get a new token (it is still stored)
    #[arg(long)]
    pub force_refresh: bool,
    /// A delegated token for the account signed in with `login` (from its refresh token)
    #[arg(long)]
    pub user: bool,
    /// With --user: which signed-in account (UPN), when there are several
    #[arg(long, value_name = "UPN", requires = "user")]
    pub account: Option<String>,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

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
    /// The PKCE code verifier, if /authorize had a code_challenge
    #[arg(long, value_name = "VERIFIER")]
    pub code_verifier: Option<String>,
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
    /// Sent as `prompt`: login, consent, select_account or none
    #[arg(long, value_name = "PROMPT")]
    pub prompt: Option<String>,
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

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Which store is in use, and why
    Status(CacheOutputArgs),
    /// Cached entries: kind, tenant, client, scope, expiry (never a token)
    List(CacheOutputArgs),
    /// Remove entries: all of them (and the keyring item), or those matching the filters
    Clear(CacheClearArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CacheOutputArgs {
    /// Output format
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct CacheClearArgs {
    /// Only entries for this scope or resource
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Only entries for this account (user tokens)
    #[arg(long, value_name = "UPN")]
    pub account: Option<String>,
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

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Show subject, validity, key, SHA-1 thumbprint (as the Entra portal shows it), x5t, x5t#S256
    Inspect(CertInspectArgs),
    /// Create a self-signed RSA certificate and key (PEM, mode 0600; optionally PFX)
    #[command(after_help = CERT_CREATE_EXAMPLES)]
    Create(CertCreateArgs),
    /// Print the app manifest `keyCredentials` entry for a certificate
    Manifest(CertManifestArgs),
}

const CERT_CREATE_EXAMPLES: &str = "\
Examples:
  entra-token cert create --subject \"CN=reports-job\" --out app.pem --cert-out app.crt
  AZURE_CLIENT_CERTIFICATE_PASSWORD=... entra-token cert create --subject \"CN=x, O=Contoso\" \\
      --days 730 --out app.pem --pfx app.pfx
Upload the certificate (app.crt, or the `value` of `entra-token cert manifest app.pem`) to the app
registration; keep app.pem private.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CertOutputFormat {
    /// Human-readable lines
    Text,
    /// One JSON object
    Json,
}

#[derive(Debug, Args)]
pub struct CertInspectArgs {
    /// PEM, PFX/PKCS#12 or DER certificate file ('-' = stdin)
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Output format
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: CertOutputFormat,
    /// Read the file's password from PATH ('-' = stdin); or the password itself in AZURE_CLIENT_CERTIFICATE_PASSWORD
    #[arg(long, value_name = "PATH")]
    pub certificate_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CertCreateArgs {
    /// Subject distinguished name, e.g. "CN=my-app, O=Contoso" (CN, O, OU, C, ST, L)
    #[arg(long, value_name = "DN")]
    pub subject: String,
    /// Validity in days from now
    #[arg(long, value_name = "N", default_value_t = 365)]
    pub days: u32,
    /// RSA key size in bits: 2048, 3072 or 4096
    #[arg(long, value_name = "BITS", default_value_t = 3072)]
    pub key_size: u32,
    /// PEM file to write with the private key and the certificate (mode 0600)
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Also write the certificate alone (PEM, no key) to PATH, for uploading to the app registration
    #[arg(long, value_name = "PATH")]
    pub cert_out: Option<PathBuf>,
    /// Also write a PFX/PKCS#12 file (AES-256, mode 0600); needs a password
    #[arg(long, value_name = "PATH")]
    pub pfx: Option<PathBuf>,
    /// Read the PFX password from PATH ('-' = stdin); or the password itself in AZURE_CLIENT_CERTIFICATE_PASSWORD
    #[arg(long, value_name = "PATH", requires = "pfx")]
    pub pfx_password_file: Option<PathBuf>,
    /// Replace existing files
    #[arg(long)]
    pub force: bool,
    /// Output format of the summary printed for the new certificate
    #[arg(short, long, value_name = "FORMAT", default_value = "text")]
    pub output: CertOutputFormat,
}

#[derive(Debug, Args)]
pub struct CertManifestArgs {
    /// PEM, PFX/PKCS#12 or DER certificate file ('-' = stdin)
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Read the file's password from PATH ('-' = stdin); or the password itself in AZURE_CLIENT_CERTIFICATE_PASSWORD
    #[arg(long, value_name = "PATH")]
    pub certificate_password_file: Option<PathBuf>,
}

const API_EXAMPLES: &str = "\
Examples:
  entra-token api /v1.0/users                                  # Graph (the cloud's, or --graph-url)
  entra-token api --paginate --ndjson '/beta/deviceManagement/managedDevices?$top=100' > devices.ndjson
  entra-token api --paginate -H 'ConsistencyLevel: eventual' '/v1.0/users?$count=true&$filter=endsWith(mail,'\\''@contoso.com'\\'')'
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
    /// Request header, repeatable, sent on every page; your own Authorization replaces the token
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
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
