//! Stage two of parsing: flags (already shaped by clap), the [`Env`] snapshot and the chosen
//! profile resolve into validated [`Settings`], by ONE precedence rule — flag, then environment
//! variable, then profile ([`Lookup::first`]). Commands and the token layer receive these, never
//! raw variables; the credential flags of a command are resolved on demand ([`credential`]).

pub(crate) mod credential;
pub(crate) mod profile;

pub(crate) use credential::{AppCredential, CredentialConfig};
pub(crate) use profile::Profile;

use crate::cache::{self, Mode, keyring};
use crate::cli::{CredentialArgs, GlobalArgs};
use crate::dirs;
use crate::env::{Env, EnvVars};
use crate::error::{Error, Result};
use crate::http::TlsRoots;
use crate::origin::Origin;
use crate::protocol::authority::{self, Audience, Cloud, Endpoint, Tenant};
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a command that resolves no settings (`cert`) waits for a file the user named (a
/// FIFO without a writer): `--timeout` when it is a valid number of seconds, else the default.
pub(crate) fn file_timeout(g: &GlobalArgs) -> Duration {
    g.timeout
        .filter(|t| t.is_finite() && *t > 0.0 && *t <= 86_400.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Resolved, validated settings shared by every command.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) tenant: Option<(Tenant, Origin)>,
    pub(crate) client_id: Option<(String, Origin)>,
    pub(crate) authority: Url,
    pub(crate) cloud: Cloud,
    pub(crate) timeout: Duration,
    /// `--timeout` or the profile's `timeout` was given (a managed identity waits longer by
    /// default).
    pub(crate) timeout_explicit: bool,
    pub(crate) tls_roots: TlsRoots,
    pub(crate) cache: cache::Config,
    profile_name: Option<String>,
    profile: Profile,
    /// The snapshot, for the credential flags a command resolves later.
    env: Env,
}

/// Looks a setting up where it may be set, in the one precedence order.
struct Lookup<'a> {
    env: &'a Env,
    profile_name: Option<&'a str>,
}

impl Lookup<'_> {
    fn profile(&self) -> Origin {
        Origin::Profile(self.profile_name.unwrap_or_default().to_string())
    }

    /// THE precedence rule: the flag's value if given, else the variable's (blank counts as
    /// unset), else the profile's — with where it came from, for messages that name it.
    fn first(
        &self,
        flag: Option<(&str, &'static str)>,
        var: Option<&'static str>,
        profile: Option<&str>,
    ) -> Option<(String, Origin)> {
        flag.map(|(v, name)| (v.to_string(), Origin::Flag(name)))
            .or_else(|| var.and_then(|name| self.env.value(name).map(|v| (v.to_string(), Origin::Env(name)))))
            .or_else(|| profile.map(|v| (v.to_string(), self.profile())))
    }
}

