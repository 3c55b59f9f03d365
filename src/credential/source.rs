//! Where the configured credential comes from, as settings resolved it (flags, then the
//! environment, then the profile): which kind, and the file, variable or endpoint behind it. Nothing is read
//! here; [`super::from_settings`] turns one of these into a usable credential.

use super::certificate::AssertionAlg;
use crate::origin::Origin;
use crate::protocol::managed_identity::{Selector, Variables};
use crate::secret::Secret;
use std::path::PathBuf;

/// The configured client credential: one kind, as the credential source decision chose it.
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
    /// An environment variable named by `--federated-token-env NAME` (GitLab CI `id_tokens`).
    Env {
        name: String,
        /// Its value (`None`: unset or empty).
        value: Option<Secret<String>>,
    },
    /// The Azure Pipelines OIDC endpoint, for one service connection.
    AzurePipelines {
        /// `SYSTEM_OIDCREQUESTURI`.
        oidc_request_uri: Option<String>,
        /// `SYSTEM_ACCESSTOKEN`.
        access_token: Option<Secret<String>>,
        /// The service connection's id and where it came from.
        service_connection: Option<(String, Origin)>,
    },
}

/// A managed identity as settings resolved it: the hosting platform's variables (detected when
/// the token source is prepared), the user-assigned identity selectors per precedence level
/// (flags, environment, profile) and the Azure Arc agent's key folder.
pub(crate) struct ManagedIdentitySource {
    pub(crate) variables: Variables,
    pub(crate) selector_levels: Vec<Vec<Selector>>,
    pub(crate) arc_key_folder: Option<PathBuf>,
    /// Where the Azure Arc agent's `himds` would be installed (its presence means Arc).
    pub(crate) arc_agent: Option<PathBuf>,
}
