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
    /// With -o json: filter the JSON with a jq expression, one result per line (strings raw),
    /// e.g. --jq .expiresOn
    #[arg(long, value_name = "EXPR")]
    pub jq: Option<String>,
    #[command(flatten)]
    pub credential: CredentialArgs,
}