impl Settings {
    pub(crate) fn resolve(g: &GlobalArgs, env: &Env) -> Result<Settings> {
        env.check_text_variables()?;
        if let Some(value) = &g.client_secret {
            let _ = value; // the value is never looked at, echoed or logged
            return Err(Error::usage("--client-secret is not accepted: a secret on the command line is visible to other users (ps, shell history)")
                .hint("set AZURE_CLIENT_SECRET, or use --client-secret-file PATH ('-' reads stdin)"));
        }
        let no_profile = Lookup {
            env,
            profile_name: None,
        };
        let chosen = no_profile.first(
            g.profile.as_deref().map(|p| (p, "--profile")),
            Some(EnvVars::ENTRA_TOKEN_PROFILE),
            None,
        );
        let (profile_name, profile) = match chosen {
            Some((name, origin)) => {
                let p = profile::load(&name, &origin.describe(), env, file_timeout(g))?;
                (Some(name), p)
            }
            None => (None, Profile::default()),
        };
        let look = Lookup {
            env,
            profile_name: profile_name.as_deref(),
        };
        let in_profile = |key: &str| format!("profile '{}': {key}", profile_name.as_deref().unwrap_or(""));

        let cloud = match (g.cloud, &profile.cloud) {
            (Some(c), _) => c,
            (None, Some(c)) => Cloud::parse(c).ok_or_else(|| {
                Error::usage(format!(
                    "profile '{}': cloud '{c}' is not one of public, usgov, china",
                    profile_name.as_deref().unwrap_or("")
                ))
            })?,
            (None, None) => Cloud::Public,
        };

        // an explicit --cloud beats the environment's authority host
        let authority_var = g.cloud.is_none().then_some(EnvVars::AZURE_AUTHORITY_HOST);
        let authority = match look.first(
            g.authority_host.as_deref().map(|v| (v, "--authority-host")),
            authority_var,
            profile.authority_host.as_deref(),
        ) {
            Some((raw, origin)) => authority::parse_authority_host(&raw, &origin.describe())?,
            None => Url::parse(cloud.authority_host()).expect("built-in authority URL"),
        };

        let tenant = match look.first(
            g.tenant.as_deref().map(|v| (v, "--tenant")),
            Some(EnvVars::AZURE_TENANT_ID),
            profile.tenant.as_deref(),
        ) {
            Some((raw, origin)) => {
                let t = Tenant::parse(&raw).map_err(|e| {
                    Error::usage(format!("{}: {}", origin.describe(), e.message)).hint(e.hint.unwrap_or_default())
                })?;
                Some((t, origin))
            }
            None => None,
        };

        let client_id = look.first(
            g.client_id.as_deref().map(|v| (v, "--client-id")),
            Some(EnvVars::AZURE_CLIENT_ID),
            profile.client_id.as_deref(),
        );
        if let Some((id, origin)) = &client_id {
            let id = id.trim();
            if id.is_empty()
                || id
                    .chars()
                    .any(|c| c.is_whitespace() || c == '/' || c == '&' || c == '?')
            {
                return Err(Error::usage(format!(
                    "{}: '{id}' is not an application (client) ID",
                    origin.describe()
                )));
            }
        }
        let client_id = client_id.map(|(id, origin)| (id.trim().to_string(), origin));

        let timeout_secs = g
            .timeout
            .map(|t| (t, "--timeout".to_string()))
            .or_else(|| profile.timeout.map(|t| (t, in_profile("timeout"))));
        let timeout_explicit = timeout_secs.is_some();
        let timeout = match timeout_secs {
            Some((t, _)) if t.is_finite() && t > 0.0 && t <= 86_400.0 => Duration::from_secs_f64(t),
            Some((t, origin)) => {
                return Err(Error::usage(format!(
                    "{origin} {t}: must be a number of seconds above 0 and at most 86400"
                )));
            }
            None => DEFAULT_TIMEOUT,
        };

        let mode = match g.cache {
            Some(mode) => mode,
            None => match look.first(None, Some(EnvVars::ENTRA_TOKEN_CACHE), profile.cache.as_deref()) {
                Some((v, origin)) => Mode::parse(&v).ok_or_else(|| {
                    Error::usage(format!(
                        "{}: cache mode '{v}' is not one of auto, keyring, file, none",
                        origin.describe()
                    ))
                })?,
                None => Mode::Auto,
            },
        };
        let cache = cache::Config {
            mode,
            dir: dirs::cache_dir(env),
            keyring: keyring::Environment {
                disabled: env
                    .text(EnvVars::ENTRA_TOKEN_NO_KEYRING)
                    .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
                session_bus: env.os(EnvVars::DBUS_SESSION_BUS_ADDRESS).is_some(),
                runtime_dir: env.os(EnvVars::XDG_RUNTIME_DIR).map(PathBuf::from),
            },
        };
        let tls_roots = TlsRoots {
            file: env.os(EnvVars::SSL_CERT_FILE).map(PathBuf::from),
            dir: env.os(EnvVars::SSL_CERT_DIR).map(ToOwned::to_owned),
        };

        Ok(Settings {
            tenant,
            client_id,
            authority,
            cloud,
            timeout,
            timeout_explicit,
            tls_roots,
            cache,
            profile_name,
            profile,
            env: env.clone(),
        })
    }

