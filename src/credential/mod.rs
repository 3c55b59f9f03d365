//! How the client proves who it is to Entra. One type per credential kind; [`from_settings`] is
//! the one place that chooses among them. A credential yields the form fields of one token request
//! (fresh per request: assertions and federated tokens must never be reused or stored).

pub mod certificate;
pub mod client_secret;
pub mod federated;
pub mod keyfile;

use crate::cli::CredentialArgs;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::settings::{self, CredentialSource, Settings};
use sha2::{Digest, Sha256};

/// Form fields that authenticate a token request.
pub type AuthFields = Vec<(String, Secret<String>)>;

pub enum Credential {
    Certificate(Box<certificate::ClientCertificate>),
    ClientSecret(client_secret::ClientSecret),
    Federated(federated::Federated),
}

impl Credential {
    /// The kind, as shown in `cache list` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Certificate(_) => "certificate",
            Credential::ClientSecret(_) => "secret",
            Credential::Federated(_) => "federated",
        }
    }

    /// A stable, non-reversible identity of the credential (kind + digest), for cache keys.
    pub fn fingerprint(&self) -> String {
        match self {
            Credential::Certificate(c) => c.fingerprint(),
            Credential::ClientSecret(c) => c.fingerprint(),
            Credential::Federated(c) => c.fingerprint(),
        }
    }

    /// The fields that authenticate ONE token request to `token_url` (the exact URL POSTed to):
    /// a certificate signs a new assertion (`aud` = `token_url`, fresh `jti`), a federated token
    /// is re-read or re-fetched. Call it once per request, never reuse the result.
    pub async fn auth_fields(&self, token_url: &url::Url) -> Result<AuthFields> {
        match self {
            Credential::Certificate(c) => c.auth_fields(token_url),
            Credential::ClientSecret(c) => Ok(c.auth_fields()),
            Credential::Federated(c) => c.auth_fields().await,
        }
    }
}

/// Chooses and loads the configured credential for the app `client_id` (a certificate's
/// assertions name it in `iss`/`sub`); none configured is exit 2 saying how to set one. Every
/// local check (unreadable file, wrong password, unsuitable key) happens here, before any request.
pub fn from_settings(args: &CredentialArgs, settings: &Settings, client_id: &str) -> Result<Credential> {
    if let Some(c) = optional_from_settings(args, settings, client_id)? {
        return Ok(c);
    }
    // Nothing configured, but running in GitHub Actions with `permissions: id-token: write`:
    // the job's OIDC token is the credential (as workload identity federation intends).
    let actions_url = settings::env_var(crate::cli::env::ACTIONS_ID_TOKEN_REQUEST_URL);
    let actions_token = settings::env_var(crate::cli::env::ACTIONS_ID_TOKEN_REQUEST_TOKEN);
    if actions_url.is_some() && actions_token.is_some() {
        crate::log::info("no credential configured; in GitHub Actions: using its OIDC token (federated)");
        let audience = args
            .federated_audience
            .clone()
            .or_else(|| settings.profile.federated_audience.clone())
            .unwrap_or_else(|| federated::DEFAULT_AUDIENCE.to_string());
        let src = settings::FederatedSource::GitHub {
            audience,
            source: settings::Source::Env(crate::cli::env::ACTIONS_ID_TOKEN_REQUEST_URL),
        };
        return Ok(Credential::Federated(federated::Federated::load(
            &src,
            settings.timeout,
        )?));
    }
    Err(Error::usage("no client credential configured").hint(
        "set AZURE_CLIENT_CERTIFICATE_PATH or pass --certificate PATH (PEM or PFX); or set AZURE_CLIENT_SECRET / \
         --client-secret-file PATH ('-' reads stdin); or AZURE_FEDERATED_TOKEN_FILE / --federated-token-file PATH; \
         in GitHub Actions, grant `permissions: id-token: write`",
    ))
}

/// The configured credential, or `None` when none is configured: user sign-in flows then act as
/// a public client and send no credential (Entra refuses one from a public client, AADSTS700025).
pub fn optional_from_settings(
    args: &CredentialArgs,
    settings: &Settings,
    client_id: &str,
) -> Result<Option<Credential>> {
    Ok(match settings::credential_source(args, settings)? {
        Some(CredentialSource::Certificate(src)) => Some(Credential::Certificate(Box::new(
            certificate::ClientCertificate::load(&src, client_id)?,
        ))),
        Some(CredentialSource::ClientSecret(src)) => {
            Some(Credential::ClientSecret(client_secret::ClientSecret::load(src)?))
        }
        Some(CredentialSource::Federated(src)) => Some(Credential::Federated(federated::Federated::load(
            &src,
            settings.timeout,
        )?)),
        None => None,
    })
}

/// Hex SHA-256 prefix of secret material with a domain label (never the material itself).
pub fn digest_label(kind: &str, material: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"entra-token credential v1\0");
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(material);
    let d = h.finalize();
    let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{hex}")
}

#[cfg(test)]
pub(crate) mod fixture_tests;
