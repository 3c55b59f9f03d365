//! Cache keys: what a token was requested for. The kind is an enum; every field takes part in
//! the entry's file name (a digest), so a token is never served for another request.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyKind {
    /// An app-only access token (client credentials).
    App,
    /// A signed-in account's access token for one scope.
    User,
    /// A signed-in account's refresh token (the account itself, for `get --user`).
    Refresh,
    /// A managed identity's access token (source, endpoint, identity and resource).
    #[serde(rename = "managed-identity")]
    ManagedIdentity,
}

impl KeyKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            KeyKind::App => "app",
            KeyKind::User => "user",
            KeyKind::Refresh => "refresh",
            KeyKind::ManagedIdentity => "managed-identity",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.label())
    }
}

/// What a token was requested for. Every field takes part in the key: a token is never served
/// for another authority, tenant, client, credential, scope/resource, endpoint or account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct CacheKey {
    pub(crate) kind: KeyKind,
    pub(crate) authority: String,
    pub(crate) tenant: String,
    pub(crate) client_id: String,
    /// Credential kind + fingerprint (never the secret), e.g. `secret:1a2b…`.
    pub(crate) credential: String,
    pub(crate) endpoint: String,
    /// `scope:…` or `resource:…`.
    pub(crate) audience: String,
    pub(crate) account: Option<String>,
}

impl CacheKey {
    /// The entry's file stem: a digest of the canonical key.
    pub(crate) fn stem(&self) -> String {
        let canonical = serde_json::to_string(self).expect("key serializes");
        let d = Sha256::digest(canonical.as_bytes());
        d.iter().take(20).map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_key() -> CacheKey {
        CacheKey {
            kind: KeyKind::App,
            authority: "https://login.microsoftonline.com".into(),
            tenant: "contoso.com".into(),
            client_id: "c".into(),
            credential: "secret:ab".into(),
            endpoint: "v2".into(),
            audience: "scope:x/.default".into(),
            account: None,
        }
    }

    /// Entries written before the kind was an enum keep their file names.
    #[test]
    fn the_kind_serializes_as_before() {
        let json = serde_json::to_string(&app_key()).unwrap();
        assert!(json.starts_with(r#"{"kind":"app","authority":"#), "{json}");
        // the first 20 bytes of SHA-256 over that JSON, computed independently with Python
        assert_eq!(app_key().stem(), "dd9c697c5c451e1cfddc23d9ce948b9616a45a86");
        assert_eq!(format!("{:<6}|", KeyKind::User), "user  |");
        let back: CacheKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back, app_key());
    }

    #[test]
    fn every_key_field_changes_the_entry() {
        let base = app_key();
        let stem = base.stem();
        let variants = [
            CacheKey {
                kind: KeyKind::User,
                ..base.clone()
            },
            CacheKey {
                authority: "https://login.microsoftonline.us".into(),
                ..base.clone()
            },
            CacheKey {
                tenant: "fabrikam.com".into(),
                ..base.clone()
            },
            CacheKey {
                client_id: "d".into(),
                ..base.clone()
            },
            CacheKey {
                credential: "secret:cd".into(),
                ..base.clone()
            },
            CacheKey {
                endpoint: "v1".into(),
                ..base.clone()
            },
            CacheKey {
                audience: "scope:y/.default".into(),
                ..base.clone()
            },
            CacheKey {
                account: Some("a@b".into()),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.stem(), stem, "{v:?}");
        }
    }
}
