//! Which credential source a command uses. The flags, the environment and the profile say what is
//! configured; [`selection::decide`] picks one by the documented rules (one explicit source flag;
//! `AZURE_TOKEN_CREDENTIALS`; the environment; the profile; automatic: GitHub Actions OIDC, then a
//! managed identity an endpoint variable announces) and keeps the trace `-v` and `whoami` show.
//! The chosen source is then read from the place that chose it.

use super::{Lookup, Settings};
use crate::cli::CredentialArgs;
use crate::credential::certificate::AssertionAlg;
use crate::credential::federated::DEFAULT_AUDIENCE;
use crate::credential::selection::{self, Decision, Flag, Kind, ProfileFederated, ProfileSources, SelectedBy};
use crate::credential::source::{
    CertificateSource, CredentialSource, FederatedSource, ManagedIdentitySource, PasswordSource, SecretSource,
};
use crate::credential::{self, Credential};
use crate::env::EnvVars;
use crate::error::{Error, Result};
use crate::origin::Origin;
use crate::protocol::managed_identity::{self as mi, Selector, SelectorKind};
use crate::secret::Secret;
use std::path::PathBuf;

/// The Azure Arc agent's executable on Linux (MSAL's check for an Arc-enabled server).
const ARC_AGENT_LINUX: &str = "/opt/azcmagent/bin/himds";

/// One command's credential flags, with the settings they are resolved against.
pub(crate) struct CredentialConfig<'a> {
    settings: &'a Settings,
    flags: &'a CredentialArgs,
}

/// What an app-only token is got with: a client credential at Entra's token endpoint, or the
/// managed identity of the machine or service (no Entra request at all).
pub(crate) enum AppCredential {
    Client(CredentialSource),
    ManagedIdentity(ManagedIdentitySource),
}

