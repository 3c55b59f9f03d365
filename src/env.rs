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
    /// What a CI system provides (GitHub Actions' OIDC endpoint).
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
}

const fn ours(name: &'static str, kind: VarKind, encoding: Encoding) -> Variable {
    Variable {
        name,
        kind,
        read_by: ReadBy::EntraToken,
        encoding,
    }
}

const fn theirs(name: &'static str, kind: VarKind, reader: &'static str) -> Variable {
    Variable {
        name,
        kind,
        read_by: ReadBy::Dependency(reader),
        encoding: Encoding::Os,
    }
}

/// Every variable entra-token or one of its dependencies reads, with its kind. The text variables
/// come first, in the order their encoding is checked.
pub(crate) const VARIABLES: &[Variable] = &[
    ours(EnvVars::AZURE_TENANT_ID, VarKind::Selection, Encoding::Text),
    ours(EnvVars::AZURE_CLIENT_ID, VarKind::Selection, Encoding::Text),
    ours(EnvVars::AZURE_CLIENT_SECRET, VarKind::Credential, Encoding::Text),
    ours(
        EnvVars::AZURE_CLIENT_CERTIFICATE_PATH,
        VarKind::Credential,
        Encoding::Text,
    ),
    ours(
        EnvVars::AZURE_CLIENT_CERTIFICATE_PASSWORD,
        VarKind::Credential,
        Encoding::Text,
    ),
    ours(
        EnvVars::AZURE_CLIENT_SEND_CERTIFICATE_CHAIN,
        VarKind::Credential,
        Encoding::Text,
    ),
    ours(EnvVars::AZURE_FEDERATED_TOKEN_FILE, VarKind::Credential, Encoding::Text),
    ours(EnvVars::AZURE_AUTHORITY_HOST, VarKind::Selection, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_CACHE, VarKind::Cache, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_PROFILE, VarKind::Selection, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_MANAGEMENT_URL, VarKind::Selection, Encoding::Text),
    ours(
        EnvVars::ENTRA_TOKEN_WEBHOOK_AUTH_ID,
        VarKind::Credential,
        Encoding::Text,
    ),
    ours(EnvVars::ACTIONS_ID_TOKEN_REQUEST_URL, VarKind::Ci, Encoding::Text),
    ours(EnvVars::ACTIONS_ID_TOKEN_REQUEST_TOKEN, VarKind::Ci, Encoding::Text),
    ours(EnvVars::ENTRA_TOKEN_NO_KEYRING, VarKind::Cache, Encoding::Text),
    ours(EnvVars::XDG_CACHE_HOME, VarKind::Cache, Encoding::Os),
    ours(EnvVars::LOCALAPPDATA, VarKind::Cache, Encoding::Os),
    ours(EnvVars::DBUS_SESSION_BUS_ADDRESS, VarKind::Cache, Encoding::Os),
    ours(EnvVars::XDG_RUNTIME_DIR, VarKind::Cache, Encoding::Os),
    ours(EnvVars::HOME, VarKind::Directory, Encoding::Os),
    ours(EnvVars::USERPROFILE, VarKind::Directory, Encoding::Os),
    ours(EnvVars::XDG_CONFIG_HOME, VarKind::Directory, Encoding::Os),
    ours(EnvVars::SSL_CERT_FILE, VarKind::ProxyTls, Encoding::Os),
    ours(EnvVars::SSL_CERT_DIR, VarKind::ProxyTls, Encoding::Os),
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

/// The variables entra-token reads, as they were when the process started. Built once by
/// [`Env::capture`] (a handful of `getenv` calls, nothing else) or, in tests, from given values.
/// Its `Debug` shows names only: some values are secrets.
#[derive(Clone, Default)]
pub(crate) struct Env {
    values: BTreeMap<&'static str, OsString>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
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
        Env { values }
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
        ] {
            assert!(names.contains(&name), "{name}");
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
