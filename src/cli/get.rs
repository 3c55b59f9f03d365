//! `get`: an access token, app-only or (`--user`) delegated.

use super::CredentialArgs;
use crate::output::OutputFormat;
use clap::Args;

pub(super) const GET_EXAMPLES: &str = "\
Examples:
  entra-token get                                           # https://graph.microsoft.com/.default
  entra-token get --scope https://vault.azure.net/.default
  entra-token get --v1 --resource https://manage.office.com
  entra-token get -o json --jq .expiresOn                   # jq syntax, strings printed raw
  eval \"$(entra-token get -o env)\"                          # sets ENTRA_ACCESS_TOKEN
  entra-token get --certificate app.pem                     # key + certificate in one PEM file
  AZURE_CLIENT_CERTIFICATE_PASSWORD=... entra-token get --certificate app.pfx --send-x5c
  entra-token get --federated-token-file /var/run/secrets/azure/tokens/azure-identity-token
  entra-token get --federated-github                        # GitHub Actions, `id-token: write`
  entra-token get --managed-identity                        # Azure VM, App Service, Arc, ...
  entra-token get --federated-azure-pipelines               # Azure Pipelines service connection
  entra-token get --federated-token-env GITLAB_OIDC_TOKEN   # GitLab CI id_tokens

Which credential, first rule that applies (-v and `entra-token whoami` show why):
  1. one source flag: --certificate, --client-secret-file, --federated-token-file,
     --federated-token-env, --federated-github, --federated-azure-pipelines, --managed-identity
     (two of them: exit 2)
  2. AZURE_TOKEN_CREDENTIALS (prod, EnvironmentCredential, WorkloadIdentityCredential,
     ManagedIdentityCredential) limits what follows
  3. environment: AZURE_CLIENT_CERTIFICATE_PATH > AZURE_CLIENT_SECRET > AZURE_FEDERATED_TOKEN_FILE
  4. the profile: certificate > client_secret_file > federated_token_file / federated =
     \"github\" | \"azure-pipelines\" > managed_identity = true
  5. automatic: GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN), then a managed
     identity that IDENTITY_ENDPOINT or MSI_ENDPOINT announces (169.254.169.254 is never probed
     unasked); else exit 2 listing every way
Certificate options: --certificate-password-file or AZURE_CLIENT_CERTIFICATE_PASSWORD;
--send-x5c or AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=1. A user-assigned managed identity:
--client-id / AZURE_CLIENT_ID, --mi-object-id or --mi-resource-id.";

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
    /// With --user: which signed-in account (its user name or object id), when there are several
    #[arg(long, value_name = "UPN", requires = "user")]
    pub account: Option<String>,
    /// With -o json: filter the JSON with a jq expression, one result per line (strings raw),
    /// e.g. --jq .expiresOn
    #[arg(long, value_name = "EXPR")]
    pub jq: Option<String>,
    #[command(flatten)]
    pub credential: CredentialArgs,
}
