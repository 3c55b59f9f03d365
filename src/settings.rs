//! Stage two of parsing: resolve flags > environment > `--profile` > defaults into validated
//! settings. Commands receive these, never raw environment variables.

use crate::cache::Mode;
use crate::cli::{self, CloudArg, CredentialArgs, GlobalArgs, env};
use crate::credential::certificate::AssertionAlg;
use crate::error::{Error, Result};
use crate::protocol::authority::{self, Cloud, Tenant};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest config.toml read (a profile is a few lines).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A `[profiles.NAME]` table of config.toml. Unknown keys are errors (typos should not be silent).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// PEM or PFX file with the private key and certificate.
    pub certificate: Option<PathBuf>,
    pub certificate_password_file: Option<PathBuf>,
    /// `ps256` (default) or `rs256`.
    pub assertion_alg: Option<String>,
    /// Send the certificate chain (`x5c`) for subject name + issuer authentication.
    pub send_x5c: Option<bool>,
    pub federated_token_file: Option<PathBuf>,
    /// `"github"`: take the federated token from the GitHub Actions OIDC endpoint.
    pub federated: Option<String>,
    pub federated_audience: Option<String>,
    pub authority_host: Option<String>,
    pub cloud: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
    pub v1: Option<bool>,
    pub timeout: Option<f64>,
    pub cache: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// Where a value came from, for messages that name the flag, variable or file at fault.
#[derive(Debug, Clone)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    Profile(String),
    Default,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Flag(f) => f.to_string(),
            Source::Env(v) => v.to_string(),
            Source::Profile(p) => format!("profile '{p}'"),
            Source::Default => "default".to_string(),
        }
    }
}

/// Resolved, validated settings shared by every command.
#[derive(Debug)]
pub struct Settings {
    pub tenant: Option<(Tenant, Source)>,
    pub client_id: Option<(String, Source)>,
    pub authority: Url,
    pub cloud: Cloud,
    pub timeout: Duration,
    pub cache_mode: crate::cache::Mode,
    pub profile_name: Option<String>,
    pub profile: Profile,
}

/// Every variable entra-token reads as text. A value that is not UTF-8 is an error naming the
/// variable (exit 2), never silently "unset": that would fall back to another authority or
/// credential.
const TEXT_VARIABLES: &[&str] = &[
    env::TENANT_ID,
    env::CLIENT_ID,
    env::CLIENT_SECRET,
    env::CLIENT_CERTIFICATE_PATH,
    env::CLIENT_CERTIFICATE_PASSWORD,
    env::CLIENT_SEND_CERTIFICATE_CHAIN,
    env::FEDERATED_TOKEN_FILE,
    env::AUTHORITY_HOST,
    env::CACHE,
    env::PROFILE,
    env::ACTIONS_ID_TOKEN_REQUEST_URL,
    env::ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    "ENTRA_TOKEN_NO_KEYRING",
];

pub fn check_env_encoding() -> Result<()> {
    for name in TEXT_VARIABLES {
        if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
            return Err(Error::usage(format!(
                "{name} is set to a value that is not valid UTF-8"
            )));
        }
    }
    Ok(())
}

