//! Which credential source a token request uses, decided once and explained: the first rule that
//! applies wins — (1) an explicit source flag; (2) `AZURE_TOKEN_CREDENTIALS` (azure-identity's
//! variable) restricting what follows; (3) the environment (certificate > secret > federated
//! token file); (4) the selected profile; (5) automatic: GitHub Actions OIDC, then a managed
//! identity only when `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` announces one (nothing probes
//! 169.254.169.254 on its own; Azure Pipelines is never automatic). Pure: the caller says what
//! is present, never a secret value; the [`Decision`] keeps the trace `-v` and `whoami` print.
//!
//! `AZURE_TOKEN_CREDENTIALS` as azure-identity reads it:
//! <https://learn.microsoft.com/azure/developer/python/sdk/authentication/credential-chains#exclude-a-credential-type-category>.

use crate::env::EnvVars;
use crate::error::{Error, Result};
use crate::output::whoami::{ConsideredReport, SourceReport};

/// A kind of credential source (`whoami`'s `source.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Certificate,
    ClientSecret,
    FederatedFile,
    FederatedEnv,
    GitHubActions,
    AzurePipelines,
    ManagedIdentity,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Certificate => "certificate",
            Kind::ClientSecret => "client-secret",
            Kind::FederatedFile => "federated-file",
            Kind::FederatedEnv => "federated-env",
            Kind::GitHubActions => "github-actions",
            Kind::AzurePipelines => "azure-pipelines",
            Kind::ManagedIdentity => "managed-identity",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Certificate => "the certificate",
            Kind::ClientSecret => "the client secret",
            Kind::FederatedFile => "the federated token file",
            Kind::FederatedEnv => "the federated token variable",
            Kind::GitHubActions => "GitHub Actions OIDC",
            Kind::AzurePipelines => "Azure Pipelines OIDC",
            Kind::ManagedIdentity => "the managed identity",
        }
    }
}

/// An explicit source flag (step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {
    Certificate,
    ClientSecretFile,
    FederatedTokenFile,
    FederatedTokenEnv,
    FederatedGithub,
    FederatedAzurePipelines,
    ManagedIdentity,
}

impl Flag {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Flag::Certificate => "--certificate",
            Flag::ClientSecretFile => "--client-secret-file",
            Flag::FederatedTokenFile => "--federated-token-file",
            Flag::FederatedTokenEnv => "--federated-token-env",
            Flag::FederatedGithub => "--federated-github",
            Flag::FederatedAzurePipelines => "--federated-azure-pipelines",
            Flag::ManagedIdentity => "--managed-identity",
        }
    }

    pub(crate) fn kind(self) -> Kind {
        match self {
            Flag::Certificate => Kind::Certificate,
            Flag::ClientSecretFile => Kind::ClientSecret,
            Flag::FederatedTokenFile => Kind::FederatedFile,
            Flag::FederatedTokenEnv => Kind::FederatedEnv,
            Flag::FederatedGithub => Kind::GitHubActions,
            Flag::FederatedAzurePipelines => Kind::AzurePipelines,
            Flag::ManagedIdentity => Kind::ManagedIdentity,
        }
    }
}

/// A profile's `federated = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProfileFederated {
    GitHub,
    AzurePipelines,
}

/// The source fields the selected profile sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProfileSources {
    pub(crate) name: String,
    pub(crate) certificate: bool,
    pub(crate) client_secret_file: bool,
    pub(crate) federated_token_file: bool,
    pub(crate) federated: Option<ProfileFederated>,
    pub(crate) managed_identity: bool,
}

/// What is present (never a value).
#[derive(Debug, Clone, Default)]
pub(crate) struct Inputs<'a> {
    /// Explicit source flags given on the command line.
    pub(crate) flags: Vec<Flag>,
    /// `AZURE_TOKEN_CREDENTIALS`, as set (empty = unset).
    pub(crate) token_credentials: Option<&'a str>,
    pub(crate) env_certificate: bool,
    pub(crate) env_client_secret: bool,
    pub(crate) env_federated_token_file: bool,
    pub(crate) profile: Option<&'a ProfileSources>,
    /// Both `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` are set.
    pub(crate) github_actions: bool,
    /// The variable announcing a managed identity (`IDENTITY_ENDPOINT` or `MSI_ENDPOINT`).
    pub(crate) managed_identity_announced_by: Option<&'static str>,
}

