//! How the client proves who it is to Entra. One type per credential kind; [`from_settings`] is
//! the one place that chooses among them. A credential yields the form fields of one token request
//! (fresh per request: assertions and federated tokens must never be reused or stored).

pub mod client_secret;

use crate::cli::CredentialArgs;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::settings::{self, CredentialSource, Settings};
use sha2::{Digest, Sha256};

/// Form fields that authenticate a token request.
pub type AuthFields = Vec<(String, Secret<String>)>;

pub enum Credential {
    ClientSecret(client_secret::ClientSecret),
}

impl Credential {
    /// The kind, as shown in `cache list` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret(_) => "secret",
        }
    }

    /// A stable, non-reversible identity of the credential (kind + digest), for cache keys.
    pub fn fingerprint(&self) -> String {
        match self {
            Credential::ClientSecret(c) => c.fingerprint(),
        }
    }

    /// `appidacr`-style marker: the fields to add to a token request's form.
    pub async fn auth_fields(&self, _token_url: &url::Url) -> Result<AuthFields> {
        match self {
            Credential::ClientSecret(c) => Ok(c.auth_fields()),
        }
    }
}

/// Chooses and loads the configured credential; none configured is exit 2 saying how to set one.
pub fn from_settings(args: &CredentialArgs, settings: &Settings) -> Result<Credential> {
    match settings::credential_source(args, settings) {
        Some(CredentialSource::ClientSecret(src)) => {
            Ok(Credential::ClientSecret(client_secret::ClientSecret::load(src)?))
        }
        None => Err(Error::usage("no client credential configured")
            .hint("set AZURE_CLIENT_SECRET, or pass --client-secret-file PATH ('-' reads stdin)")),
    }
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
