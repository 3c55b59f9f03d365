//! Every environment variable entra-token reads, named once ([`EnvVars`]) and listed with its kind
//! ([`VARIABLES`]), and the [`Env`] snapshot taken once at start. Nothing else reads the process
//! environment (clippy's `disallowed-methods` in `clippy.toml` enforces it), so settings resolve
//! from a value that tests build themselves, whatever the machine running them has exported.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// The names. The credential and selection variables are azure-identity's, so existing CI setups
/// work unchanged (<https://learn.microsoft.com/en-us/azure/developer/intro/azure-developer-environment-variables>).
pub(crate) struct EnvVars;

impl EnvVars {
    /// Tenant: directory GUID or verified domain (`--tenant`).
    pub(crate) const AZURE_TENANT_ID: &'static str = "AZURE_TENANT_ID";
    /// Application (client) ID (`--client-id`).
    pub(crate) const AZURE_CLIENT_ID: &'static str = "AZURE_CLIENT_ID";
    /// The client secret itself (there is no flag for it: argv is visible to other users).
    pub(crate) const AZURE_CLIENT_SECRET: &'static str = "AZURE_CLIENT_SECRET";
    /// PEM or PFX file with the certificate and its private key (`--certificate`).
    pub(crate) const AZURE_CLIENT_CERTIFICATE_PATH: &'static str = "AZURE_CLIENT_CERTIFICATE_PATH";
    /// The certificate file's password itself (`--certificate-password-file` reads it from a file).
    pub(crate) const AZURE_CLIENT_CERTIFICATE_PASSWORD: &'static str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
    /// `1` or `true`: send the certificate chain (`x5c`) for subject name + issuer authentication.
    pub(crate) const AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: &'static str = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
    /// File holding a federated (workload identity) token, re-read for every request.
    pub(crate) const AZURE_FEDERATED_TOKEN_FILE: &'static str = "AZURE_FEDERATED_TOKEN_FILE";
    /// Authority host URL, e.g. `https://login.microsoftonline.us` (`--authority-host`).
    pub(crate) const AZURE_AUTHORITY_HOST: &'static str = "AZURE_AUTHORITY_HOST";
    /// Token cache mode: `auto`, `keyring`, `file` or `none` (`--cache`).
    pub(crate) const ENTRA_TOKEN_CACHE: &'static str = "ENTRA_TOKEN_CACHE";
    /// Profile of config.toml to use (`--profile`).
    pub(crate) const ENTRA_TOKEN_PROFILE: &'static str = "ENTRA_TOKEN_PROFILE";
    /// Microsoft Graph's base URL for `api` (`--graph-url`), e.g. the emulator.
    pub(crate) const ENTRA_TOKEN_GRAPH_URL: &'static str = "ENTRA_TOKEN_GRAPH_URL";
    /// Azure Resource Manager's base URL for `api` (`--arm-url`), e.g. the emulator.
    pub(crate) const ENTRA_TOKEN_ARM_URL: &'static str = "ENTRA_TOKEN_ARM_URL";
    /// `1` or `true`: never try the OS keyring (`auto` uses files at once).
    pub(crate) const ENTRA_TOKEN_NO_KEYRING: &'static str = "ENTRA_TOKEN_NO_KEYRING";
    /// The Office 365 Management Activity API's base URL for `activity` (`--management-url`).
    pub(crate) const ENTRA_TOKEN_MANAGEMENT_URL: &'static str = "ENTRA_TOKEN_MANAGEMENT_URL";
    /// The `activity` webhook's auth id itself, a shared secret (`--auth-id-file` reads it from a
    /// file; there is no flag for the value: argv is visible to other users).
    pub(crate) const ENTRA_TOKEN_WEBHOOK_AUTH_ID: &'static str = "ENTRA_TOKEN_WEBHOOK_AUTH_ID";
    /// GitHub Actions: the job's OIDC token endpoint (set with `permissions: id-token: write`).
    pub(crate) const ACTIONS_ID_TOKEN_REQUEST_URL: &'static str = "ACTIONS_ID_TOKEN_REQUEST_URL";
    /// GitHub Actions: the bearer token for that endpoint.
    pub(crate) const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &'static str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
    /// Which credential sources are tried: `prod`, `dev` or one credential's name, e.g.
    /// `ManagedIdentityCredential` (azure-identity's `DefaultAzureCredential` reads it too).
    pub(crate) const AZURE_TOKEN_CREDENTIALS: &'static str = "AZURE_TOKEN_CREDENTIALS";
    /// Managed identity (App Service, Functions, Container Apps, Service Fabric, Azure Arc): the
    /// token endpoint.
    pub(crate) const IDENTITY_ENDPOINT: &'static str = "IDENTITY_ENDPOINT";
    /// Managed identity (App Service `X-IDENTITY-HEADER`, Service Fabric `secret`): a secret.
    pub(crate) const IDENTITY_HEADER: &'static str = "IDENTITY_HEADER";
    /// Service Fabric: SHA-1 thumbprint (hex) of the token service's self-signed certificate.
    pub(crate) const IDENTITY_SERVER_THUMBPRINT: &'static str = "IDENTITY_SERVER_THUMBPRINT";
    /// Azure Arc: set next to `IDENTITY_ENDPOINT` by the Connected Machine agent.
    pub(crate) const IMDS_ENDPOINT: &'static str = "IMDS_ENDPOINT";
    /// Cloud Shell's token endpoint (with `MSI_SECRET`: Azure Machine Learning, not supported).
    pub(crate) const MSI_ENDPOINT: &'static str = "MSI_ENDPOINT";
    /// Azure Machine Learning's managed identity secret.
    pub(crate) const MSI_SECRET: &'static str = "MSI_SECRET";
    /// Replaces `http://169.254.169.254` as the IMDS host (AKS pod identity, tests).
    pub(crate) const AZURE_POD_IDENTITY_AUTHORITY_HOST: &'static str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
    /// Azure Pipelines: the job's OIDC token endpoint (set in every job).
    pub(crate) const SYSTEM_OIDCREQUESTURI: &'static str = "SYSTEM_OIDCREQUESTURI";
    /// Azure Pipelines: the job's access token, a secret the step maps:
    /// `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`.
    pub(crate) const SYSTEM_ACCESSTOKEN: &'static str = "SYSTEM_ACCESSTOKEN";
    /// Azure Pipelines: the service connection's id, as the AzureCLI task sets it
    /// (`--service-connection-id`).
    pub(crate) const AZURESUBSCRIPTION_SERVICE_CONNECTION_ID: &'static str = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID";
    /// The Azure Arc agent's key folder, when it is not the agent's default
    /// (`/var/opt/azcmagent/tokens`, `%ProgramData%\AzureConnectedMachineAgent\Tokens`).
    pub(crate) const ENTRA_TOKEN_ARC_KEY_DIR: &'static str = "ENTRA_TOKEN_ARC_KEY_DIR";
    /// Windows: the Azure Arc agent's key folder is under it (`%ProgramData%\AzureConnectedMachineAgent\Tokens`).
    pub(crate) const PROGRAM_DATA: &'static str = "ProgramData";
    /// Windows: where the Azure Arc agent (`himds.exe`) is installed.
    pub(crate) const PROGRAM_FILES: &'static str = "ProgramFiles";
    /// The home directory (config and cache default to directories under it).
    pub(crate) const HOME: &'static str = "HOME";
    /// The home directory on Windows, when `HOME` is not set.
    pub(crate) const USERPROFILE: &'static str = "USERPROFILE";
    /// Base of `entra-token/config.toml` (default `~/.config`).
    pub(crate) const XDG_CONFIG_HOME: &'static str = "XDG_CONFIG_HOME";
    /// Base of the token cache directory `entra-token/` (default `~/.cache`).
    pub(crate) const XDG_CACHE_HOME: &'static str = "XDG_CACHE_HOME";
    /// Base of the token cache directory on Windows, when `XDG_CACHE_HOME` is not set.
    pub(crate) const LOCALAPPDATA: &'static str = "LOCALAPPDATA";
    /// The D-Bus session bus: without it (and without `$XDG_RUNTIME_DIR/bus`) there is no keyring.
    pub(crate) const DBUS_SESSION_BUS_ADDRESS: &'static str = "DBUS_SESSION_BUS_ADDRESS";
    /// Where the D-Bus session socket `bus` usually is.
    pub(crate) const XDG_RUNTIME_DIR: &'static str = "XDG_RUNTIME_DIR";
    /// A PEM bundle of CA certificates to trust (behind a TLS-inspecting proxy).
    pub(crate) const SSL_CERT_FILE: &'static str = "SSL_CERT_FILE";
    /// Directories of CA certificates to trust.
    pub(crate) const SSL_CERT_DIR: &'static str = "SSL_CERT_DIR";
    /// Set by kubectl for a credential plugin: the `ExecCredential` version it wants back. Read
    /// (and checked as text) only for `get -o exec-credential`.
    pub(crate) const KUBERNETES_EXEC_INFO: &'static str = "KUBERNETES_EXEC_INFO";
}