/// The sources `AZURE_TOKEN_CREDENTIALS` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Restriction {
    /// `prod`: environment, then workload identity, then managed identity.
    Prod,
    /// `EnvironmentCredential`: a certificate or client secret.
    Environment,
    /// `WorkloadIdentityCredential`: a federated token file.
    WorkloadIdentity,
    /// `ManagedIdentityCredential`.
    ManagedIdentity,
}

impl Restriction {
    /// `None` when unset or empty; exit 2 for developer-tool credentials and unknown values.
    pub(crate) fn parse(value: Option<&str>) -> Result<Option<Restriction>> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let name = EnvVars::AZURE_TOKEN_CREDENTIALS;
        Ok(Some(match v.to_ascii_lowercase().as_str() {
            "prod" => Restriction::Prod,
            "environmentcredential" => Restriction::Environment,
            "workloadidentitycredential" => Restriction::WorkloadIdentity,
            "managedidentitycredential" => Restriction::ManagedIdentity,
            "dev"
            | "azureclicredential"
            | "azuredeveloperclicredential"
            | "azurepowershellcredential"
            | "visualstudiocodecredential"
            | "visualstudiocredential"
            | "interactivebrowsercredential"
            | "sharedtokencachecredential"
            | "brokercredential" => {
                return Err(Error::usage(format!(
                    "{name}={v} selects developer-tool credentials, which entra-token does not use"
                ))
                .hint(format!(
                    "unset {name} (or set it to prod, EnvironmentCredential, WorkloadIdentityCredential or ManagedIdentityCredential); for your own delegated token use `entra-token login` and `get --user`"
                )));
            }
            _ => {
                return Err(Error::usage(format!("{name}={v} is not a value entra-token knows")).hint(
                    "use prod, EnvironmentCredential, WorkloadIdentityCredential or ManagedIdentityCredential (case does not matter)",
                ));
            }
        }))
    }

    /// The value as written in messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Restriction::Prod => "prod",
            Restriction::Environment => "EnvironmentCredential",
            Restriction::WorkloadIdentity => "WorkloadIdentityCredential",
            Restriction::ManagedIdentity => "ManagedIdentityCredential",
        }
    }

    pub(crate) fn allows(self, kind: Kind) -> bool {
        match self {
            Restriction::Prod => matches!(
                kind,
                Kind::Certificate | Kind::ClientSecret | Kind::FederatedFile | Kind::ManagedIdentity
            ),
            Restriction::Environment => matches!(kind, Kind::Certificate | Kind::ClientSecret),
            Restriction::WorkloadIdentity => kind == Kind::FederatedFile,
            Restriction::ManagedIdentity => kind == Kind::ManagedIdentity,
        }
    }
}

/// What chose the source (`whoami`'s `selected_by`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SelectedBy {
    Flag(&'static str),
    Env(&'static str),
    Profile(String),
    Automatic,
}

impl SelectedBy {
    pub(crate) fn describe(&self) -> String {
        match self {
            SelectedBy::Flag(f) => format!("flag {f}"),
            SelectedBy::Env(v) => format!("env {v}"),
            SelectedBy::Profile(p) => format!("profile {p}"),
            SelectedBy::Automatic => "automatic".to_string(),
        }
    }
}

/// One line of the decision trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Considered {
    pub(crate) kind: Kind,
    pub(crate) reason: String,
}

/// The chosen source and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) kind: Kind,
    pub(crate) selected_by: SelectedBy,
    /// Every source that was configured (chosen, passed over, excluded), and for an automatic
    /// choice the automatic sources looked at, in the order the rules look at them.
    pub(crate) considered: Vec<Considered>,
    pub(crate) restriction: Option<Restriction>,
    /// Names of the set environment variables that took part in the decision.
    pub(crate) variables: Vec<&'static str>,
}

impl Decision {
    /// For `whoami`: `detail` is the managed-identity source (`imds`, `app-service`, …).
    pub(crate) fn report(&self, detail: Option<&'static str>) -> SourceReport {
        SourceReport {
            kind: self.kind.as_str(),
            detail,
            selected_by: self.selected_by.describe(),
            considered: self
                .considered
                .iter()
                .map(|c| ConsideredReport {
                    kind: c.kind.as_str(),
                    reason: c.reason.clone(),
                })
                .collect(),
        }
    }

    /// One line per decision step for `-v`.
    pub(crate) fn trace_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "credential: {} (selected by {})",
            self.kind.as_str(),
            self.selected_by.describe()
        )];
        lines.extend(
            self.considered
                .iter()
                .map(|c| format!("  considered {}: {}", c.kind.as_str(), c.reason)),
        );
        lines
    }
}

