//! Profiles: `[profiles.NAME]` tables of `config.toml`, read only when a profile is chosen.

use crate::dirs;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::input;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A `[profiles.NAME]` table of config.toml. Unknown keys are errors (typos should not be silent).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub(crate) tenant: Option<String>,
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
    /// `"github"`: take the federated token from the GitHub Actions OIDC endpoint.
    pub(crate) federated: Option<String>,
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

/// Parses config.toml's text; the error is TOML's own message.
pub(crate) fn parse_config(text: &str) -> std::result::Result<ConfigFile, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim().to_string())
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
    let config = parse_config(&text)
        .map_err(|e| Error::usage(format!("{} is not a valid entra-token config", path.display())).cause(e))?;
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
