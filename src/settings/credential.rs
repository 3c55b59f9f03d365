//! Which client credential a command uses: its flags, then the environment, then the profile
//! decide the level; within a level a certificate beats a client secret, which beats a federated
//! token. With nothing configured, an app-only request inside a GitHub Actions job that may
//! request OIDC tokens uses the job's token (as workload identity federation intends).

use super::{Lookup, Settings};
use crate::cli::CredentialArgs;
use crate::credential::certificate::AssertionAlg;
use crate::credential::federated::DEFAULT_AUDIENCE;
use crate::credential::source::{CertificateSource, CredentialSource, FederatedSource, PasswordSource, SecretSource};
use crate::credential::{self, Credential};
use crate::env::EnvVars;
use crate::error::{Error, Result};
use crate::origin::Origin;
use crate::secret::Secret;
use std::path::PathBuf;

/// One command's credential flags, with the settings they are resolved against.
pub(crate) struct CredentialConfig<'a> {
    settings: &'a Settings,
    flags: &'a CredentialArgs,
}

/// What one precedence level configures.
#[derive(Default)]
struct Level {
    certificate: Option<(PathBuf, Origin)>,
    secret: Option<SecretSource>,
    federated_file: Option<(PathBuf, Origin)>,
    github: Option<Origin>,
}

impl Level {
    fn is_empty(&self) -> bool {
        self.certificate.is_none() && self.secret.is_none() && self.federated_file.is_none() && self.github.is_none()
    }
}

