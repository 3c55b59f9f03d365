//! How the client proves who it is to Entra. One type per credential kind; settings choose the
//! kind ([`CredentialSource`]) and [`from_settings`] is the one place that loads it. A credential
//! yields the form fields of one token request (fresh per request: assertions and federated
//! tokens must never be reused or stored).

pub(crate) mod arc_key;
pub(crate) mod certificate;
pub(crate) mod client_secret;
pub(crate) mod federated;
pub(crate) mod keyfile;
pub(crate) mod selection;
pub(crate) mod self_signed;
pub(crate) mod source;

pub(crate) use source::CredentialSource;

use crate::error::Result;
use crate::http::TlsRoots;
use crate::secret::Secret;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Form fields that authenticate a token request.
pub(crate) type AuthFields = Vec<(String, Secret<String>)>;

pub(crate) enum Credential {
    Certificate(Box<certificate::ClientCertificate>),
    ClientSecret(client_secret::ClientSecret),
    Federated(federated::Federated),
}

impl Credential {
    /// A stable, non-reversible identity of the credential (kind + digest), for cache keys.
    pub(crate) fn fingerprint(&self) -> String {
        match self {
            Credential::Certificate(c) => c.fingerprint(),
            Credential::ClientSecret(c) => c.fingerprint(),
            Credential::Federated(c) => c.fingerprint(),
        }
    }

    /// The fields that authenticate ONE token request to `token_url` (the exact URL POSTed to):
    /// a certificate signs a new assertion (`aud` = `token_url`, fresh `jti`), a federated token
    /// is re-read or re-fetched. Call it once per request, never reuse the result.
    pub(crate) async fn auth_fields(&self, token_url: &url::Url) -> Result<AuthFields> {
        match self {
            Credential::Certificate(c) => c.auth_fields(token_url),
            Credential::ClientSecret(c) => Ok(c.auth_fields()),
            Credential::Federated(c) => c.auth_fields().await,
        }
    }
}

/// Loads the credential settings chose (every local check — unreadable file, wrong password,
/// unsuitable key — happens here, before any request) for the app `client_id` (a certificate's
/// assertions name it in `iss`/`sub`). `timeout` and `roots` are for a credential that is itself
/// fetched over the network (GitHub Actions' OIDC token).
pub(crate) fn from_settings(
    source: CredentialSource,
    client_id: &str,
    timeout: Duration,
    roots: &TlsRoots,
) -> Result<Credential> {
    Ok(match source {
        CredentialSource::Certificate(src) => Credential::Certificate(Box::new(certificate::ClientCertificate::load(
            &src, client_id, timeout,
        )?)),
        CredentialSource::ClientSecret(src) => {
            Credential::ClientSecret(client_secret::ClientSecret::load(src, timeout)?)
        }
        CredentialSource::Federated(src) => Credential::Federated(federated::Federated::load(src, timeout, roots)?),
    })
}

/// Hex SHA-256 prefix of secret material with a domain label (never the material itself).
pub(crate) fn digest_label(kind: &str, material: &[u8]) -> String {
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