    /// The Office 365 Management Activity API's base: `--management-url`, else
    /// `ENTRA_TOKEN_MANAGEMENT_URL`, else the cloud's; `true` when it was overridden.
    pub(crate) fn management_base(&self, flag: Option<&str>) -> Result<(Url, bool)> {
        let look = Lookup {
            env: &self.env,
            profile_name: self.profile_name.as_deref(),
        };
        match look.first(
            flag.map(|v| (v, "--management-url")),
            Some(EnvVars::ENTRA_TOKEN_MANAGEMENT_URL),
            None,
        ) {
            Some((raw, origin)) => Ok((authority::parse_authority_host(&raw, &origin.describe())?, true)),
            None => Ok((
                Url::parse(self.cloud.management()).expect("built-in Management URL"),
                false,
            )),
        }
    }

    /// `ENTRA_TOKEN_WEBHOOK_AUTH_ID`, the `activity` webhook's shared secret when no
    /// `--auth-id-file` is given (flags first: the command reads that file). Empty is unset.
    pub(crate) fn webhook_auth_id(&self) -> Option<Secret<String>> {
        let value = self
            .env
            .text(EnvVars::ENTRA_TOKEN_WEBHOOK_AUTH_ID)
            .filter(|v| !v.is_empty())?;
        crate::log::register_secret(value);
        Some(Secret::new(value.to_string()))
    }

    pub(crate) fn require_tenant(&self) -> Result<&Tenant> {
        self.tenant.as_ref().map(|(t, _)| t).ok_or_else(|| {
            Error::usage("no tenant: set --tenant or AZURE_TENANT_ID (or a profile's `tenant`)").hint(
                "the tenant is the directory (tenant) ID GUID or a verified domain such as contoso.onmicrosoft.com",
            )
        })
    }

    pub(crate) fn require_client_id(&self) -> Result<&str> {
        self.client_id.as_ref().map(|(c, _)| c.as_str()).ok_or_else(|| {
            Error::usage("no client ID: set --client-id or AZURE_CLIENT_ID (or a profile's `client_id`)")
                .hint("the application (client) ID is on the app registration's Overview page")
        })
    }