impl<'a> CredentialConfig<'a> {
    pub(super) fn new(settings: &'a Settings, flags: &'a CredentialArgs) -> CredentialConfig<'a> {
        CredentialConfig { settings, flags }
    }

    fn look(&self) -> Lookup<'_> {
        self.settings.lookup()
    }

    /// The credential of an app-only request: the configured one, else the GitHub Actions job's
    /// OIDC token when the job may request one; none at all is exit 2 saying how to set one.
    pub(crate) fn app(&self) -> Result<CredentialSource> {
        if let Some(source) = self.configured()? {
            return Ok(source);
        }
        if let Some(request) = self.github_request() {
            crate::log::info("no credential configured; in GitHub Actions: using its OIDC token (federated)");
            return Ok(CredentialSource::Federated(FederatedSource::GitHub {
                audience: self.federated_audience(),
                origin: Origin::Env(EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL),
                request: Some(request),
            }));
        }
        Err(Error::usage("no client credential configured").hint(
            "set AZURE_CLIENT_CERTIFICATE_PATH or pass --certificate PATH (PEM or PFX); or set AZURE_CLIENT_SECRET / \
             --client-secret-file PATH ('-' reads stdin); or AZURE_FEDERATED_TOKEN_FILE / --federated-token-file PATH; \
             in GitHub Actions, grant `permissions: id-token: write`",
        ))
    }

    /// The configured credential, or `None`: user sign-in flows then act as a public client and
    /// send no credential (Entra refuses one from a public client, AADSTS700025).
    pub(crate) fn client(&self) -> Result<Option<CredentialSource>> {
        self.configured()
    }

    /// [`CredentialConfig::app`], loaded for the app `client_id` (every local check — unreadable
    /// file, wrong password, unsuitable key — happens now, before any request).
    pub(crate) fn load_app(&self, client_id: &str) -> Result<Credential> {
        let s = self.settings;
        credential::from_settings(self.app()?, client_id, s.timeout, &s.tls_roots)
    }

    /// [`CredentialConfig::client`], loaded for the app `client_id`.
    pub(crate) fn load_client(&self, client_id: &str) -> Result<Option<Credential>> {
        let s = self.settings;
        self.client()?
            .map(|source| credential::from_settings(source, client_id, s.timeout, &s.tls_roots))
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

    fn configured(&self) -> Result<Option<CredentialSource>> {
        let (args, settings) = (self.flags, self.settings);
        let (env, profile) = (&settings.env, &settings.profile);
        let in_profile = || self.look().profile();
        let github_in_profile = match profile.federated.as_deref().map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("github") => true,
            Some(v) => {
                return Err(Error::usage(format!(
                    "profile '{}': federated = \"{v}\" is not supported (only \"github\")",
                    settings.profile_name.as_deref().unwrap_or("")
                ))
                .hint("for a token file, use federated_token_file = \"PATH\""));
            }
        };
        let from_env = |name: &'static str| env.value(name).map(|p| (PathBuf::from(p), Origin::Env(name)));
        let levels = [
            Level {
                certificate: args.certificate.clone().map(|p| (p, Origin::Flag("--certificate"))),
                secret: args
                    .client_secret_file
                    .clone()
                    .map(|p| SecretSource::File(p, Origin::Flag("--client-secret-file"))),
                federated_file: args
                    .federated_token_file
                    .clone()
                    .map(|p| (p, Origin::Flag("--federated-token-file"))),
                github: args.federated_github.then_some(Origin::Flag("--federated-github")),
            },
            Level {
                certificate: from_env(EnvVars::AZURE_CLIENT_CERTIFICATE_PATH),
                secret: env
                    .text(EnvVars::AZURE_CLIENT_SECRET)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretSource::Env(Secret::new(s.to_string()))),
                federated_file: from_env(EnvVars::AZURE_FEDERATED_TOKEN_FILE),
                github: None,
            },
            Level {
                certificate: profile.certificate.clone().map(|p| (p, in_profile())),
                secret: profile
                    .client_secret_file
                    .clone()
                    .map(|p| SecretSource::File(p, in_profile())),
                federated_file: profile.federated_token_file.clone().map(|p| (p, in_profile())),
                github: github_in_profile.then(in_profile),
            },
        ];
        // A federated token file configured anywhere is used instead of fetching one from GitHub.
        let any_federated_file = levels.iter().find_map(|l| l.federated_file.clone());
        let Some(level) = levels.into_iter().find(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let ignored = |what: &str, chosen: &str| {
            crate::log::info(format!(
                "{what} is also configured; using the {chosen} (certificate > secret > federated)"
            ))
        };
        if let Some((path, origin)) = level.certificate {
            if level.secret.is_some() {
                ignored("a client secret", "certificate");
            }
            if level.federated_file.is_some() || level.github.is_some() {
                ignored("a federated token", "certificate");
            }
            return Ok(Some(CredentialSource::Certificate(self.certificate(path, origin)?)));
        }
        if let Some(secret) = level.secret {
            if level.federated_file.is_some() || level.github.is_some() {
                ignored("a federated token", "client secret");
            }
            return Ok(Some(CredentialSource::ClientSecret(secret)));
        }
        if let Some((path, origin)) = level.federated_file {
            return Ok(Some(CredentialSource::Federated(FederatedSource::File(path, origin))));
        }
        if let Some(origin) = level.github {
            if let Some((path, file_origin)) = any_federated_file {
                crate::log::warn(format!(
                    "{} is ignored: a federated token file is configured ({})",
                    origin.describe(),
                    file_origin.describe()
                ));
                return Ok(Some(CredentialSource::Federated(FederatedSource::File(
                    path,
                    file_origin,
                ))));
            }
            return Ok(Some(CredentialSource::Federated(FederatedSource::GitHub {
                audience: self.federated_audience(),
                origin,
                request: self.github_request(),
            })));
        }
        Ok(None)
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
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::settings::Profile;
    use std::path::Path;

    /// Settings with `profile` (named `p`) and the environment `env`: nothing of the machine's
    /// own environment takes part.
    fn settings_with(profile: Profile, env: Env) -> Settings {
        Settings {
            tenant: None,
            client_id: None,
            authority: url::Url::parse("https://login.microsoftonline.com").unwrap(),
            cloud: crate::protocol::authority::Cloud::Public,
            timeout: super::super::DEFAULT_TIMEOUT,
            tls_roots: Default::default(),
            cache: crate::cache::Config {
                mode: crate::cache::Mode::Auto,
                dir: None,
                keyring: Default::default(),
            },
            profile_name: Some("p".into()),
            profile,
            env,
        }
    }

    fn settings(profile: Profile) -> Settings {
        settings_with(profile, Env::default())
    }

    fn credential_source(args: &CredentialArgs, s: &Settings) -> Result<Option<CredentialSource>> {
        s.credential(args).client()
    }

    fn kind(src: Option<CredentialSource>) -> String {
        match src {
            Some(CredentialSource::Certificate(c)) => format!("certificate:{}", c.origin.describe()),
            Some(CredentialSource::ClientSecret(SecretSource::File(_, s))) => format!("secret:{}", s.describe()),
            Some(CredentialSource::ClientSecret(SecretSource::Env(_))) => "secret:env".into(),
            Some(CredentialSource::Federated(FederatedSource::File(_, s))) => {
                format!("federated-file:{}", s.describe())
            }
            Some(CredentialSource::Federated(FederatedSource::GitHub { audience, origin, .. })) => {
                format!("github:{}:{audience}", origin.describe())
            }
            None => "none".into(),
        }
    }

    #[test]
    fn kinds_within_a_level_and_levels() {
        let full_profile = Profile {
            certificate: Some("p.pem".into()),
            client_secret_file: Some("p.secret".into()),
            federated_token_file: Some("p.token".into()),
            ..Profile::default()
        };
        let s = settings(full_profile.clone());
        let none = CredentialArgs::default();
        assert_eq!(kind(credential_source(&none, &s).unwrap()), "certificate:profile 'p'");

        // the flag level wins over the profile, whatever the kinds
        let args = CredentialArgs {
            federated_token_file: Some("f.token".into()),
            ..CredentialArgs::default()
        };
        assert_eq!(
            kind(credential_source(&args, &s).unwrap()),
            "federated-file:--federated-token-file"
        );
        let args = CredentialArgs {
            client_secret_file: Some("f.secret".into()),
            federated_token_file: Some("f.token".into()),
            ..CredentialArgs::default()
        };
        assert_eq!(
            kind(credential_source(&args, &s).unwrap()),
            "secret:--client-secret-file"
        );
        let args = CredentialArgs {
            certificate: Some("f.pem".into()),
            client_secret_file: Some("f.secret".into()),
            ..CredentialArgs::default()
        };
        assert_eq!(kind(credential_source(&args, &s).unwrap()), "certificate:--certificate");

        let s = settings(Profile {
            client_secret_file: Some("p.secret".into()),
            federated_token_file: Some("p.token".into()),
            ..Profile::default()
        });
        assert_eq!(kind(credential_source(&none, &s).unwrap()), "secret:profile 'p'");
        assert_eq!(
            kind(credential_source(&none, &settings(Profile::default())).unwrap()),
            "none"
        );
    }

    /// The environment level sits between the flags and the profile.
    #[test]
    fn the_environment_is_the_middle_level() {
        let env = Env::default()
            .with(EnvVars::AZURE_CLIENT_SECRET, "s")
            .with(EnvVars::AZURE_FEDERATED_TOKEN_FILE, "/e.token");
        let s = settings_with(
            Profile {
                certificate: Some("p.pem".into()),
                ..Profile::default()
            },
            env,
        );
        let none = CredentialArgs::default();
        assert_eq!(kind(credential_source(&none, &s).unwrap()), "secret:env");
        let args = CredentialArgs {
            federated_token_file: Some("f.token".into()),
            ..CredentialArgs::default()
        };
        assert_eq!(
            kind(credential_source(&args, &s).unwrap()),
            "federated-file:--federated-token-file"
        );
        let env = Env::default().with(EnvVars::AZURE_CLIENT_CERTIFICATE_PATH, "/e.pem");
        let s = settings_with(
            Profile {
                client_secret_file: Some("p.secret".into()),
                ..Profile::default()
            },
            env,
        );
        assert_eq!(
            kind(credential_source(&none, &s).unwrap()),
            "certificate:AZURE_CLIENT_CERTIFICATE_PATH"
        );
    }

    #[test]
    fn github_only_when_asked_and_no_token_file() {
        let s = settings(Profile {
            federated: Some("GitHub".into()),
            ..Profile::default()
        });
        let none = CredentialArgs::default();
        assert_eq!(
            kind(credential_source(&none, &s).unwrap()),
            "github:profile 'p':api://AzureADTokenExchange"
        );
        let s = settings(Profile {
            federated: Some("github".into()),
            federated_token_file: Some("p.token".into()),
            ..Profile::default()
        });
        assert_eq!(
            kind(credential_source(&none, &s).unwrap()),
            "federated-file:profile 'p'"
        );
        let args = CredentialArgs {
            federated_github: true,
            federated_audience: Some("api://custom".into()),
            ..CredentialArgs::default()
        };
        // a token file configured at a lower level still wins over fetching one
        assert_eq!(
            kind(credential_source(&args, &s).unwrap()),
            "federated-file:profile 'p'"
        );
        let s = settings(Profile::default());
        assert_eq!(
            kind(credential_source(&args, &s).unwrap()),
            "github:--federated-github:api://custom"
        );
        let bad = settings(Profile {
            federated: Some("gitlab".into()),
            ..Profile::default()
        });
        assert_eq!(credential_source(&none, &bad).err().unwrap().exit_code(), 2);
    }

    /// App-only requests with nothing configured fall back to GitHub Actions' OIDC token, and
    /// only when the job has both variables; user sign-in stays a public client.
    #[test]
    fn github_actions_fallback_is_for_app_only_requests() {
        let none = CredentialArgs::default();
        let actions = Env::default()
            .with(
                EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL,
                "https://actions.example/idtoken?x=1",
            )
            .with(EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN, "req-token");
        let s = settings_with(Profile::default(), actions.clone());
        assert_eq!(
            kind(Some(s.credential(&none).app().unwrap())),
            "github:ACTIONS_ID_TOKEN_REQUEST_URL:api://AzureADTokenExchange"
        );
        assert_eq!(kind(s.credential(&none).client().unwrap()), "none");
        let half = Env::default().with(EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL, "https://actions.example/x");
        let e = settings_with(Profile::default(), half)
            .credential(&none)
            .app()
            .err()
            .unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("no client credential configured"));
        // a configured credential is used, not the job's token
        let s = settings_with(Profile::default(), actions.with(EnvVars::AZURE_CLIENT_SECRET, "s"));
        assert_eq!(kind(Some(s.credential(&none).app().unwrap())), "secret:env");
    }

    #[test]
    fn certificate_options() {
        let s = settings(Profile {
            certificate: Some("p.pem".into()),
            assertion_alg: Some("RS256".into()),
            send_x5c: Some(true),
            certificate_password_file: Some("p.pw".into()),
            ..Profile::default()
        });
        let Some(CredentialSource::Certificate(c)) = credential_source(&CredentialArgs::default(), &s).unwrap() else {
            panic!("certificate expected");
        };
        assert_eq!(c.alg, AssertionAlg::Rs256);
        assert!(c.send_x5c);
        assert!(matches!(c.password, Some(PasswordSource::File(ref p, _)) if p == Path::new("p.pw")));
        let args = CredentialArgs {
            assertion_alg: Some(AssertionAlg::Ps256),
            certificate_password_file: Some("f.pw".into()),
            ..CredentialArgs::default()
        };
        let Some(CredentialSource::Certificate(c)) = credential_source(&args, &s).unwrap() else {
            panic!("certificate expected");
        };
        assert_eq!(c.alg, AssertionAlg::Ps256);
        assert!(matches!(c.password, Some(PasswordSource::File(ref p, _)) if p == Path::new("f.pw")));
        let bad = settings(Profile {
            certificate: Some("p.pem".into()),
            assertion_alg: Some("es256".into()),
            ..Profile::default()
        });
        assert!(credential_source(&CredentialArgs::default(), &bad).is_err());
        assert!(is_truthy("TRUE") && is_truthy("1") && !is_truthy("yes") && !is_truthy("0"));
        // the environment's password and chain flag, between the flags and the profile
        let env = Env::default()
            .with(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD, "env-pw")
            .with(EnvVars::AZURE_CLIENT_SEND_CERTIFICATE_CHAIN, "true");
        let s = settings_with(
            Profile {
                certificate: Some("p.pem".into()),
                certificate_password_file: Some("p.pw".into()),
                ..Profile::default()
            },
            env,
        );
        let Some(CredentialSource::Certificate(c)) = credential_source(&CredentialArgs::default(), &s).unwrap() else {
            panic!("certificate expected");
        };
        assert!(c.send_x5c);
        assert!(matches!(c.password, Some(PasswordSource::Env(ref p)) if p.expose() == "env-pw"));
    }
}