/// A configured candidate at steps 3–5.
struct Candidate {
    kind: Kind,
    by: SelectedBy,
    /// Where it is configured, for reasons: `AZURE_CLIENT_SECRET is set`.
    what: String,
}

/// Every way to provide a credential, for the "nothing configured" error.
pub(crate) const EVERY_WAY: &str = "provide one: --certificate PATH or AZURE_CLIENT_CERTIFICATE_PATH; --client-secret-file PATH or AZURE_CLIENT_SECRET; --federated-token-file PATH or AZURE_FEDERATED_TOKEN_FILE; --federated-token-env NAME (GitLab CI id_tokens); --federated-github (GitHub Actions with id-token: write); --federated-azure-pipelines (an Azure Pipelines service connection); --managed-identity (Azure VM, App Service, Arc, Cloud Shell, Service Fabric); or a profile (--profile NAME)";

/// Decides the source (see the module comment). Exit 2: two source flags, a flag
/// `AZURE_TOKEN_CREDENTIALS` excludes, a value of it entra-token does not take, or nothing
/// configured (the message lists every way to provide a credential).
pub(crate) fn decide(i: &Inputs) -> Result<Decision> {
    let restriction = Restriction::parse(i.token_credentials)?;
    let mut variables: Vec<&'static str> = Vec::new();
    if restriction.is_some() {
        variables.push(EnvVars::AZURE_TOKEN_CREDENTIALS);
    }
    let env_candidates = [
        (
            i.env_certificate,
            Kind::Certificate,
            EnvVars::AZURE_CLIENT_CERTIFICATE_PATH,
        ),
        (i.env_client_secret, Kind::ClientSecret, EnvVars::AZURE_CLIENT_SECRET),
        (
            i.env_federated_token_file,
            Kind::FederatedFile,
            EnvVars::AZURE_FEDERATED_TOKEN_FILE,
        ),
    ];
    let mut candidates: Vec<Candidate> = Vec::new();
    for (present, kind, name) in env_candidates {
        if present {
            variables.push(name);
            candidates.push(Candidate {
                kind,
                by: SelectedBy::Env(name),
                what: format!("{name} is set"),
            });
        }
    }
    if let Some(p) = i.profile {
        let by = || SelectedBy::Profile(p.name.clone());
        let field = |f: &str| format!("profile '{}' sets {f}", p.name);
        let profile_candidates = [
            (p.certificate, Kind::Certificate, "certificate"),
            (p.client_secret_file, Kind::ClientSecret, "client_secret_file"),
            (p.federated_token_file, Kind::FederatedFile, "federated_token_file"),
            (
                p.federated == Some(ProfileFederated::GitHub),
                Kind::GitHubActions,
                "federated = \"github\"",
            ),
            (
                p.federated == Some(ProfileFederated::AzurePipelines),
                Kind::AzurePipelines,
                "federated = \"azure-pipelines\"",
            ),
            (p.managed_identity, Kind::ManagedIdentity, "managed_identity = true"),
        ];
        for (present, kind, f) in profile_candidates {
            if present {
                candidates.push(Candidate {
                    kind,
                    by: by(),
                    what: field(f),
                });
            }
        }
    }
    if i.github_actions {
        variables.extend([
            EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL,
            EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN,
        ]);
    }
    if let Some(v) = i.managed_identity_announced_by {
        variables.push(v);
    }

    // Step 1: an explicit flag.
    match i.flags.as_slice() {
        [] => {}
        [flag] => {
            let kind = flag.kind();
            if let Some(r) = restriction
                && !r.allows(kind)
            {
                return Err(Error::usage(format!(
                    "{} asks for {}, but {}={} excludes it",
                    flag.name(),
                    kind.label(),
                    EnvVars::AZURE_TOKEN_CREDENTIALS,
                    r.as_str()
                ))
                .hint(format!(
                    "drop {} or unset {}",
                    flag.name(),
                    EnvVars::AZURE_TOKEN_CREDENTIALS
                )));
            }
            let mut considered = vec![Considered {
                kind,
                reason: format!("chosen: {} given", flag.name()),
            }];
            considered.extend(candidates.into_iter().map(|c| Considered {
                kind: c.kind,
                reason: format!("{}; not used: {} decides", c.what, flag.name()),
            }));
            return Ok(Decision {
                kind,
                selected_by: SelectedBy::Flag(flag.name()),
                considered,
                restriction,
                variables,
            });
        }
        [a, b, ..] => {
            return Err(Error::usage(format!(
                "{} and {} both choose a credential: give only one",
                a.name(),
                b.name()
            )));
        }
    }

    // Steps 3–4, then 5 (automatic).
    let mut considered = Vec::new();
    let mut chosen: Option<(Kind, SelectedBy)> = None;
    let excluded = |r: Restriction| {
        format!(
            "not used: {}={} excludes it",
            EnvVars::AZURE_TOKEN_CREDENTIALS,
            r.as_str()
        )
    };
    for c in candidates {
        if let Some(r) = restriction
            && !r.allows(c.kind)
        {
            considered.push(Considered {
                kind: c.kind,
                reason: format!("{}; {}", c.what, excluded(r)),
            });
            continue;
        }
        match &chosen {
            None => {
                considered.push(Considered {
                    kind: c.kind,
                    reason: format!("chosen: {}", c.what),
                });
                chosen = Some((c.kind, c.by));
            }
            Some((k, by)) => considered.push(Considered {
                kind: c.kind,
                reason: format!("{}; not used: {} ({}) comes first", c.what, k.label(), by.describe()),
            }),
        }
    }
    if let Some((kind, selected_by)) = chosen {
        return Ok(Decision {
            kind,
            selected_by,
            considered,
            restriction,
            variables,
        });
    }

    // Step 5: GitHub Actions OIDC, then an announced managed identity.
    if !i.github_actions {
        considered.push(Considered {
            kind: Kind::GitHubActions,
            reason: "not in GitHub Actions with id-token: write (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN are not set)"
                .into(),
        });
    } else if let Some(r) = restriction.filter(|r| !r.allows(Kind::GitHubActions)) {
        considered.push(Considered {
            kind: Kind::GitHubActions,
            reason: format!("GitHub Actions OIDC is available; {}", excluded(r)),
        });
    } else {
        considered.push(Considered {
            kind: Kind::GitHubActions,
            reason: "chosen: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are set (GitHub Actions with id-token: write)".into(),
        });
        return Ok(Decision {
            kind: Kind::GitHubActions,
            selected_by: SelectedBy::Automatic,
            considered,
            restriction,
            variables,
        });
    }
    let announced = i.managed_identity_announced_by;
    if let Some(r) = restriction.filter(|r| r.allows(Kind::ManagedIdentity)) {
        // AZURE_TOKEN_CREDENTIALS naming managed identity is an explicit choice: no announcement needed.
        let why = match announced {
            Some(v) => format!("{v} is set"),
            None => "no endpoint variable is set: IMDS".into(),
        };
        considered.push(Considered {
            kind: Kind::ManagedIdentity,
            reason: format!(
                "chosen: {}={} allows it; {why}",
                EnvVars::AZURE_TOKEN_CREDENTIALS,
                r.as_str()
            ),
        });
        return Ok(Decision {
            kind: Kind::ManagedIdentity,
            selected_by: SelectedBy::Env(EnvVars::AZURE_TOKEN_CREDENTIALS),
            considered,
            restriction,
            variables,
        });
    }
    match (announced, restriction) {
        (Some(v), None) => {
            considered.push(Considered {
                kind: Kind::ManagedIdentity,
                reason: format!("chosen: {v} announces one"),
            });
            return Ok(Decision {
                kind: Kind::ManagedIdentity,
                selected_by: SelectedBy::Automatic,
                considered,
                restriction,
                variables,
            });
        }
        (Some(v), Some(r)) => considered.push(Considered {
            kind: Kind::ManagedIdentity,
            reason: format!("{v} announces one; {}", excluded(r)),
        }),
        (None, _) => considered.push(Considered {
            kind: Kind::ManagedIdentity,
            reason: "no IDENTITY_ENDPOINT or MSI_ENDPOINT announces one (169.254.169.254 is never probed unasked)"
                .into(),
        }),
    }

    // Nothing: say what the restriction wanted, or every way.
    Err(match restriction {
        None => Error::usage("no credential configured").hint(EVERY_WAY),
        Some(r) => Error::usage(format!(
            "{}={} allows no credential that is configured",
            EnvVars::AZURE_TOKEN_CREDENTIALS,
            r.as_str()
        ))
        .hint(match r {
            Restriction::Environment => {
                "set AZURE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_SECRET (with AZURE_TENANT_ID and AZURE_CLIENT_ID)"
            }
            Restriction::WorkloadIdentity => {
                "set AZURE_FEDERATED_TOKEN_FILE (with AZURE_TENANT_ID and AZURE_CLIENT_ID)"
            }
            // not reached: these end at a managed identity above
            Restriction::Prod | Restriction::ManagedIdentity => "run where a managed identity is available",
        }),
    })
}

#[cfg(test)]
mod tests;
