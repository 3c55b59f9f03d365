//! Where a configured value came from — a flag, an environment variable or a profile — so that a
//! message about a bad value names the place to fix it.

/// The origin of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Flag(&'static str),
    Env(&'static str),
    /// A `[profiles.NAME]` table of config.toml.
    Profile(String),
}

impl Origin {
    /// `--tenant`, `AZURE_TENANT_ID` or `profile 'ci'`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Origin::Flag(f) => f.to_string(),
            Origin::Env(v) => v.to_string(),
            Origin::Profile(p) => format!("profile '{p}'"),
        }
    }
}