    /// The tenant segment for user sign-in and admin consent: the configured tenant, else
    /// `organizations` (any work or school account).
    pub(crate) fn sign_in_tenant(&self) -> Tenant {
        self.tenant
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| Tenant::Multi("organizations".into()))
    }

    /// Microsoft Graph's base: `--graph-url`, else `ENTRA_TOKEN_GRAPH_URL`, else the cloud's;
    /// `true` when it was overridden.
    pub(crate) fn graph_base(&self, flag: Option<&str>) -> Result<(Url, bool)> {
        self.service_base(flag, "--graph-url", EnvVars::ENTRA_TOKEN_GRAPH_URL, self.cloud.graph())
    }

    /// Azure Resource Manager's base: `--arm-url`, else `ENTRA_TOKEN_ARM_URL`, else the
    /// cloud's; `true` when it was overridden.
    pub(crate) fn arm_base(&self, flag: Option<&str>) -> Result<(Url, bool)> {
        self.service_base(flag, "--arm-url", EnvVars::ENTRA_TOKEN_ARM_URL, self.cloud.arm())
    }

    fn service_base(
        &self,
        flag: Option<&str>,
        flag_name: &'static str,
        variable: &'static str,
        default: &str,
    ) -> Result<(Url, bool)> {
        let look = Lookup {
            env: &self.env,
            profile_name: self.profile_name.as_deref(),
        };
        match look.first(flag.map(|v| (v, flag_name)), Some(variable), None) {
            Some((raw, origin)) => Ok((authority::parse_authority_host(&raw, &origin.describe())?, true)),
            None => Ok((Url::parse(default).expect("built-in service URL"), false)),
        }
    }

    /// The tenant an admin-consent URL is for: `--tenant` given on the command line, else the
    /// profile's `consent_tenant`, else `organizations`. `AZURE_TENANT_ID` and a profile's
    /// `tenant` name the app's own tenant in most setups, while consent is asked of another
    /// tenant's administrator.
    pub(crate) fn consent_tenant(&self) -> Result<Tenant> {
        if let Some((t, Origin::Flag(_))) = &self.tenant {
            return Ok(t.clone());
        }
        match &self.profile.consent_tenant {
            Some(t) => Tenant::parse(t).map_err(|e| {
                Error::usage(format!(
                    "profile '{}': consent_tenant: {}",
                    self.profile_name.as_deref().unwrap_or(""),
                    e.message
                ))
            }),
            None => Ok(Tenant::Multi("organizations".into())),
        }
    }

    /// The default v2 scope: the cloud's Graph.
    pub(crate) fn default_scope(&self) -> String {
        authority::resource_to_scope(self.cloud.graph())
    }

    /// v1 with `--v1` or a profile's `v1 = true`, else v2.
    pub(crate) fn endpoint(&self, v1_flag: bool) -> Endpoint {
        if v1_flag || self.profile.v1.unwrap_or(false) {
            Endpoint::V1
        } else {
            Endpoint::V2
        }
    }

    /// The audience from flags > profile > default, for the endpoint in use.
    pub(crate) fn audience(&self, endpoint: Endpoint, scope: Option<&str>, resource: Option<&str>) -> Result<Audience> {
        if resource.is_some_and(|r| r.trim().is_empty()) {
            return Err(Error::usage("--resource is empty").hint("e.g. --resource https://graph.microsoft.com"));
        }
        let (scope, resource) = if scope.is_some() || resource.is_some() {
            (scope.map(str::to_string), resource.map(str::to_string))
        } else {
            (self.profile.scope.clone(), self.profile.resource.clone())
        };
        match endpoint {
            Endpoint::V2 => Ok(Audience::Scope(match (scope, resource) {
                (Some(s), _) => s,
                (None, Some(r)) => authority::resource_to_scope(&r),
                (None, None) => self.default_scope(),
            })),
            Endpoint::V1 => Ok(Audience::Resource(match (resource, scope) {
                (Some(r), _) => r,
                (None, Some(s)) => authority::scope_to_resource(&s).ok_or_else(|| {
                    Error::usage(format!(
                        "--v1 takes a resource, and scope '{s}' is not RESOURCE/.default"
                    ))
                    .hint("pass --resource URI with --v1")
                })?,
                (None, None) => self.cloud.graph().to_string(),
            })),
        }
    }

    /// The selected profile's name.
    pub(crate) fn profile_name(&self) -> Option<&str> {
        self.profile_name.as_deref()
    }

    /// The environment variables the tenant and client id came from (names only).
    pub(crate) fn variables_used(&self) -> Vec<&'static str> {
        [
            self.tenant.as_ref().map(|(_, o)| o),
            self.client_id.as_ref().map(|(_, o)| o),
        ]
        .into_iter()
        .flatten()
        .filter_map(|o| match o {
            Origin::Env(name) => Some(*name),
            _ => None,
        })
        .collect()
    }

    /// The credential a command's flags, the environment and the profile configure, resolved
    /// when the command asks for it.
    pub(crate) fn credential<'a>(&'a self, flags: &'a CredentialArgs) -> CredentialConfig<'a> {
        CredentialConfig::new(self, flags)
    }

    /// `KUBERNETES_EXEC_INFO` (kubectl's request to a credential plugin), for `get -o
    /// exec-credential` only: a value that is not UTF-8 is exit 2 naming it.
    pub(crate) fn kubernetes_exec_info(&self) -> Result<Option<&str>> {
        self.env.check_text(EnvVars::KUBERNETES_EXEC_INFO)?;
        Ok(self.env.text(EnvVars::KUBERNETES_EXEC_INFO))
    }

    fn lookup(&self) -> Lookup<'_> {
        Lookup {
            env: &self.env,
            profile_name: self.profile_name.as_deref(),
        }
    }
}