/// What a variable is about: a hermetic run keeps or replaces variables by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarKind {
    /// How the app proves who it is: secrets, certificates, federated tokens.
    Credential,
    /// Which tenant, app, authority and profile are used.
    Selection,
    /// Home and config directories.
    Directory,
    /// Where the token cache lives and whether a keyring can hold its key.
    Cache,
    /// Trusted CAs and proxies on the way to Entra and the APIs.
    ProxyTls,
    /// What a CI system or a calling tool provides (GitHub Actions' OIDC endpoint, kubectl's
    /// exec request).
    Ci,
    /// The desktop session (which browser `login` opens).
    Desktop,
}

/// Who reads a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadBy {
    /// entra-token, through the [`Env`] snapshot.
    EntraToken,
    /// A dependency reads it itself (the HTTP client's proxies, the TLS verifier, the browser
    /// opener); listed so that a child environment can be built from this table alone.
    Dependency(&'static str),
}

/// How a value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Text: a value that is not UTF-8 is an error naming the variable (exit 2), never silently
    /// "unset" (that would fall back to another authority or credential).
    Text,
    /// A path or an opaque value, read as the OS gives it.
    Os,
}

/// One row of [`VARIABLES`]. `kind` is for building a child environment (the emulator's hermetic
/// runs); entra-token itself only needs the names and encodings.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)]
pub(crate) struct Variable {
    pub(crate) name: &'static str,
    pub(crate) kind: VarKind,
    pub(crate) read_by: ReadBy,
    pub(crate) encoding: Encoding,
    /// The value is a secret (a client secret, a password, a bearer token): a child process
    /// entra-token starts for its own purposes (the browser) does not inherit it.
    pub(crate) secret: bool,
}