/// An environment variable, treating an empty value as unset (CI systems often export "").
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn config_path() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("entra-token").join("config.toml"));
    }
    home_dir().map(|h| h.join(".config").join("entra-token").join("config.toml"))
}

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn load_profile(name: &str, source: &str) -> Result<Profile> {
    let path = config_path()
        .ok_or_else(|| Error::usage("cannot locate the config file: neither XDG_CONFIG_HOME nor HOME is set"))?;
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_CONFIG_BYTES) {
        return Err(Error::usage(format!(
            "{} is larger than {} KiB: not an entra-token config",
            path.display(),
            MAX_CONFIG_BYTES / 1024
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::usage(format!(
            "{source} selects profile '{name}', but {} cannot be read",
            path.display()
        ))
        .cause(e)
    })?;
    let config: ConfigFile = toml::from_str(&text).map_err(|e| {
        Error::usage(format!("{} is not a valid entra-token config", path.display())).cause(e.to_string().trim())
    })?;
    let names: Vec<&String> = config.profiles.keys().collect();
    config.profiles.get(name).cloned().ok_or_else(|| {
        let known = if names.is_empty() {
            "none".to_string()
        } else {
            names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        };
        Error::usage(format!("profile '{name}' is not in {}", path.display()))
            .hint(format!("profiles defined there: {known}"))
    })
}

impl Settings {
    pub fn resolve(g: &GlobalArgs) -> Result<Settings> {
        check_env_encoding()?;
        if let Some(value) = &g.client_secret {
            let _ = value; // the value is never looked at, echoed or logged
            return Err(Error::usage("--client-secret is not accepted: a secret on the command line is visible to other users (ps, shell history)")
                .hint("set AZURE_CLIENT_SECRET, or use --client-secret-file PATH ('-' reads stdin)"));
        }
        let (profile_name, profile) = match g
            .profile
            .clone()
            .map(|p| (p, "--profile"))
            .or_else(|| env_var(env::PROFILE).map(|p| (p, env::PROFILE)))
        {
            Some((name, src)) => {
                let p = load_profile(&name, src)?;
                (Some(name), p)
            }
            None => (None, Profile::default()),
        };
        let pname = || Source::Profile(profile_name.clone().unwrap_or_default());

        let cloud = match (g.cloud, &profile.cloud) {
            (Some(c), _) => match c {
                CloudArg::Public => Cloud::Public,
                CloudArg::Usgov => Cloud::UsGov,
                CloudArg::China => Cloud::China,
            },
            (None, Some(c)) => Cloud::parse(c).ok_or_else(|| {
                Error::usage(format!(
                    "profile '{}': cloud '{c}' is not one of public, usgov, china",
                    profile_name.as_deref().unwrap_or("")
                ))
            })?,
            (None, None) => Cloud::Public,
        };

        let authority_raw = g
            .authority_host
            .clone()
            .map(|v| (v, Source::Flag("--authority-host")))
            .or_else(|| {
                // an explicit --cloud beats the environment's authority host
                if g.cloud.is_some() {
                    None
                } else {
                    env_var(env::AUTHORITY_HOST).map(|v| (v, Source::Env(env::AUTHORITY_HOST)))
                }
            })
            .or_else(|| profile.authority_host.clone().map(|v| (v, pname())));
        let authority = match authority_raw {
            Some((raw, src)) => authority::parse_authority_host(&raw, &src.describe())?,
            None => Url::parse(cloud.authority_host()).expect("built-in authority URL"),
        };

        let tenant_raw = g
            .tenant
            .clone()
            .map(|v| (v, Source::Flag("--tenant")))
            .or_else(|| env_var(env::TENANT_ID).map(|v| (v, Source::Env(env::TENANT_ID))))
            .or_else(|| profile.tenant.clone().map(|v| (v, pname())));
        let tenant = match tenant_raw {
            Some((raw, src)) => {
                let t = Tenant::parse(&raw).map_err(|e| {
                    Error::usage(format!("{}: {}", src.describe(), e.message)).hint(e.hint.unwrap_or_default())
                })?;
                Some((t, src))
            }
            None => None,
        };

        let client_id = g
            .client_id
            .clone()
            .map(|v| (v, Source::Flag("--client-id")))
            .or_else(|| env_var(env::CLIENT_ID).map(|v| (v, Source::Env(env::CLIENT_ID))))
            .or_else(|| profile.client_id.clone().map(|v| (v, pname())));
        if let Some((id, src)) = &client_id {
            let id = id.trim();
            if id.is_empty()
                || id
                    .chars()
                    .any(|c| c.is_whitespace() || c == '/' || c == '&' || c == '?')
            {
                return Err(Error::usage(format!(
                    "{}: '{id}' is not an application (client) ID",
                    src.describe()
                )));
            }
        }
        let client_id = client_id.map(|(id, s)| (id.trim().to_string(), s));

        let timeout_secs = g.timeout.map(|t| (t, "--timeout".to_string())).or_else(|| {
            profile.timeout.map(|t| {
                (
                    t,
                    format!("profile '{}': timeout", profile_name.as_deref().unwrap_or("")),
                )
            })
        });
        let timeout = match timeout_secs {
            Some((t, _)) if t.is_finite() && t > 0.0 && t <= 86_400.0 => Duration::from_secs_f64(t),
            Some((t, src)) => {
                return Err(Error::usage(format!(
                    "{src} {t}: must be a number of seconds above 0 and at most 86400"
                )));
            }
            None => DEFAULT_TIMEOUT,
        };

        let cache_mode = match g.cache {
            Some(cli::CacheArg::Auto) => Mode::Auto,
            Some(cli::CacheArg::Keyring) => Mode::Keyring,
            Some(cli::CacheArg::File) => Mode::File,
            Some(cli::CacheArg::None) => Mode::None,
            None => match env_var(env::CACHE).map(|v| (v, env::CACHE.to_string())).or_else(|| {
                profile
                    .cache
                    .clone()
                    .map(|v| (v, format!("profile '{}'", profile_name.as_deref().unwrap_or(""))))
            }) {
                Some((v, src)) => Mode::parse(&v).ok_or_else(|| {
                    Error::usage(format!(
                        "{src}: cache mode '{v}' is not one of auto, keyring, file, none"
                    ))
                })?,
                None => Mode::Auto,
            },
        };

        Ok(Settings {
            tenant,
            client_id,
            authority,
            cloud,
            timeout,
            cache_mode,
            profile_name,
            profile,
        })
    }

    pub fn require_tenant(&self) -> Result<&Tenant> {
        self.tenant.as_ref().map(|(t, _)| t).ok_or_else(|| {
            Error::usage("no tenant: set --tenant or AZURE_TENANT_ID (or a profile's `tenant`)").hint(
                "the tenant is the directory (tenant) ID GUID or a verified domain such as contoso.onmicrosoft.com",
            )
        })
    }

    pub fn require_client_id(&self) -> Result<&str> {
        self.client_id.as_ref().map(|(c, _)| c.as_str()).ok_or_else(|| {
            Error::usage("no client ID: set --client-id or AZURE_CLIENT_ID (or a profile's `client_id`)")
                .hint("the application (client) ID is on the app registration's Overview page")
        })
    }

    /// The default v2 scope: the cloud's Graph.
    pub fn default_scope(&self) -> String {
        authority::resource_to_scope(self.cloud.graph())
    }
}

/// Where the client secret comes from, in precedence order.
pub enum SecretSource {
    File(PathBuf, Source),
    Env(String),
}

/// Where the certificate password comes from (flag > env > profile).
pub enum PasswordSource {
    File(PathBuf, Source),
    Env(Secret<String>),
}

/// A configured certificate credential.
pub struct CertificateSource {
    pub path: PathBuf,
    pub source: Source,
    pub password: Option<PasswordSource>,
    pub alg: AssertionAlg,
    pub send_x5c: bool,
}

/// A configured federated credential.
pub enum FederatedSource {
    /// A file holding the external token, re-read for every request.
    File(PathBuf, Source),
    /// The GitHub Actions OIDC endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`).
    GitHub { audience: String, source: Source },
}

/// The configured credential, chosen by precedence of its source (flags > env > profile) and,
/// within one level, by kind: certificate, then client secret, then federated.
pub enum CredentialSource {
    Certificate(CertificateSource),
    ClientSecret(SecretSource),
    Federated(FederatedSource),
}

/// What one precedence level configures.
#[derive(Default)]
struct Level {
    certificate: Option<(PathBuf, Source)>,
    secret: Option<SecretSource>,
    federated_file: Option<(PathBuf, Source)>,
    github: Option<Source>,
}

impl Level {
    fn is_empty(&self) -> bool {
        self.certificate.is_none() && self.secret.is_none() && self.federated_file.is_none() && self.github.is_none()
    }
}

pub fn credential_source(args: &CredentialArgs, settings: &Settings) -> Result<Option<CredentialSource>> {
    let profile = &settings.profile;
    let pname = || Source::Profile(settings.profile_name.clone().unwrap_or_default());
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
    let levels = [
        Level {
            certificate: args.certificate.clone().map(|p| (p, Source::Flag("--certificate"))),
            secret: args
                .client_secret_file
                .clone()
                .map(|p| SecretSource::File(p, Source::Flag("--client-secret-file"))),
            federated_file: args
                .federated_token_file
                .clone()
                .map(|p| (p, Source::Flag("--federated-token-file"))),
            github: args.federated_github.then_some(Source::Flag("--federated-github")),
        },
        Level {
            certificate: env_var(cli::env::CLIENT_CERTIFICATE_PATH)
                .map(|p| (PathBuf::from(p), Source::Env(cli::env::CLIENT_CERTIFICATE_PATH))),
            secret: std::env::var(cli::env::CLIENT_SECRET)
                .ok()
                .filter(|s| !s.is_empty())
                .map(SecretSource::Env),
            federated_file: env_var(cli::env::FEDERATED_TOKEN_FILE)
                .map(|p| (PathBuf::from(p), Source::Env(cli::env::FEDERATED_TOKEN_FILE))),
            github: None,
        },
        Level {
            certificate: profile.certificate.clone().map(|p| (p, pname())),
            secret: profile
                .client_secret_file
                .clone()
                .map(|p| SecretSource::File(p, pname())),
            federated_file: profile.federated_token_file.clone().map(|p| (p, pname())),
            github: github_in_profile.then(pname),
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
    if let Some((path, source)) = level.certificate {
        if level.secret.is_some() {
            ignored("a client secret", "certificate");
        }
        if level.federated_file.is_some() || level.github.is_some() {
            ignored("a federated token", "certificate");
        }
        return Ok(Some(CredentialSource::Certificate(certificate_source(
            args, settings, path, source,
        )?)));
    }
    if let Some(secret) = level.secret {
        if level.federated_file.is_some() || level.github.is_some() {
            ignored("a federated token", "client secret");
        }
        return Ok(Some(CredentialSource::ClientSecret(secret)));
    }
    if let Some((path, source)) = level.federated_file {
        return Ok(Some(CredentialSource::Federated(FederatedSource::File(path, source))));
    }
    if let Some(source) = level.github {
        if let Some((path, file_source)) = any_federated_file {
            crate::log::warn(format!(
                "{} is ignored: a federated token file is configured ({})",
                source.describe(),
                file_source.describe()
            ));
            return Ok(Some(CredentialSource::Federated(FederatedSource::File(
                path,
                file_source,
            ))));
        }
        let audience = args
            .federated_audience
            .clone()
            .or_else(|| profile.federated_audience.clone())
            .unwrap_or_else(|| crate::credential::federated::DEFAULT_AUDIENCE.to_string());
        return Ok(Some(CredentialSource::Federated(FederatedSource::GitHub {
            audience,
            source,
        })));
    }
    Ok(None)
}

fn certificate_source(
    args: &CredentialArgs,
    settings: &Settings,
    path: PathBuf,
    source: Source,
) -> Result<CertificateSource> {
    let profile = &settings.profile;
    let pname = || Source::Profile(settings.profile_name.clone().unwrap_or_default());
    let alg = match (args.assertion_alg, &profile.assertion_alg) {
        (Some(cli::AssertionAlgArg::Ps256), _) => AssertionAlg::Ps256,
        (Some(cli::AssertionAlgArg::Rs256), _) => AssertionAlg::Rs256,
        (None, Some(v)) => AssertionAlg::parse(v).ok_or_else(|| {
            Error::usage(format!(
                "profile '{}': assertion_alg = \"{v}\" is not one of ps256, rs256",
                settings.profile_name.as_deref().unwrap_or("")
            ))
        })?,
        (None, None) => AssertionAlg::default(),
    };
    let send_x5c = args.send_x5c
        || env_var(cli::env::CLIENT_SEND_CERTIFICATE_CHAIN).is_some_and(|v| is_truthy(&v))
        || profile.send_x5c.unwrap_or(false);
    let password = certificate_password(args.certificate_password_file.as_ref(), "--certificate-password-file")
        .or_else(|| {
            profile
                .certificate_password_file
                .clone()
                .map(|p| PasswordSource::File(p, pname()))
        });
    Ok(CertificateSource {
        path,
        source,
        password,
        alg,
        send_x5c,
    })
}

/// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`: `1` or `true` (any case), as azure-identity reads it.
pub fn is_truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true")
}

/// The certificate password from `--certificate-password-file` (or another flag) or
/// `AZURE_CLIENT_CERTIFICATE_PASSWORD`.
pub fn certificate_password(flag_file: Option<&PathBuf>, flag: &'static str) -> Option<PasswordSource> {
    if let Some(p) = flag_file {
        return Some(PasswordSource::File(p.clone(), Source::Flag(flag)));
    }
    std::env::var(cli::env::CLIENT_CERTIFICATE_PASSWORD)
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| PasswordSource::Env(Secret::new(s)))
}

/// Reads a file argument where `-` means stdin, naming the flag/file on failure.
pub fn read_input(path: &Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::usage(format!("could not read {what} from stdin")).cause(e))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "does not exist".to_string(),
            std::io::ErrorKind::PermissionDenied => "is not readable (permission denied)".to_string(),
            _ => format!("could not be read: {e}"),
        };
        Error::usage(format!("{what} '{}' {reason}", path.display()))
    })
}

