//! Profiles: `[profiles.NAME]` tables of `config.toml`, read only when a profile is chosen. A
//! relative path in a profile is relative to the config file's directory (as kubeconfig does),
//! and a TOML error names the file, the line and column, and the profile.

use crate::dirs;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::input;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A `[profiles.NAME]` table of config.toml. Unknown keys are errors (typos should not be silent).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub(crate) tenant: Option<String>,
    /// The tenant `consent-url` asks an admin of (default `organizations`: `tenant` is usually
    /// the app's own).
    pub(crate) consent_tenant: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret_file: Option<PathBuf>,
    /// PEM or PFX file with the private key and certificate.
    pub(crate) certificate: Option<PathBuf>,
    pub(crate) certificate_password_file: Option<PathBuf>,
    /// `ps256` (default) or `rs256`.
    pub(crate) assertion_alg: Option<String>,
    /// Send the certificate chain (`x5c`) for subject name + issuer authentication.
    pub(crate) send_x5c: Option<bool>,
    pub(crate) federated_token_file: Option<PathBuf>,
    /// `"github"` or `"azure-pipelines"`: take the federated token from that CI system's OIDC
    /// endpoint.
    pub(crate) federated: Option<String>,
    /// Azure Pipelines: the service connection's id (`--service-connection-id`).
    pub(crate) service_connection_id: Option<String>,
    /// Use the managed identity of the machine or service this runs on.
    pub(crate) managed_identity: Option<bool>,
    /// A user-assigned managed identity by object (principal) id (`--mi-object-id`).
    pub(crate) mi_object_id: Option<String>,
    /// A user-assigned managed identity by ARM resource id (`--mi-resource-id`).
    pub(crate) mi_resource_id: Option<String>,
    pub(crate) federated_audience: Option<String>,
    pub(crate) authority_host: Option<String>,
    pub(crate) cloud: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) v1: Option<bool>,
    pub(crate) timeout: Option<f64>,
    pub(crate) cache: Option<String>,
}

/// config.toml: profiles by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub(crate) profiles: BTreeMap<String, Profile>,
}

/// Parses config.toml's text; the error is TOML's message with its line and column, and the
/// profile it is in (`line 3, column 13, in profile 'ci': invalid type: ...`).
pub(crate) fn parse_config(text: &str) -> std::result::Result<ConfigFile, String> {
    toml::from_str(text).map_err(|e| describe_toml_error(text, &e))
}

fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return message;
    };
    let before = text.get(..span.start.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    // the last `[profiles.NAME]` header before the error (display only: TOML has parsed it)
    let profile = before.lines().rev().find_map(|l| {
        let name = l.trim().strip_prefix("[profiles.")?.strip_suffix(']')?;
        Some(name.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
    });
    match profile {
        Some(p) => format!("line {line}, column {column}, in profile '{p}': {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

impl Profile {
    /// Resolves the profile's relative paths against `dir`, the config file's directory.
    fn relative_to(mut self, dir: &Path) -> Profile {
        for p in [
            &mut self.client_secret_file,
            &mut self.certificate,
            &mut self.certificate_password_file,
            &mut self.federated_token_file,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() && p.as_os_str() != "-" {
                *p = dir.join(&*p);
            }
        }
        self
    }
}

/// The profile `name`, chosen by `chosen_by` (`--profile` or `ENTRA_TOKEN_PROFILE`); reading
/// config.toml waits at most `timeout` (a FIFO without a writer).
pub(crate) fn load(name: &str, chosen_by: &str, env: &Env, timeout: std::time::Duration) -> Result<Profile> {
    let path = dirs::config_file(env)
        .ok_or_else(|| Error::usage("cannot locate the config file: neither XDG_CONFIG_HOME nor HOME is set"))?;
    let what = format!("{chosen_by} selects profile '{name}', but the config file");
    let bytes = input::read(&path, &what, input::CONFIG_CAP, timeout)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::usage(format!(
            "{} is not UTF-8 text: not an entra-token config",
            path.display()
        ))
    })?;
    let config = parse_config(&text).map_err(|e| Error::usage(format!("{}: {e}", path.display())))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let names: Vec<&String> = config.profiles.keys().collect();
    config
        .profiles
        .get(name)
        .cloned()
        .map(|p| p.relative_to(&dir))
        .ok_or_else(|| {
            let known = if names.is_empty() {
                "none".to_string()
            } else {
                names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            };
            Error::usage(format!("profile '{name}' is not in {}", path.display()))
                .hint(format!("profiles defined there: {known}"))
        })
}