const fn ours(name: &'static str, kind: VarKind, encoding: Encoding) -> Variable {
    Variable {
        name,
        kind,
        read_by: ReadBy::EntraToken,
        encoding,
        secret: false,
    }
}

/// A variable of ours whose value is a secret.
const fn secret(name: &'static str, kind: VarKind) -> Variable {
    Variable {
        secret: true,
        ..ours(name, kind, Encoding::Text)
    }
}

const fn theirs(name: &'static str, kind: VarKind, reader: &'static str) -> Variable {
    Variable {
        name,
        kind,
        read_by: ReadBy::Dependency(reader),
        encoding: Encoding::Os,
        secret: false,
    }
}

/// Every variable entra-token or one of its dependencies reads, with its kind. The text variables
/// come first, in the order their encoding is checked.
pub(crate) const VARIABLES: &[Variable] = &[
    ours(EnvVars::AZURE_TENANT_ID, VarKind::Selection, Encoding::Text),
    ours(EnvVars::AZURE_CLIENT_ID, VarKind::Selection, Encoding::Text),
    secret(EnvVars::AZURE_CLIENT_SECRET, VarKind::Credential),
    ours(
        EnvVars::AZURE_CLIENT_CERTIFICATE_PATH,
        VarKind::Credential,
        Encoding::Text,
    ),
    secret(EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD, VarKind::Credential),
    ours(
        EnvVars::AZURE_CLIENT_SEND_CERTIFICATE_CHAIN,
        VarKind::Credential,
        Encoding::Text,
    ),
    ours(EnvVars::AZURE_FEDERATED_TOKEN_FILE, VarKind::Credential, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_GRAPH_URL, VarKind::Selection, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_ARM_URL, VarKind::Selection, Encoding::Text),
    ours(EnvVars::AZURE_AUTHORITY_HOST, VarKind::Selection, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_CACHE, VarKind::Cache, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_PROFILE, VarKind::Selection, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_MANAGEMENT_URL, VarKind::Selection, Encoding::Text),
    secret(EnvVars::ENTRA_TOKEN_WEBHOOK_AUTH_ID, VarKind::Credential),
    ours(EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL, VarKind::Ci, Encoding::Text),
    secret(EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN, VarKind::Ci),
    ours(EnvVars::ENTRA_TOKEN_NO_KEYRING, VarKind::Cache, Encoding::Text),
    ours(EnvVars::AZURE_TOKEN_CREDENTIALS, VarKind::Selection, Encoding::Text),
    ours(EnvVars::IDENTITY_ENDPOINT, VarKind::Credential, Encoding::Text),
    secret(EnvVars::IDENTITY_HEADER, VarKind::Credential),
    ours(EnvVars::IDENTITY_SERVER_THUMBPRINT, VarKind::Credential, Encoding::Text),
    ours(EnvVars::IMDS_ENDPOINT, VarKind::Credential, Encoding::Text),
    ours(EnvVars::MSI_ENDPOINT, VarKind::Credential, Encoding::Text),
    secret(EnvVars::MSI_SECRET, VarKind::Credential),
    ours(
        EnvVars::AZURE_POD_IDENTITY_AUTHORITY_HOST,
        VarKind::Credential,
        Encoding::Text,
    ),
    ours(EnvVars::SYSTEM_OIDCREQUESTURI, VarKind::Ci, Encoding::Text),
    secret(EnvVars::SYSTEM_ACCESSTOKEN, VarKind::Ci),
    ours(
        EnvVars::AZURESUBSCRIPTION_SERVICE_CONNECTION_ID,
        VarKind::Ci,
        Encoding::Text,
    ),
    ours(EnvVars::XDG_CACHE_HOME, VarKind::Cache, Encoding::Os),
    ours(EnvVars::LOCALAPPDATA, VarKind::Cache, Encoding::Os),
    ours(EnvVars::DBUS_SESSION_BUS_ADDRESS, VarKind::Cache, Encoding::Os),
    ours(EnvVars::XDG_RUNTIME_DIR, VarKind::Cache, Encoding::Os),
    ours(EnvVars::HOME, VarKind::Directory, Encoding::Os),
    ours(EnvVars::USERPROFILE, VarKind::Directory, Encoding::Os),
    ours(EnvVars::XDG_CONFIG_HOME, VarKind::Directory, Encoding::Os),
    ours(EnvVars::PROGRAM_DATA, VarKind::Directory, Encoding::Os),
    ours(EnvVars::ENTRA_TOKEN_ARC_KEY_DIR, VarKind::Credential, Encoding::Os),
    ours(EnvVars::PROGRAM_FILES, VarKind::Directory, Encoding::Os),
    ours(EnvVars::SSL_CERT_FILE, VarKind::ProxyTls, Encoding::Os),
    ours(EnvVars::SSL_CERT_DIR, VarKind::ProxyTls, Encoding::Os),
    ours(EnvVars::KUBERNETES_EXEC_INFO, VarKind::Ci, Encoding::Os),
    theirs("HTTPS_PROXY", VarKind::ProxyTls, "reqwest"),
    theirs("https_proxy", VarKind::ProxyTls, "reqwest"),
    theirs("HTTP_PROXY", VarKind::ProxyTls, "reqwest"),
    theirs("http_proxy", VarKind::ProxyTls, "reqwest"),
    theirs("ALL_PROXY", VarKind::ProxyTls, "reqwest"),
    theirs("all_proxy", VarKind::ProxyTls, "reqwest"),
    theirs("NO_PROXY", VarKind::ProxyTls, "reqwest"),
    theirs("no_proxy", VarKind::ProxyTls, "reqwest"),
    theirs("BROWSER", VarKind::Desktop, "webbrowser"),
];