#[cfg(test)]
mod credential_precedence_tests {
    use super::*;

    fn settings(profile: Profile) -> Settings {
        Settings {
            tenant: None,
            client_id: None,
            authority: Url::parse("https://login.microsoftonline.com").unwrap(),
            cloud: Cloud::Public,
            timeout: DEFAULT_TIMEOUT,
            cache_mode: Mode::Auto,
            profile_name: Some("p".into()),
            profile,
        }
    }

    /// These tests describe flag and profile levels; a CI runner's own AZURE_* credentials would
    /// sit between them, so the tests are skipped there.
    fn env_is_clean() -> bool {
        [
            env::CLIENT_CERTIFICATE_PATH,
            env::CLIENT_SECRET,
            env::FEDERATED_TOKEN_FILE,
            env::CLIENT_SEND_CERTIFICATE_CHAIN,
            env::CLIENT_CERTIFICATE_PASSWORD,
        ]
        .iter()
        .all(|v| std::env::var_os(v).is_none())
    }

    fn kind(src: Option<CredentialSource>) -> String {
        match src {
            Some(CredentialSource::Certificate(c)) => format!("certificate:{}", c.source.describe()),
            Some(CredentialSource::ClientSecret(SecretSource::File(_, s))) => format!("secret:{}", s.describe()),
            Some(CredentialSource::ClientSecret(SecretSource::Env(_))) => "secret:env".into(),
            Some(CredentialSource::Federated(FederatedSource::File(_, s))) => {
                format!("federated-file:{}", s.describe())
            }
            Some(CredentialSource::Federated(FederatedSource::GitHub { audience, source })) => {
                format!("github:{}:{audience}", source.describe())
            }
            None => "none".into(),
        }
    }

    #[test]
    fn kinds_within_a_level_and_levels() {
        if !env_is_clean() {
            return;
        }
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

    #[test]
    fn github_only_when_asked_and_no_token_file() {
        if !env_is_clean() {
            return;
        }
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

    #[test]
    fn certificate_options() {
        if !env_is_clean() {
            return;
        }
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
            assertion_alg: Some(cli::AssertionAlgArg::Ps256),
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
    }
}