/// `AZURE_CLIENT_CERTIFICATE_PASSWORD` for the commands that run without settings (`cert`): a
/// value that is not UTF-8 is exit 2 naming the variable.
pub(crate) fn password_variable(env: &Env) -> Result<Option<Secret<String>>> {
    env.check_text(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD)?;
    Ok(env
        .text(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD)
        .filter(|s| !s.is_empty())
        .map(|s| Secret::new(s.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str], env: &Env) -> Result<Settings> {
        use clap::Parser;
        let mut argv = vec!["entra-token"];
        argv.extend_from_slice(args);
        argv.push("decode");
        let cli = crate::cli::Cli::try_parse_from(argv).expect("valid flags");
        Settings::resolve(&cli.global, env)
    }

    #[test]
    fn flag_beats_variable_beats_default() {
        let env = Env::default()
            .with(EnvVars::AZURE_TENANT_ID, "contoso.com")
            .with(EnvVars::AZURE_CLIENT_ID, " app ")
            .with(EnvVars::ENTRA_TOKEN_CACHE, "file");
        let s = resolve(&[], &env).unwrap();
        assert_eq!(s.require_tenant().unwrap().as_str(), "contoso.com");
        assert_eq!(s.tenant.as_ref().unwrap().1, Origin::Env(EnvVars::AZURE_TENANT_ID));
        assert_eq!(s.require_client_id().unwrap(), "app");
        assert_eq!(s.cache.mode, Mode::File);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        let s = resolve(&["--tenant", "fabrikam.com", "--cache", "none"], &env).unwrap();
        assert_eq!(s.require_tenant().unwrap().as_str(), "fabrikam.com");
        assert_eq!(s.tenant.as_ref().unwrap().1, Origin::Flag("--tenant"));
        assert_eq!(s.cache.mode, Mode::None);
        // blank is unset
        let s = resolve(&[], &Env::default().with(EnvVars::AZURE_TENANT_ID, " ")).unwrap();
        assert!(s.tenant.is_none());
    }

    #[test]
    fn an_explicit_cloud_beats_the_environments_authority() {
        let env = Env::default().with(EnvVars::AZURE_AUTHORITY_HOST, "http://127.0.0.1:9");
        assert_eq!(resolve(&[], &env).unwrap().authority.as_str(), "http://127.0.0.1:9/");
        let s = resolve(&["--cloud", "usgov"], &env).unwrap();
        assert_eq!(s.authority.as_str(), "https://login.microsoftonline.us/");
        assert_eq!(s.cloud, Cloud::UsGov);
    }

    #[test]
    fn bad_values_name_their_origin() {
        let e = resolve(&[], &Env::default().with(EnvVars::ENTRA_TOKEN_CACHE, "sometimes")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message.starts_with("ENTRA_TOKEN_CACHE: cache mode 'sometimes'"),
            "{}",
            e.message
        );
        let e = resolve(&[], &Env::default().with(EnvVars::AZURE_TENANT_ID, "not a tenant")).unwrap_err();
        assert!(e.message.starts_with("AZURE_TENANT_ID: "), "{}", e.message);
        let e = resolve(&["--client-id", "a/b"], &Env::default()).unwrap_err();
        assert!(e.message.starts_with("--client-id: "), "{}", e.message);
        let e = resolve(&["--timeout", "0"], &Env::default()).unwrap_err();
        assert!(e.message.starts_with("--timeout 0: "), "{}", e.message);
    }

    #[test]
    fn directories_and_tls_roots_come_from_the_snapshot() {
        let env = Env::default()
            .with(EnvVars::HOME, "/home/u")
            .with(EnvVars::SSL_CERT_FILE, "/etc/ca.pem")
            .with(EnvVars::ENTRA_TOKEN_NO_KEYRING, "TRUE");
        let s = resolve(&[], &env).unwrap();
        assert_eq!(s.cache.dir, Some(PathBuf::from("/home/u/.cache/entra-token")));
        assert_eq!(s.tls_roots.file, Some(PathBuf::from("/etc/ca.pem")));
        assert!(s.cache.keyring.disabled && !s.cache.keyring.session_bus);
    }

    #[test]
    fn the_password_variable_is_checked_for_cert() {
        assert!(password_variable(&Env::default()).unwrap().is_none());
        let env = Env::default().with(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD, "pw");
        assert_eq!(password_variable(&env).unwrap().unwrap().expose(), "pw");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let bad = std::ffi::OsString::from_vec(b"p\xffw".to_vec());
            let env = Env::default().with(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD, bad);
            let e = password_variable(&env).unwrap_err();
            assert!(e.message.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"));
        }
    }
}