/// Variables a hermetic run (`entra-token emulator exec`) passes on from the caller: none can
/// carry a credential, a tenant, a profile, a cache location, a proxy or a CA. Home and system
/// directories and the desktop session stay (the child's programs need them; the child's token
/// cache is a file under a private `XDG_CACHE_HOME`, so the D-Bus session never reaches the
/// user's keyring). Everything else in [`VARIABLES`] is removed, and the emulator sets its own.
const KEPT_IN_HERMETIC_RUNS: &[&str] = &[
    EnvVars::HOME,
    EnvVars::USERPROFILE,
    EnvVars::LOCALAPPDATA,
    EnvVars::DBUS_SESSION_BUS_ADDRESS,
    EnvVars::XDG_RUNTIME_DIR,
    "ProgramData",
    "ProgramFiles",
    "BROWSER",
];

/// The caller's variables `emulator exec` removes: every name in [`VARIABLES`] but the few kept.
pub(crate) fn hermetic_removals() -> Vec<&'static str> {
    VARIABLES
        .iter()
        .map(|v| v.name)
        .filter(|name| !KEPT_IN_HERMETIC_RUNS.contains(name))
        .collect()
}

/// The variables entra-token reads, as they were when the process started. Built once by
/// [`Env::capture`] (a handful of `getenv` calls, nothing else) or, in tests, from given values.
/// Its `Debug` shows names only: some values are secrets.
#[derive(Clone, Default)]
pub(crate) struct Env {
    values: BTreeMap<&'static str, OsString>,
    /// Variables named at run time (`--federated-token-env NAME`), given by tests.
    named: BTreeMap<String, OsString>,
    /// Captured from the process: a variable named at run time is read from it.
    live: bool,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// The names of the variables whose values are secrets.
pub(crate) fn secret_variables() -> impl Iterator<Item = &'static str> {
    VARIABLES.iter().filter(|v| v.secret).map(|v| v.name)
}

