//! Where the configured client credential comes from, as settings resolved it (flags, then the
//! environment, then the profile): which kind, and the file or value behind it. Nothing is read
//! here; [`super::from_settings`] turns one of these into a usable credential.

use super::certificate::AssertionAlg;
use crate::origin::Origin;
use crate::secret::Secret;
use std::path::PathBuf;

/// The configured credential: one kind, chosen by the precedence of its source and, within one
/// level, certificate, then client secret, then federated.
pub(crate) enum CredentialSource {
    Certificate(CertificateSource),
    ClientSecret(SecretSource),
    Federated(FederatedSource),
}

/// Where the client secret comes from.
pub(crate) enum SecretSource {
    File(PathBuf, Origin),
    /// `AZURE_CLIENT_SECRET`.
    Env(Secret<String>),
}

/// Where the certificate password comes from (flag > environment > profile).
pub(crate) enum PasswordSource {
    File(PathBuf, Origin),
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD`.
    Env(Secret<String>),
}

/// A configured certificate credential.
pub(crate) struct CertificateSource {
    pub(crate) path: PathBuf,
    pub(crate) origin: Origin,
    pub(crate) password: Option<PasswordSource>,
    pub(crate) alg: AssertionAlg,
    pub(crate) send_x5c: bool,
}

/// A configured federated credential.
pub(crate) enum FederatedSource {
    /// A file holding the external token, re-read for every request.
    File(PathBuf, Origin),
    /// The GitHub Actions OIDC endpoint.
    GitHub {
        audience: String,
        origin: Origin,
        /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, when the job has them.
        request: Option<(String, Secret<String>)>,
    },
}