impl<'a> CredentialConfig<'a> {
    pub(super) fn new(settings: &'a Settings, flags: &'a CredentialArgs) -> CredentialConfig<'a> {
        CredentialConfig { settings, flags }
    }

    fn look(&self) -> Lookup<'_> {
        self.settings.lookup()
    }

    /// The explicit source flags given.
    fn source_flags(&self) -> Vec<Flag> {
        let a = self.flags;
        [
            (a.certificate.is_some(), Flag::Certificate),
            (a.client_secret_file.is_some(), Flag::ClientSecretFile),
            (a.federated_token_file.is_some(), Flag::FederatedTokenFile),
            (a.federated_token_env.is_some(), Flag::FederatedTokenEnv),
            (a.federated_github, Flag::FederatedGithub),
            (a.federated_azure_pipelines, Flag::FederatedAzurePipelines),
            (a.managed_identity, Flag::ManagedIdentity),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }

    /// The source fields of the selected profile (`None` without a profile).
    fn profile_sources(&self) -> Result<Option<ProfileSources>> {
        let s = self.settings;
        let Some(name) = s.profile_name.as_deref() else {
            return Ok(None);
        };
        let p = &s.profile;
        let federated = match p.federated.as_deref().map(str::trim) {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("github") => Some(ProfileFederated::GitHub),
            Some(v) if v.eq_ignore_ascii_case("azure-pipelines") => Some(ProfileFederated::AzurePipelines),
            Some(v) => {
                return Err(Error::usage(format!(
                    "profile '{name}': federated = \"{v}\" is not one of \"github\", \"azure-pipelines\""
                ))
                .hint("for a token file, use federated_token_file = \"PATH\""));
            }
        };
        Ok(Some(ProfileSources {
            name: name.to_string(),
            certificate: p.certificate.is_some(),
            client_secret_file: p.client_secret_file.is_some(),
            federated_token_file: p.federated_token_file.is_some(),
            federated,
            managed_identity: p.managed_identity.unwrap_or(false),
        }))
    }

    fn env_client_secret(&self) -> Option<&str> {
        self.settings
            .env
            .text(EnvVars::AZURE_CLIENT_SECRET)
            .filter(|s| !s.is_empty())
    }

    /// The credential source of an app-only request (see the module comment), with the trace.
    /// Nothing configured is exit 2 listing every way to provide one; nothing is probed.
    pub(crate) fn decide(&self) -> Result<Decision> {
        let env = &self.settings.env;
        let profile = self.profile_sources()?;
        let inputs = selection::Inputs {
            flags: self.source_flags(),
            token_credentials: env.text(EnvVars::AZURE_TOKEN_CREDENTIALS),
            env_certificate: env.value(EnvVars::AZURE_CLIENT_CERTIFICATE_PATH).is_some(),
            env_client_secret: self.env_client_secret().is_some(),
            env_federated_token_file: env.value(EnvVars::AZURE_FEDERATED_TOKEN_FILE).is_some(),
            profile: profile.as_ref(),
            github_actions: self.github_request().is_some(),
            managed_identity_announced_by: self.mi_variables().announced_by(),
        };
        let decision = selection::decide(&inputs)?;
        self.check_companions(decision.kind)?;
        for line in decision.trace_lines() {
            crate::log::info(line);
        }
        Ok(decision)
    }

    /// Flags that only make sense with one source are refused with another (exit 2), rather
    /// than silently ignored.
    fn check_companions(&self, kind: Kind) -> Result<()> {
        let a = self.flags;
        let misplaced = [
            (
                a.mi_object_id.is_some(),
                "--mi-object-id",
                Kind::ManagedIdentity,
                "--managed-identity",
            ),
            (
                a.mi_resource_id.is_some(),
                "--mi-resource-id",
                Kind::ManagedIdentity,
                "--managed-identity",
            ),
            (
                a.service_connection_id.is_some(),
                "--service-connection-id",
                Kind::AzurePipelines,
                "--federated-azure-pipelines",
            ),
        ];
        for (given, flag, needs, with) in misplaced {
            if given && kind != needs {
                return Err(Error::usage(format!(
                    "{flag} applies to {with}, but the credential in use is {}",
                    kind.as_str()
                ))
                .hint(format!("add {with}, or drop {flag}")));
            }
        }
        Ok(())
    }

    /// The decided app-only credential, ready to load.
    pub(crate) fn app(&self) -> Result<(Decision, AppCredential)> {
        let decision = self.decide()?;
        let chosen = self.resolve(&decision)?;
        Ok((decision, chosen))
    }

    /// The configured client credential of user sign-in flows, or `None`: they then act as a
    /// public client and send no credential (Entra refuses one from a public client,
    /// AADSTS700025). Nothing is automatic here, and a managed identity signs no user in.
    pub(crate) fn client(&self) -> Result<Option<CredentialSource>> {
        let env = &self.settings.env;
        let profile = self.profile_sources()?;
        let inputs = selection::Inputs {
            flags: self.source_flags(),
            token_credentials: None,
            env_certificate: env.value(EnvVars::AZURE_CLIENT_CERTIFICATE_PATH).is_some(),
            env_client_secret: self.env_client_secret().is_some(),
            env_federated_token_file: env.value(EnvVars::AZURE_FEDERATED_TOKEN_FILE).is_some(),
            profile: profile.as_ref(),
            github_actions: false,
            managed_identity_announced_by: None,
        };
        let configured = !inputs.flags.is_empty()
            || inputs.env_certificate
            || inputs.env_client_secret
            || inputs.env_federated_token_file
            || profile.as_ref().is_some_and(|p| {
                p.certificate
                    || p.client_secret_file
                    || p.federated_token_file
                    || p.federated.is_some()
                    || p.managed_identity
            });
        if !configured {
            return Ok(None);
        }
        let decision = selection::decide(&inputs)?;
        self.check_companions(decision.kind)?;
        match self.resolve(&decision)? {
            AppCredential::Client(source) => Ok(Some(source)),
            AppCredential::ManagedIdentity(_) => Err(Error::usage(format!(
                "a managed identity ({}) gets app-only tokens; it cannot sign a user in",
                decision.selected_by.describe()
            ))
            .hint("use a client credential for the app, or none (a public client)")),
        }
    }

    /// The decided app-only credential, loaded for the app `client_id` (every local check —
    /// unreadable file, wrong password, unsuitable key — happens now, before any request).
    pub(crate) fn load_client_source(&self, source: CredentialSource, client_id: &str) -> Result<Credential> {
        let s = self.settings;
        credential::from_settings(source, client_id, s.timeout, &s.tls_roots)
    }

    /// [`CredentialConfig::client`], loaded for the app `client_id`.
    pub(crate) fn load_client(&self, client_id: &str) -> Result<Option<Credential>> {
        self.client()?
            .map(|source| self.load_client_source(source, client_id))
            .transpose()
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN`, when both are set.
    fn github_request(&self) -> Option<(String, Secret<String>)> {
        let env = &self.settings.env;
        let url = env.value(EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL)?;
        let token = env.value(EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN)?;
        Some((url.to_string(), Secret::new(token.to_string())))
    }

    fn federated_audience(&self) -> String {
        self.flags
            .federated_audience
            .clone()
            .or_else(|| self.settings.profile.federated_audience.clone())
            .unwrap_or_else(|| DEFAULT_AUDIENCE.to_string())
    }

    /// The managed-identity variables (the Arc agent's presence is the token layer's to check).
    fn mi_variables(&self) -> mi::Variables {
        let env = &self.settings.env;
        let text = |name: &str| env.value(name).map(str::to_string);
        mi::Variables {
            identity_endpoint: text(EnvVars::IDENTITY_ENDPOINT),
            identity_header: text(EnvVars::IDENTITY_HEADER).map(Secret::new),
            identity_server_thumbprint: text(EnvVars::IDENTITY_SERVER_THUMBPRINT),
            imds_endpoint: text(EnvVars::IMDS_ENDPOINT),
            msi_endpoint: text(EnvVars::MSI_ENDPOINT),
            msi_secret_set: env.value(EnvVars::MSI_SECRET).is_some(),
            pod_identity_authority_host: text(EnvVars::AZURE_POD_IDENTITY_AUTHORITY_HOST),
            arc_agent_installed: false,
        }
    }

    /// The user-assigned identity selectors per level: flags, environment, profile.
    fn mi_selector_levels(&self) -> Vec<Vec<Selector>> {
        let (a, s) = (self.flags, self.settings);
        let sel = |kind, value: &str, origin: Origin| Selector {
            kind,
            value: value.to_string(),
            origin,
        };
        let mut flags = Vec::new();
        let mut env = Vec::new();
        let mut profile = Vec::new();
        if let Some((id, origin)) = &s.client_id {
            let s = sel(SelectorKind::ClientId, id, origin.clone());
            match origin {
                Origin::Flag(_) => flags.push(s),
                Origin::Env(_) => env.push(s),
                Origin::Profile(_) => profile.push(s),
            }
        }
        if let Some(v) = &a.mi_object_id {
            flags.push(sel(SelectorKind::ObjectId, v, Origin::Flag("--mi-object-id")));
        }
        if let Some(v) = &a.mi_resource_id {
            flags.push(sel(SelectorKind::ResourceId, v, Origin::Flag("--mi-resource-id")));
        }
        if let Some(v) = &s.profile.mi_object_id {
            profile.push(sel(SelectorKind::ObjectId, v, self.look().profile()));
        }
        if let Some(v) = &s.profile.mi_resource_id {
            profile.push(sel(SelectorKind::ResourceId, v, self.look().profile()));
        }
        vec![flags, env, profile]
    }

    fn managed_identity(&self) -> ManagedIdentitySource {
        let env = &self.settings.env;
        let arc_key_folder = env
            .os(EnvVars::ENTRA_TOKEN_ARC_KEY_DIR)
            .map(PathBuf::from)
            .or_else(|| mi::request::arc_key_folder(env.os(EnvVars::PROGRAM_DATA).and_then(|v| v.to_str())));
        let arc_agent = if cfg!(windows) {
            env.os(EnvVars::PROGRAM_FILES)
                .map(|p| PathBuf::from(p).join("AzureConnectedMachineAgent").join("himds.exe"))
        } else if cfg!(target_os = "linux") {
            Some(PathBuf::from(ARC_AGENT_LINUX))
        } else {
            None
        };
        ManagedIdentitySource {
            variables: self.mi_variables(),
            selector_levels: self.mi_selector_levels(),
            arc_key_folder,
            arc_agent,
        }
    }

    /// Reads the decided source from the place that chose it.
    fn resolve(&self, d: &Decision) -> Result<AppCredential> {
        let (args, settings) = (self.flags, self.settings);
        let (env, profile) = (&settings.env, &settings.profile);
        let in_profile = || self.look().profile();
        let by_flag = matches!(d.selected_by, SelectedBy::Flag(_));
        let by_profile = matches!(d.selected_by, SelectedBy::Profile(_));
        let from_env = |name: &'static str| env.value(name).map(|p| (PathBuf::from(p), Origin::Env(name)));
        let missing = || Error::internal(format!("the chosen {} is not configured", d.kind.as_str()));
        let client = |c: CredentialSource| Ok(AppCredential::Client(c));
        match d.kind {
            Kind::Certificate => {
                let (path, origin) = if by_flag {
                    args.certificate.clone().map(|p| (p, Origin::Flag("--certificate")))
                } else if by_profile {
                    profile.certificate.clone().map(|p| (p, in_profile()))
                } else {
                    from_env(EnvVars::AZURE_CLIENT_CERTIFICATE_PATH)
                }
                .ok_or_else(missing)?;
                client(CredentialSource::Certificate(self.certificate(path, origin)?))
            }
            Kind::ClientSecret => {
                let secret = if by_flag {
                    args.client_secret_file
                        .clone()
                        .map(|p| SecretSource::File(p, Origin::Flag("--client-secret-file")))
                } else if by_profile {
                    profile
                        .client_secret_file
                        .clone()
                        .map(|p| SecretSource::File(p, in_profile()))
                } else {
                    self.env_client_secret()
                        .map(|s| SecretSource::Env(Secret::new(s.to_string())))
                }
                .ok_or_else(missing)?;
                client(CredentialSource::ClientSecret(secret))
            }
            Kind::FederatedFile => {
                let (path, origin) = if by_flag {
                    args.federated_token_file
                        .clone()
                        .map(|p| (p, Origin::Flag("--federated-token-file")))
                } else if by_profile {
                    profile.federated_token_file.clone().map(|p| (p, in_profile()))
                } else {
                    from_env(EnvVars::AZURE_FEDERATED_TOKEN_FILE)
                }
                .ok_or_else(missing)?;
                client(CredentialSource::Federated(FederatedSource::File(path, origin)))
            }
            Kind::FederatedEnv => {
                let name = args.federated_token_env.clone().ok_or_else(missing)?;
                let value = env
                    .named(name.trim())
                    .map(|v| {
                        v.into_string()
                            .map_err(|_| Error::usage(format!("{name} is set to a value that is not valid UTF-8")))
                    })
                    .transpose()?
                    .filter(|v| !v.trim().is_empty())
                    .map(Secret::new);
                client(CredentialSource::Federated(FederatedSource::Env {
                    name: name.trim().to_string(),
                    value,
                }))
            }
            Kind::GitHubActions => {
                let origin = match &d.selected_by {
                    SelectedBy::Flag(f) => Origin::Flag(f),
                    SelectedBy::Profile(_) => in_profile(),
                    _ => Origin::Env(EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL),
                };
                if d.selected_by == SelectedBy::Automatic {
                    crate::log::info("no credential configured; in GitHub Actions: using its OIDC token (federated)");
                }
                client(CredentialSource::Federated(FederatedSource::GitHub {
                    audience: self.federated_audience(),
                    origin,
                    request: self.github_request(),
                }))
            }
            Kind::AzurePipelines => {
                let service_connection = self.look().first(
                    args.service_connection_id
                        .as_deref()
                        .map(|v| (v, "--service-connection-id")),
                    Some(EnvVars::AZURESUBSCRIPTION_SERVICE_CONNECTION_ID),
                    profile.service_connection_id.as_deref(),
                );
                client(CredentialSource::Federated(FederatedSource::AzurePipelines {
                    oidc_request_uri: env.value(EnvVars::SYSTEM_OIDCREQUESTURI).map(str::to_string),
                    access_token: env
                        .value(EnvVars::SYSTEM_ACCESSTOKEN)
                        .map(|t| Secret::new(t.to_string())),
                    service_connection,
                }))
            }
            Kind::ManagedIdentity => Ok(AppCredential::ManagedIdentity(self.managed_identity())),
        }
    }

    fn certificate(&self, path: PathBuf, origin: Origin) -> Result<CertificateSource> {
        let (args, settings) = (self.flags, self.settings);
        let profile = &settings.profile;
        let alg = match (args.assertion_alg, &profile.assertion_alg) {
            (Some(alg), _) => alg,
            (None, Some(v)) => AssertionAlg::parse(v).ok_or_else(|| {
                Error::usage(format!(
                    "profile '{}': assertion_alg = \"{v}\" is not one of ps256, rs256",
                    settings.profile_name.as_deref().unwrap_or("")
                ))
            })?,
            (None, None) => AssertionAlg::default(),
        };
        let send_x5c = args.send_x5c
            || settings
                .env
                .value(EnvVars::AZURE_CLIENT_SEND_CERTIFICATE_CHAIN)
                .is_some_and(is_truthy)
            || profile.send_x5c.unwrap_or(false);
        let password = certificate_password(
            args.certificate_password_file.as_ref(),
            "--certificate-password-file",
            password_in(&settings.env),
        )
        .or_else(|| {
            profile
                .certificate_password_file
                .clone()
                .map(|p| PasswordSource::File(p, self.look().profile()))
        });
        Ok(CertificateSource {
            path,
            origin,
            password,
            alg,
            send_x5c,
        })
    }
}

/// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`: `1` or `true` (any case), as azure-identity reads it.
pub(crate) fn is_truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true")
}

fn password_in(env: &crate::env::Env) -> Option<Secret<String>> {
    env.text(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD)
        .filter(|s| !s.is_empty())
        .map(|s| Secret::new(s.to_string()))
}

/// The certificate password from a password-file flag, else `AZURE_CLIENT_CERTIFICATE_PASSWORD`
/// (`from_env`, see [`super::password_variable`]).
pub(crate) fn certificate_password(
    flag_file: Option<&PathBuf>,
    flag: &'static str,
    from_env: Option<Secret<String>>,
) -> Option<PasswordSource> {
    if let Some(p) = flag_file {
        return Some(PasswordSource::File(p.clone(), Origin::Flag(flag)));
    }
    from_env.map(PasswordSource::Env)
}

#[cfg(test)]
mod tests;