/// Removes every secret variable from this process's environment, so that a child started
/// later (the browser, through the `webbrowser` crate, which offers no way to choose its
/// environment) inherits none of them. Called by `app` right after [`Env::capture`] for the
/// commands that may open a browser, while the process has a single thread; the values live on
/// in the [`Env`] snapshot.
pub(crate) fn remove_secret_variables_from_process() {
    for name in secret_variables() {
        // SAFETY: called from `main` before any other thread exists (no runtime, no client),
        // so nothing reads or writes the environment concurrently.
        unsafe { std::env::remove_var(name) };
    }
}

impl Env {
    /// The process environment's values of every variable entra-token reads itself.
    #[allow(clippy::disallowed_methods)] // the one place that reads the process environment
    pub(crate) fn capture() -> Env {
        let values = VARIABLES
            .iter()
            .filter(|v| v.read_by == ReadBy::EntraToken)
            .filter_map(|v| std::env::var_os(v.name).map(|value| (v.name, value)))
            .collect();
        Env {
            values,
            named: BTreeMap::new(),
            live: true,
        }
    }

    /// A variable whose name the user gives at run time (`--federated-token-env NAME`): not in
    /// [`VARIABLES`], so read when asked for — from the process environment for a captured
    /// snapshot, from the values a test gave otherwise. Unset and empty are the same.
    #[allow(clippy::disallowed_methods)] // the one place that reads the process environment
    pub(crate) fn named(&self, name: &str) -> Option<OsString> {
        let value = match self.named.get(name) {
            Some(v) => Some(v.clone()),
            None if self.live => std::env::var_os(name),
            None => None,
        };
        value.filter(|v| !v.is_empty())
    }

    /// A copy with the run-time-named variable `name` set.
    #[cfg(test)]
    pub(crate) fn with_named(mut self, name: &str, value: impl Into<OsString>) -> Env {
        self.named.insert(name.to_string(), value.into());
        self
    }

    /// A copy with `name` set (tests build their environment this way).
    #[cfg(test)]
    pub(crate) fn with(mut self, name: &'static str, value: impl Into<OsString>) -> Env {
        debug_assert!(VARIABLES.iter().any(|v| v.name == name), "{name} is not in VARIABLES");
        self.values.insert(name, value.into());
        self
    }

    /// The value as the OS gives it; unset and empty are the same.
    pub(crate) fn os(&self, name: &str) -> Option<&OsStr> {
        self.values.get(name).map(OsString::as_os_str).filter(|v| !v.is_empty())
    }

