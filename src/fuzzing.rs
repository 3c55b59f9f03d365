//! Entry points for fuzz targets, compiled only with `--cfg fuzzing`: each hands untrusted bytes
//! to one of the parsers that read what entra-token does not control — token replies, Entra's
//! error bodies, JWTs, redirect queries, PEM/PFX files, config.toml, API pages, cache entries —
//! and must return (any error is fine) without panicking.

use crate::cache::{Backend, CacheKey, file};
use crate::credential::keyfile::{self, Need};
use crate::protocol::entra_error::EntraError;
use crate::protocol::redirect::RedirectParams;
use crate::protocol::{api, jwt, token};
use crate::secret::Secret;

/// A token endpoint's reply body, as a success and as an error status.
pub fn token_reply(body: &[u8]) {
    for status in [200, 400] {
        if let Err(e) = token::parse_reply(status, Some("application/json"), body, 1_700_000_000) {
            let _ = e.render();
        }
    }
}

/// An Entra error body (and an API's error body).
pub fn error_body(body: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(e) = EntraError::from_json(&v)
    {
        let _ = e.into_error("fuzzing").render();
    }
    let _ = api::ServiceError::parse(body, |_| None);
}

/// A JWT (header and claims, never verified).
pub fn jwt(text: &str) {
    let _ = jwt::decode(text);
    let _ = token::tenant_of(text);
}

/// The query string a browser brings back to the redirect URI.
pub fn redirect_query(query: &str) {
    let p = RedirectParams::from_query(query);
    if let Some(e) = p.error("fuzzing") {
        let _ = e.render();
    }
    let _ = p.state_matches("state");
}

/// A certificate/key file (PEM, PFX or DER), without and with a password.
pub fn key_file(bytes: &[u8]) {
    let password = Secret::new("fuzzing".to_string());
    for pw in [None, Some(&password)] {
        for need in [Need::KeyAndCertificate, Need::Certificate] {
            let _ = keyfile::read(bytes, "fuzzing", pw, need);
        }
    }
}

/// config.toml.
pub fn config_toml(text: &str) {
    let _ = crate::settings::profile::parse_config(text);
}

/// One page of `api --paginate` (Graph, ARM, Management Activity API shapes).
pub fn page(body: &[u8]) {
    let _ = crate::http::pager::parse_page(body, None);
    let _ = crate::http::pager::parse_page(body, Some("https://manage.office.com/next"));
}

/// A cache entry file, read by the file store and by the keyring store (with a fixed key).
pub fn cache_entry(bytes: &[u8]) {
    let Some(key) = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| serde_json::from_value::<CacheKey>(v["meta"]["key"].clone()).ok())
    else {
        return;
    };
    for backend in [Backend::File, Backend::Keyring(Secret::new(vec![7u8; 32]))] {
        let _ = file::decode_entry(bytes, &key, &backend);
    }
}
