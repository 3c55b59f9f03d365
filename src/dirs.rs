//! Home, config and cache directories, resolved in one place from the [`Env`] snapshot: the
//! XDG base directory variables first, then the home directory.

use crate::env::{Env, EnvVars};
use std::path::PathBuf;

/// `$HOME` (`%USERPROFILE%` on Windows when `HOME` is not set).
pub(crate) fn home(env: &Env) -> Option<PathBuf> {
    env.os(EnvVars::HOME)
        .or_else(|| env.os(EnvVars::USERPROFILE))
        .map(PathBuf::from)
}

/// `$XDG_CONFIG_HOME/entra-token/config.toml` (or `~/.config/entra-token/config.toml`).
pub(crate) fn config_file(env: &Env) -> Option<PathBuf> {
    let base = match env.os(EnvVars::XDG_CONFIG_HOME) {
        Some(x) => PathBuf::from(x),
        None => home(env)?.join(".config"),
    };
    Some(base.join("entra-token").join("config.toml"))
}

/// `$XDG_CACHE_HOME/entra-token` (or `~/.cache/entra-token`; `%LOCALAPPDATA%` on Windows).
pub(crate) fn cache_dir(env: &Env) -> Option<PathBuf> {
    if let Some(x) = env.os(EnvVars::XDG_CACHE_HOME) {
        return Some(PathBuf::from(x).join("entra-token"));
    }
    #[cfg(windows)]
    if let Some(x) = env.os(EnvVars::LOCALAPPDATA) {
        return Some(PathBuf::from(x).join("entra-token"));
    }
    home(env).map(|h| h.join(".cache").join("entra-token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_first_then_home() {
        let home_only = Env::default().with(EnvVars::HOME, "/h");
        assert_eq!(
            config_file(&home_only),
            Some(PathBuf::from("/h/.config/entra-token/config.toml"))
        );
        assert_eq!(cache_dir(&home_only), Some(PathBuf::from("/h/.cache/entra-token")));
        let xdg = home_only
            .with(EnvVars::XDG_CONFIG_HOME, "/c")
            .with(EnvVars::XDG_CACHE_HOME, "/k");
        assert_eq!(config_file(&xdg), Some(PathBuf::from("/c/entra-token/config.toml")));
        assert_eq!(cache_dir(&xdg), Some(PathBuf::from("/k/entra-token")));
        assert_eq!(cache_dir(&Env::default()), None);
        assert_eq!(config_file(&Env::default().with(EnvVars::HOME, "")), None);
    }
}