    /// The value as text, empty included; `None` when unset or not UTF-8 (which
    /// [`Env::check_text`] reports).
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name)?.to_str()
    }

    /// The value as text, treating an empty or blank value as unset (CI systems often export "").
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.text(name).filter(|v| !v.trim().is_empty())
    }

    /// Exit 2 naming `name` when its value is not UTF-8.
    pub(crate) fn check_text(&self, name: &str) -> Result<()> {
        match self.values.get(name) {
            Some(v) if v.to_str().is_none() => Err(Error::usage(format!(
                "{name} is set to a value that is not valid UTF-8"
            ))),
            _ => Ok(()),
        }
    }

    /// [`Env::check_text`] for every text variable entra-token reads.
    pub(crate) fn check_text_variables(&self) -> Result<()> {
        VARIABLES
            .iter()
            .filter(|v| v.read_by == ReadBy::EntraToken && v.encoding == Encoding::Text)
            .try_for_each(|v| self.check_text(v.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_variables_are_marked() {
        let names: Vec<&str> = secret_variables().collect();
        for name in [
            EnvVars::AZURE_CLIENT_SECRET,
            EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD,
            EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN,
            EnvVars::IDENTITY_HEADER,
            EnvVars::MSI_SECRET,
            EnvVars::SYSTEM_ACCESSTOKEN,
        ] {
            assert!(names.contains(&name), "{name}");
        }
        assert!(!names.contains(&EnvVars::AZURE_CLIENT_ID) && !names.contains(&EnvVars::AZURE_TENANT_ID));
        // the table's secrets are ours and text
        for v in VARIABLES.iter().filter(|v| v.secret) {
            assert_eq!(
                (v.read_by, v.encoding),
                (ReadBy::EntraToken, Encoding::Text),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn every_name_is_listed_once() {
        let mut names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a variable is listed twice");
        for name in [
            EnvVars::AZURE_TENANT_ID,
            EnvVars::AZURE_CLIENT_SECRET,
            EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN,
            EnvVars::SSL_CERT_DIR,
            EnvVars::XDG_RUNTIME_DIR,
            EnvVars::IDENTITY_HEADER,
            EnvVars::MSI_SECRET,
            EnvVars::SYSTEM_ACCESSTOKEN,
        ] {
            assert!(names.contains(&name), "{name}");
        }
    }

    #[test]
    fn a_hermetic_run_removes_every_variable_but_directories_and_the_desktop_session() {
        let removed = hermetic_removals();
        for v in VARIABLES {
            let kept = KEPT_IN_HERMETIC_RUNS.contains(&v.name);
            assert_ne!(kept, removed.contains(&v.name), "{} is either kept or removed", v.name);
            if kept {
                assert!(
                    matches!(v.kind, VarKind::Directory | VarKind::Desktop)
                        || (v.kind == VarKind::Cache && v.name != EnvVars::XDG_CACHE_HOME),
                    "{} ({:?}) must not pass into a hermetic run",
                    v.name,
                    v.kind
                );
            }
            if matches!(
                v.kind,
                VarKind::Credential | VarKind::Selection | VarKind::ProxyTls | VarKind::Ci
            ) {
                assert!(removed.contains(&v.name), "{}", v.name);
            }
        }
        for name in [
            EnvVars::AZURE_CLIENT_CERTIFICATE_PATH,
            EnvVars::AZURE_FEDERATED_TOKEN_FILE,
            EnvVars::ENTRA_TOKEN_PROFILE,
            EnvVars::ENTRA_TOKEN_CACHE,
            EnvVars::XDG_CACHE_HOME,
            EnvVars::XDG_CONFIG_HOME,
            EnvVars::SSL_CERT_DIR,
            "NO_PROXY",
            "no_proxy",
        ] {
            assert!(removed.contains(&name), "{name}");
        }
    }

    #[test]
    fn blank_is_unset_and_non_utf8_is_named() {
        let env = Env::default()
            .with(EnvVars::AZURE_TENANT_ID, "  ")
            .with(EnvVars::AZURE_CLIENT_ID, "app")
            .with(EnvVars::HOME, "");
        assert_eq!(env.value(EnvVars::AZURE_TENANT_ID), None);
        assert_eq!(env.text(EnvVars::AZURE_TENANT_ID), Some("  "));
        assert_eq!(env.value(EnvVars::AZURE_CLIENT_ID), Some("app"));
        assert_eq!(env.os(EnvVars::HOME), None);
        assert!(env.check_text_variables().is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let bad = env.with(EnvVars::AZURE_AUTHORITY_HOST, OsString::from_vec(b"a\xffb".to_vec()));
            let e = bad.check_text_variables().unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.message.contains("AZURE_AUTHORITY_HOST"), "{}", e.message);
            assert_eq!(bad.value(EnvVars::AZURE_AUTHORITY_HOST), None);
        }
        assert!(
            format!("{:?}", Env::default().with(EnvVars::AZURE_CLIENT_SECRET, "s3cr3t"))
                .contains("AZURE_CLIENT_SECRET")
        );
        assert!(!format!("{:?}", Env::default().with(EnvVars::AZURE_CLIENT_SECRET, "s3cr3t")).contains("s3cr3t"));
    }
}
